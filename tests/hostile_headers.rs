//! Header values that are not UTF-8 (HTTP/1 allows obs-text bytes) are recorded, not fatal:
//! the request is decided and recorded, and the worker's filter keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_header_values_are_recorded_and_the_filter_keeps_serving() {
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("obs-text");
    let user_agent: &[u8] = b"caf\xe9-client/1.0 \xff";
    let resp = raw_request_bytes(
        stack.envoy.http_port,
        "GET",
        "/public/latin1",
        &[("x-request-id", id.as_bytes()), ("user-agent", user_agent)],
        b"",
    )
    .await
    .unwrap_or_else(|e| panic!("raw GET with obs-text: {e}"));
    assert_eq!(resp.status, 200, "{}", resp.text());

    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    assert_eq!(
        s(&rec, "user_agent"),
        "caf\u{fffd}-client/1.0 \u{fffd}",
        "bytes that are not UTF-8 become U+FFFD: {rec}"
    );

    // The VM is still alive: the next request is decided and recorded too.
    let next = unique_id("after-obs-text");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/next"), &next).await;
    assert_eq!(resp.status, 200);
    let rec = stack.collector.wait_for_record(&next).await;
    assert_eq!(s(&rec, "path"), "/public/next", "{rec}");
}
