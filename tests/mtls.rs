//! mTLS: the peer certificate's URI SAN becomes the source principal that ALLOW policies
//! match on; other identities are default-denied; `requireMtls` denies plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

const BATCH_SPIFFE: &str = "spiffe://cluster.local/ns/shop/sa/batch";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontend_identity_is_allowed_on_the_api() {
    let stack = Stack::start(&plugin_config()).await;
    let client = stack.mtls(FRONTEND_SPIFFE);

    let id = unique_id("mtls-frontend");
    let resp = get_with_id(&client, &stack.https_url("/api/orders/1"), &id).await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    assert_eq!(resp.body, UPSTREAM_BODY);
    assert!(
        stack.upstream.request_with_id(&id).is_some(),
        "{:?}",
        stack.upstream.requests()
    );

    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, FRONTEND_SPIFFE, "allow", "frontend-api", 200);
    assert_eq!(s(&rec, "path"), "/api/orders/1", "{rec}");

    // POST is allowed too; DELETE is not in the policy's methods → default-deny.
    let id = unique_id("mtls-post");
    let resp = send(
        client
            .post(stack.https_url("/api/orders"))
            .header("x-request-id", &id)
            .body("{}"),
    )
    .await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    let id = unique_id("mtls-delete");
    let resp = send(
        client
            .delete(stack.https_url("/api/orders/1"))
            .header("x-request-id", &id),
    )
    .await;
    assert_forbidden(resp.status, &resp.body, &id, "default-deny");
    assert!(stack.upstream.request_with_id(&id).is_none());
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "method"), "DELETE", "{rec}");
    assert_eq!(s(&rec, "decision"), "deny", "{rec}");
    assert_eq!(s(&rec, "source_principal"), FRONTEND_SPIFFE, "{rec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_identity_is_default_denied_on_the_api() {
    let stack = Stack::start(&plugin_config()).await;
    let client = stack.mtls(BATCH_SPIFFE);

    let id = unique_id("mtls-batch");
    let resp = get_with_id(&client, &stack.https_url("/api/orders/1"), &id).await;
    assert_forbidden(resp.status, &resp.body, &id, "default-deny");
    assert!(
        stack.upstream.request_with_id(&id).is_none(),
        "{:?}",
        stack.upstream.requests()
    );
    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, BATCH_SPIFFE, "deny", "default-deny", 403);

    // The same identity may use the public paths.
    let id = unique_id("mtls-batch-public");
    let resp = get_with_id(&client, &stack.https_url("/public/x"), &id).await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "rule"), "public", "{rec}");
    assert_eq!(s(&rec, "source_principal"), BATCH_SPIFFE, "{rec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_mtls_denies_plaintext() {
    let mut cfg = plugin_config();
    cfg["requireMtls"] = json!(true);
    let stack = Stack::start(&cfg).await;

    let id = unique_id("plain-under-require-mtls");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/x"), &id).await;
    assert_forbidden(resp.status, &resp.body, &id, "require-mtls");
    assert!(
        stack.upstream.request_with_id(&id).is_none(),
        "{:?}",
        stack.upstream.requests()
    );
    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, "", "deny", "require-mtls", 403);

    // Over mTLS the same request is allowed.
    let id = unique_id("mtls-under-require-mtls");
    let resp = get_with_id(
        &stack.mtls(FRONTEND_SPIFFE),
        &stack.https_url("/public/x"),
        &id,
    )
    .await;
    assert_eq!(resp.status, 200, "body {:?}", resp.body);
    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, FRONTEND_SPIFFE, "allow", "public", 200);
}
