//! The path the policy decides on is the path the upstream receives. `pathNormalization`:
//! `rewrite` (the default) forwards the normalised path with the original query; `reject`
//! answers 400; `decide-only` forwards the path as received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

async fn raw_get(stack: &Stack, target: &str, id: &str) -> RawResponse {
    raw_request(
        stack.envoy.http_port,
        "GET",
        target,
        &[("x-request-id", id)],
        b"",
    )
    .await
    .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_receives_the_normalised_path() {
    let stack = Stack::start(&plugin_config()).await;
    // Decided as /admin/users, whatever the spelling.
    for (i, target) in ["//admin/users", "/public/../admin/users", "/%61dmin/users"]
        .iter()
        .enumerate()
    {
        let id = unique_id(&format!("norm-deny-{i}"));
        let resp = raw_get(&stack, target, &id).await;
        assert_forbidden(resp.status, &resp.text(), &id, "no-admin");
        assert!(stack.upstream.request_with_id(&id).is_none());
    }
    let id = unique_id("norm-rewrite");
    let resp = raw_get(&stack, "/public//a/./b/../c?q=x//y", &id).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let seen = stack.upstream.request_with_id(&id).expect("forwarded");
    assert_eq!(seen.path, "/public/a/c?q=x//y");
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "path"), "/public/a/c", "{rec}");
    let (n, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_paths_rewritten", WAIT, |n| n >= 1)
        .await;
    assert!(ok, "paths_rewritten = {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_mode_answers_400_and_decide_only_forwards_as_received() {
    let mut cfg = plugin_config();
    cfg["pathNormalization"] = json!("reject");
    let mut stack = Stack::start(&cfg).await;
    let id = unique_id("norm-reject");
    let resp = raw_get(&stack, "/public//a", &id).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let body = resp.json();
    assert_eq!(
        (s(&body, "error"), s(&body, "rule")),
        ("bad_request", "path-not-normalized")
    );
    assert!(stack.upstream.request_with_id(&id).is_none());
    let rec = stack.collector.wait_for_record(&id).await;
    assert_outcome(&rec, "", "deny", "path-not-normalized", 400);
    assert_eq!(s(&rec, "path"), "/public//a", "{rec}");
    let id = unique_id("norm-normal");
    assert_eq!(raw_get(&stack, "/public/a?q=1", &id).await.status, 200);

    cfg["pathNormalization"] = json!("decide-only");
    let outcome = stack.envoy.push_and_wait(Some(cfg.to_string())).await;
    assert_eq!(outcome, envoy::LdsOutcome::Accepted);
    let id = unique_id("norm-decide-only");
    assert_eq!(raw_get(&stack, "/public//a", &id).await.status, 200);
    assert_eq!(
        stack.upstream.request_with_id(&id).unwrap().path,
        "/public//a"
    );
}
