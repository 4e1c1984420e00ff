//! `source_ip` is the TCP peer's address, never a header's. A client's `X-Forwarded-For` is
//! recorded as `forwarded_for` and nothing else: with `set_filter_state` ahead of the filter
//! (`source_ip_origin: filter_state`) the peer is known whatever the header says; without
//! it the filter uses Envoy's `source.address` only when it came from the connection
//! (`peer`), and leaves the address empty when Envoy took it from the header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

async fn get_forwarded(stack: &Stack, id: &str, forwarded_for: Option<&str>) -> Value {
    let mut req = stack
        .plain()
        .get(stack.http_url("/public/src"))
        .header("x-request-id", id);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    assert_eq!(send(req).await.status, 200);
    stack.collector.wait_for_record(id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_never_becomes_the_source() {
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("xff-spoof");
    let rec = get_forwarded(&stack, &id, Some("203.0.113.9, 198.51.100.7")).await;
    assert_eq!(
        (s(&rec, "source_ip"), s(&rec, "source_ip_origin")),
        ("127.0.0.1", "filter_state"),
        "{rec}"
    );
    assert_eq!(
        s(&rec, "forwarded_for"),
        "203.0.113.9, 198.51.100.7",
        "{rec}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_filter_state_a_header_address_is_left_out() {
    let stack = Stack::start_customized(&plugin_config(), Collector::start().await, |setup| {
        setup.peer_filter_state = false;
    })
    .await;
    let id = unique_id("xff-no-state");
    let rec = get_forwarded(&stack, &id, Some("203.0.113.9")).await;
    assert_eq!(
        (s(&rec, "source_ip"), s(&rec, "source_ip_origin")),
        ("", ""),
        "{rec}"
    );
    assert_eq!(s(&rec, "forwarded_for"), "203.0.113.9", "{rec}");
    let id = unique_id("no-xff-no-state");
    let rec = get_forwarded(&stack, &id, None).await;
    assert_eq!(
        (s(&rec, "source_ip"), s(&rec, "source_ip_origin")),
        ("127.0.0.1", "peer"),
        "{rec}"
    );
    assert!(rec.get("forwarded_for").is_none(), "{rec}");
}
