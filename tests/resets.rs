//! Reset requests get a record with status 0 and the reset's reason (`response_details`).
//! An HTTP/1 request the client abandons mid-body is recorded by the HTTP filter, which saw
//! its headers. HTTP/2 streams Envoy's codec resets (an upper-case header name, a relative
//! `:path`) reach no HTTP filter at all: the module, also installed as the HCM's access
//! logger for such streams (`DPE` with status 0), records them. Streams the HTTP filter saw
//! are not recorded twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::hostile::{h2_request, h2_resets, start_request, H2Outcome};
use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_are_recorded_with_status_0_and_the_reason() {
    let stack = Stack::start(&plugin_config()).await;

    let abandoned = unique_id("h1-abandoned");
    let started = stack.envoy.stat("http.plain.downstream_rq_total").await;
    let head = format!(
        "POST /public/abandoned HTTP/1.1\r\nHost: a\r\nx-request-id: {abandoned}\r\n\
         Content-Length: 100\r\n\r\n0123456789"
    );
    let connection = start_request(stack.envoy.http_port, head.as_bytes())
        .await
        .unwrap();
    let (n, ok) = stack
        .envoy
        .wait_stat("http.plain.downstream_rq_total", WAIT, |n| n > started)
        .await;
    assert!(ok, "downstream_rq_total = {n}");
    drop(connection);
    let rec = stack.collector.wait_for_record(&abandoned).await;
    assert_common_fields(&rec);
    assert_eq!(u(&rec, "status"), Some(0), "{rec}");
    assert_eq!(
        (s(&rec, "decision"), s(&rec, "method"), s(&rec, "path")),
        ("allow", "POST", "/public/abandoned"),
        "{rec}"
    );
    assert_eq!(
        s(&rec, "response_details"),
        "downstream_remote_disconnect",
        "{rec}"
    );

    let resets = h2_resets();
    for r in &resets {
        // Envoy ends the stream or the whole connection; it never answers.
        let outcome = h2_request(stack.envoy.http_port, &r.headers).await;
        assert!(
            !matches!(outcome, Ok(H2Outcome::Response)),
            "{}: {outcome:?}",
            r.name
        );
    }
    // A valid HTTP/2 request: recorded once, by the HTTP filter.
    let id = unique_id("h2-ok");
    let ok = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", "/public/h2"),
        ("x-request-id", id.as_str()),
    ];
    let outcome = h2_request(stack.envoy.http_port, &ok).await.unwrap();
    assert_eq!(outcome, H2Outcome::Response);
    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, "", "allow", "public", 200);

    for r in &resets {
        let rec = stack
            .collector
            .wait_for_line(WAIT, |l| s(l, "response_details") == r.details)
            .await
            .unwrap_or_else(|| panic!("{}: no record; {:#?}", r.name, stack.collector.records()));
        assert_common_fields(&rec);
        assert_eq!(u(&rec, "status"), Some(0), "{rec}");
        assert_eq!(
            (s(&rec, "decision"), s(&rec, "rule")),
            ("deny", "incomplete-request"),
            "{rec}"
        );
        assert_eq!(s(&rec, "correlation_id").len(), 36, "{rec}");
    }
    // Nothing else: one record per request or stream.
    let expected = 1 + resets.len() + 1;
    let stored = eventually(WAIT, || {
        let n = stack.collector.records().len();
        (n >= expected).then_some(n)
    })
    .await;
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(stored, Some(expected));
    assert_eq!(
        stack.collector.records().len(),
        expected,
        "{:#?}",
        stack.collector.records()
    );
}
