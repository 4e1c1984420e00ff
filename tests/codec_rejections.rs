//! Requests Envoy's HTTP/1 codec rejects before the filter sees their headers (a NUL in the
//! path, HTTP/1.0, a 70 KiB header, a control character, `OPTIONS *`) still get a record, and
//! a valid one: the stream's start, a generated correlation id, whatever Envoy parsed, the
//! status and Envoy's reason. The collector stores them all, and the records of the good
//! requests around them arrive too: no batch is refused because of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::hostile::{http1_rejections, send_raw};
use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_rejected_requests_are_recorded_validly() {
    let stack = Stack::start(&plugin_config()).await;
    let client = stack.plain();
    let before = unique_id("before-rejections");
    assert_eq!(
        get_with_id(&client, &stack.http_url("/public/a"), &before)
            .await
            .status,
        200
    );

    let rejections = http1_rejections();
    for r in &rejections {
        let status = send_raw(stack.envoy.http_port, &r.bytes).await.unwrap();
        assert_eq!(status, Some(r.status), "{}", r.name);
    }
    let after = unique_id("after-rejections");
    assert_eq!(
        get_with_id(&client, &stack.http_url("/public/b"), &after)
            .await
            .status,
        200
    );
    stack.collector.wait_for_record(&before).await;
    stack.collector.wait_for_record(&after).await;

    let incomplete = |rec: &Value| s(rec, "rule") == "incomplete-request";
    let records = eventually(WAIT, || {
        let found: Vec<Value> = stack
            .collector
            .records()
            .into_iter()
            .filter(incomplete)
            .collect();
        (found.len() >= rejections.len()).then_some(found)
    })
    .await
    .unwrap_or_else(|| panic!("incomplete records: {:?}", stack.collector.records()));
    assert_eq!(records.len(), rejections.len(), "{records:#?}");
    for r in &rejections {
        let expected = rejections
            .iter()
            .filter(|o| (o.status, o.details) == (r.status, r.details))
            .count();
        let matching: Vec<&Value> = records
            .iter()
            .filter(|rec| {
                u(rec, "status") == Some(u64::from(r.status))
                    && s(rec, "response_details") == r.details
            })
            .collect();
        assert_eq!(matching.len(), expected, "{}: {records:#?}", r.name);
        for rec in matching {
            assert_common_fields(rec);
            assert_eq!(s(rec, "decision"), "deny", "{rec}");
            assert_eq!(
                s(rec, "correlation_id").len(),
                36,
                "a generated UUID: {rec}"
            );
            assert_eq!(s(rec, "record_id").len(), 36, "{rec}");
            assert_eq!(s(rec, "source_ip_origin"), "peer", "{rec}");
            let method = s(rec, "method");
            assert!(method == "-" || method == "OPTIONS", "{rec}");
            let duration = rec["duration_ms"].as_f64().unwrap();
            assert!(
                duration < 60_000.0,
                "duration from the stream's start: {rec}"
            );
        }
    }
    let stats = stack.envoy.observatory_stats().await;
    for counter in ["batches_refused", "records_dropped", "records_quarantined"] {
        let n = stats.get(&format!("wasmcustom.observatory_{counter}"));
        assert_eq!(n.copied().unwrap_or(0), 0, "{counter}: {stats:?}");
    }
    let (n, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_incomplete_requests", WAIT, |n| {
            n >= rejections.len() as u64
        })
        .await;
    assert!(ok, "observatory_incomplete_requests = {n}");
}
