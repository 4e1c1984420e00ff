//! `auditFailureMode: "closed"`: once records have waited `auditFailureTimeoutMs` for an ack
//! (the collector unreachable) requests get 503 `audit_unavailable`; once it is back they
//! succeed again and their records arrive. Requests Envoy rejects, which used to make the
//! collector refuse whole batches, never make legitimate requests fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use observatory_e2e::hostile::{h2_request, h2_resets, http1_rejections, send_raw};
use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_closed_while_the_collector_is_down() {
    let mut cfg = plugin_config();
    cfg["auditFailureMode"] = json!("closed");
    let mut stack = Stack::start(&cfg).await;
    let client = stack.plain();

    let warm = unique_id("fc-warm");
    let resp = get_with_id(&client, &stack.http_url("/public/warm"), &warm).await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    stack.collector.wait_for_record(&warm).await;

    stack.collector.kill();

    // Once the filter notices the stream failed, requests are refused with 503.
    let deadline = Instant::now() + WAIT;
    let mut refused = None;
    for i in 0..200 {
        let id = unique_id(&format!("fc-down-{i}"));
        let resp = get_with_id(&client, &stack.http_url("/public/down"), &id).await;
        if resp.status == 503 {
            refused = Some((id, resp));
            break;
        }
        assert_eq!(resp.status, 200, "unexpected status; body {:?}", resp.body);
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some((id, resp)) = refused else {
        panic!(
            "no 503 within {WAIT:?} of the collector going down; stats {:?}",
            stack.envoy.observatory_stats().await
        )
    };
    eprintln!("503 after the collector went down: {}", resp.body);
    let body = resp.json();
    assert_eq!(s(&body, "error"), "audit_unavailable", "body {body}");
    assert!(
        stack.upstream.request_with_id(&id).is_none(),
        "a request refused with 503 must not reach the upstream"
    );

    // Still down: still refused.
    for _ in 0..3 {
        let id = unique_id("fc-still-down");
        let resp = get_with_id(&client, &stack.http_url("/public/down"), &id).await;
        assert_eq!(
            resp.status, 503,
            "collector still down; body {:?}",
            resp.body
        );
        assert!(stack.upstream.request_with_id(&id).is_none());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stack.collector.restart().await;

    // Within the reconnect backoff requests succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok_ids = Vec::new();
    for i in 0..300 {
        let id = unique_id(&format!("fc-up-{i}"));
        let resp = get_with_id(&client, &stack.http_url("/public/up"), &id).await;
        if resp.status == 200 {
            ok_ids.push(id);
            break;
        }
        assert_eq!(resp.status, 503, "unexpected status; body {:?}", resp.body);
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !ok_ids.is_empty(),
        "requests still refused 30 s after the collector came back; stats {:?}",
        stack.envoy.observatory_stats().await
    );
    eprintln!("requests succeed again after the restart");
    for i in 0..3 {
        let id = unique_id(&format!("fc-up-more-{i}"));
        let resp = get_with_id(&client, &stack.http_url("/public/up"), &id).await;
        assert_eq!(resp.status, 200, "collector is back; body {:?}", resp.body);
        ok_ids.push(id);
    }

    // The records of the successful requests arrive.
    for id in &ok_ids {
        assert!(stack.upstream.request_with_id(id).is_some());
        let rec = stack.collector.wait_for_record(id).await;
        assert_eq!(s(&rec, "decision"), "allow", "{rec}");
        assert_eq!(u(&rec, "status"), Some(200), "{rec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_never_trip_fail_closed() {
    let mut cfg = plugin_config();
    cfg["auditFailureMode"] = json!("closed");
    let stack = Stack::start(&cfg).await;
    let client = stack.plain();
    let mut ids = Vec::new();
    for round in 0..3 {
        for r in http1_rejections() {
            send_raw(stack.envoy.http_port, &r.bytes).await.unwrap();
        }
        for r in h2_resets() {
            // Envoy ends the connection: what the client sees does not matter here.
            let _ = h2_request(stack.envoy.http_port, &r.headers).await;
        }
        let id = unique_id(&format!("fc-legit-{round}"));
        let resp = get_with_id(&client, &stack.http_url("/public/legit"), &id).await;
        assert_eq!(resp.status, 200, "round {round}: {:?}", resp.body);
        ids.push(id);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for id in &ids {
        stack.collector.wait_for_record(id).await;
    }
    let incomplete = 3 * (http1_rejections().len() + h2_resets().len());
    let stored = eventually(WAIT, || {
        let n = stack
            .collector
            .records()
            .iter()
            .filter(|r| s(r, "rule") == "incomplete-request")
            .count();
        (n >= incomplete).then_some(n)
    })
    .await;
    assert_eq!(stored, Some(incomplete));
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.observatory_audit_unavailable")
            .await,
        0
    );
}
