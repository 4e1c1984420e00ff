//! Dry-run: a `dryRun: true` DENY policy is not enforced; the record's shadow_decision says
//! what would have happened, and the shadow_denied counter moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_deny_is_recorded_but_not_enforced() {
    let mut cfg = plugin_config();
    cfg["policies"].as_array_mut().unwrap().push(json!({
        "name": "shadow-no-reports",
        "action": "DENY",
        "dryRun": true,
        "rules": [{"to": [{"operation": {"paths": ["/public/reports*"]}}]}]
    }));
    let stack = Stack::start(&cfg).await;

    let id = unique_id("dry-run-hit");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/reports/q3"), &id).await;
    assert_eq!(
        resp.status, 200,
        "dry-run policy must not be enforced; body {:?}",
        resp.body
    );
    assert!(
        stack.upstream.request_with_id(&id).is_some(),
        "{:?}",
        stack.upstream.requests()
    );
    let rec = stack.collector.wait_for_record(&id).await;
    assert_common_fields(&rec);
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    assert_eq!(s(&rec, "shadow_decision"), "deny", "{rec}");
    assert_eq!(
        s(&rec, "rule"),
        "public",
        "the enforced decision was made by `public`: {rec}"
    );
    assert_eq!(u(&rec, "status"), Some(200), "{rec}");

    // A request the dry-run policy does not match: shadow says allow.
    let id = unique_id("dry-run-miss");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/other"), &id).await;
    assert_eq!(resp.status, 200);
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    assert_eq!(s(&rec, "shadow_decision"), "allow", "{rec}");

    let (shadow, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_shadow_denied", WAIT, |v| v >= 1)
        .await;
    assert!(
        ok,
        "shadow_denied = {shadow}; {:?}",
        stack.envoy.observatory_stats().await
    );
    assert_eq!(shadow, 1);
    assert_eq!(stack.envoy.stat("wasmcustom.observatory_denied").await, 0);
    assert!(stack.envoy.stat("wasmcustom.observatory_allowed").await >= 2);
}
