//! Denied requests: Envoy answers 403 with a JSON body, the upstream sees nothing, and the
//! record says deny + the deciding rule. Covers explicit DENY, default-deny, and a path
//! normalisation bypass attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_policy_answers_json_403_and_upstream_sees_nothing() {
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("deny");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/admin/users?all=1"), &id).await;
    assert_forbidden(resp.status, &resp.body, &id, "no-admin");
    assert!(
        resp.header("content-type")
            .unwrap_or("")
            .contains("application/json"),
        "content-type {:?}",
        resp.header("content-type")
    );
    assert_eq!(resp.header("x-correlation-id"), Some(id.as_str()));
    assert!(
        stack.upstream.requests_to("/admin").is_empty(),
        "{:?}",
        stack.upstream.requests()
    );

    let rec = stack.collector.wait_for_record(&id).await;
    assert_common_fields(&rec);
    assert_eq!(s(&rec, "decision"), "deny", "{rec}");
    assert_eq!(s(&rec, "rule"), "no-admin", "{rec}");
    assert_eq!(u(&rec, "status"), Some(403), "{rec}");
    assert_eq!(s(&rec, "path"), "/admin/users", "{rec}");
    assert_eq!(s(&rec, "method"), "GET", "{rec}");

    let (denied, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_denied", WAIT, |v| v >= 1)
        .await;
    assert!(ok, "denied counter = {denied}");
    assert_eq!(stack.upstream.count(), 0, "{:?}", stack.upstream.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_matching_no_allow_policy_is_default_denied() {
    let stack = Stack::start(&plugin_config()).await;
    // No ALLOW policy matches /private/*; /api/* needs the frontend principal, which a
    // plaintext request does not have.
    for path in ["/private/thing", "/api/orders/1"] {
        let id = unique_id("default-deny");
        let resp = get_with_id(&stack.plain(), &stack.http_url(path), &id).await;
        assert_forbidden(resp.status, &resp.body, &id, "default-deny");
        let rec = stack.collector.wait_for_record(&id).await;
        assert_common_fields(&rec);
        assert_eq!(s(&rec, "decision"), "deny", "{rec}");
        assert_eq!(s(&rec, "rule"), "default-deny", "{rec}");
        assert_eq!(u(&rec, "status"), Some(403), "{rec}");
        assert_eq!(s(&rec, "path"), path, "{rec}");
    }
    assert_eq!(stack.upstream.count(), 0, "{:?}", stack.upstream.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_bypass_a_deny_policy() {
    let stack = Stack::start(&plugin_config()).await;
    // Sent byte-for-byte (reqwest would normalise the target itself).
    for target in ["/public/../admin", "/public/./../admin/users"] {
        let id = unique_id("normalise");
        let resp = raw_request(
            stack.envoy.http_port,
            "GET",
            target,
            &[("x-request-id", id.as_str())],
            b"",
        )
        .await
        .unwrap_or_else(|e| panic!("raw GET {target}: {e}"));
        assert_forbidden(resp.status, &resp.text(), &id, "no-admin");
        assert!(
            stack.upstream.request_with_id(&id).is_none(),
            "{target} reached the upstream: {:?}",
            stack.upstream.requests()
        );
        let rec = stack.collector.wait_for_record(&id).await;
        assert_eq!(s(&rec, "decision"), "deny", "{target}: {rec}");
        assert_eq!(s(&rec, "rule"), "no-admin", "{target}: {rec}");
        assert_eq!(u(&rec, "status"), Some(403), "{target}: {rec}");
    }
    assert_eq!(stack.upstream.count(), 0, "{:?}", stack.upstream.requests());
}
