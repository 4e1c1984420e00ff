//! An allowed plaintext request reaches the upstream, and its audit record arrives at the
//! collector with every field right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_plaintext_request_reaches_upstream_and_is_recorded() {
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("allow");

    let resp = send(
        stack
            .plain()
            .get(stack.http_url("/public/x?q=1&page=2"))
            .header("x-request-id", &id)
            .header("user-agent", "e2e-allow/1.0"),
    )
    .await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    assert_eq!(resp.body, UPSTREAM_BODY);
    assert_eq!(resp.header("x-correlation-id"), Some(id.as_str()));

    let seen = stack
        .upstream
        .request_with_id(&id)
        .unwrap_or_else(|| panic!("upstream did not see {id}: {:?}", stack.upstream.requests()));
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/public/x?q=1&page=2");
    assert_eq!(seen.header("user-agent"), Some("e2e-allow/1.0"));

    let rec = stack.collector.wait_for_record(&id).await;
    assert_common_fields(&rec);
    assert_eq!(s(&rec, "correlation_id"), id);
    assert_eq!(s(&rec, "method"), "GET", "{rec}");
    assert_eq!(
        s(&rec, "path"),
        "/public/x",
        "path must not carry the query: {rec}"
    );
    assert_eq!(u(&rec, "status"), Some(200), "{rec}");
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    assert_eq!(s(&rec, "rule"), "public", "{rec}");
    assert_eq!(
        s(&rec, "shadow_decision"),
        "",
        "no dry-run policy configured: {rec}"
    );
    assert_eq!(s(&rec, "audit_policy"), "", "{rec}");
    assert_eq!(
        s(&rec, "source_principal"),
        "",
        "plaintext has no principal: {rec}"
    );
    assert_eq!(rec["mtls"], false, "{rec}");
    assert_eq!(s(&rec, "user_agent"), "e2e-allow/1.0", "{rec}");
    assert!(
        u(&rec, "response_bytes").unwrap_or(0) >= UPSTREAM_BODY.len() as u64,
        "response_bytes should cover the {}-byte body: {rec}",
        UPSTREAM_BODY.len()
    );
    assert_eq!(
        stack.collector.records_with_id(&id).len(),
        1,
        "exactly one record per request"
    );

    let stats = &stack.envoy;
    assert!(stats.stat("wasmcustom.observatory_requests_total").await >= 1);
    assert!(stats.stat("wasmcustom.observatory_allowed").await >= 1);
    assert_eq!(stats.stat("wasmcustom.observatory_denied").await, 0);
    let (exported, ok) = stats
        .wait_stat("wasmcustom.observatory_records_exported", WAIT, |v| v >= 1)
        .await;
    assert!(
        ok,
        "records_exported = {exported}; stats {:?}",
        stats.observatory_stats().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_body_counts_bytes_and_names_the_audit_policy() {
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("export");
    let body = vec![b'x'; 100];
    let url = stack.http_url("/public/export/report");
    let resp = send(post_with_id(&stack.plain(), &url, &id, "text/plain", body)).await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    let seen = stack
        .upstream
        .request_with_id(&id)
        .expect("upstream saw the POST");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body_len, 100);

    let rec = stack.collector.wait_for_record(&id).await;
    assert_common_fields(&rec);
    assert_eq!(s(&rec, "method"), "POST", "{rec}");
    assert_eq!(s(&rec, "path"), "/public/export/report", "{rec}");
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    assert_eq!(s(&rec, "rule"), "public", "{rec}");
    assert_eq!(s(&rec, "audit_policy"), "audit-export", "{rec}");
    assert!(
        u(&rec, "request_bytes").unwrap_or(0) >= 100,
        "request_bytes should cover the 100-byte body: {rec}"
    );
    assert!(
        u(&rec, "response_bytes").unwrap_or(0) >= UPSTREAM_BODY.len() as u64,
        "{rec}"
    );
}
