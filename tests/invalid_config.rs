//! Invalid plugin configurations pushed to a running Envoy (through the LDS file, as Istio
//! pushes over xDS) are rejected: `on_configure` fails naming the field, Envoy rejects the
//! listener update, keeps running and keeps serving with the last good configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use observatory_e2e::envoy::LdsOutcome;
use observatory_e2e::*;

/// Default config plus an extra DENY policy, so the test can tell which config is live.
fn config_with_blocked() -> Value {
    let mut cfg = plugin_config();
    cfg["policies"].as_array_mut().unwrap().push(json!({
        "name": "no-blocked",
        "action": "DENY",
        "rules": [{"to": [{"operation": {"paths": ["/public/blocked*"]}}]}]
    }));
    cfg
}

/// The live config is the last good one: /public/x allowed (and recorded), /public/blocked
/// denied by `no-blocked` (only in the pushed good config).
async fn assert_serving_last_good_config(stack: &Stack, when: &str) {
    let id = unique_id("still-serving");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/x"), &id).await;
    assert_eq!(resp.status, 200, "{when}: /public/x body {:?}", resp.body);
    stack.collector.wait_for_record(&id).await;
    let id = unique_id("still-blocked");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/blocked/1"), &id).await;
    assert_forbidden(resp.status, &resp.body, &id, "no-blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configs_are_rejected_and_the_last_good_one_keeps_serving() {
    let mut stack = Stack::start(&plugin_config()).await;

    // Positive control: a valid new config goes live through the same mechanism.
    let outcome = stack
        .envoy
        .push_and_wait(Some(config_with_blocked().to_string()))
        .await;
    assert_eq!(outcome, LdsOutcome::Accepted, "valid config push");
    assert_serving_last_good_config(&stack, "after the valid push").await;

    // (name, config, predicate on the log line that must name the field)
    let mut unknown_field = config_with_blocked();
    let policies = unknown_field
        .as_object_mut()
        .unwrap()
        .remove("policies")
        .unwrap();
    unknown_field["polices"] = policies;

    let mut bad_pattern = config_with_blocked();
    bad_pattern["policies"][0]["rules"][0]["to"][0]["operation"]["paths"][0] = json!("/a/{**}/b");

    // The module carries the Unicode tables of \w, \d, \s and case folding only.
    let mut unicode_property = config_with_blocked();
    unicode_property["policies"][0]["rules"][0]["to"][0]["operation"]["paths"][0] =
        json!(r"regex:^/\p{Greek}+$");

    let mut missing_cluster = config_with_blocked();
    missing_cluster["collector"]
        .as_object_mut()
        .unwrap()
        .remove("cluster");

    type Pred = fn(&str) -> bool;
    let cases: [(&str, Value, Pred); 4] = [
        ("unknown field `polices`", unknown_field, |l| {
            l.contains("polices")
        }),
        ("bad path pattern", bad_pattern, |l| {
            l.contains("policies[0].rules[0].to[0].operation.paths[0]")
        }),
        ("Unicode property class", unicode_property, |l| {
            l.contains("policies[0].rules[0].to[0].operation.paths[0]")
                && l.contains("Unicode property")
        }),
        ("missing collector.cluster", missing_cluster, |l| {
            l.contains("collector.cluster")
                || (l.contains("collector") && l.contains("cluster") && l.contains("missing"))
        }),
    ];

    let mut rejected_before = stack
        .envoy
        .stat("listener_manager.lds.update_rejected")
        .await;
    for (name, cfg, names_field) in cases {
        let offset = stack.envoy.log_len();
        let outcome = stack.envoy.push_and_wait(Some(cfg.to_string())).await;
        assert_eq!(
            outcome,
            LdsOutcome::Rejected,
            "{name}: LDS update must be rejected"
        );
        let rejected = stack
            .envoy
            .stat("listener_manager.lds.update_rejected")
            .await;
        assert!(
            rejected > rejected_before,
            "{name}: update_rejected {rejected}"
        );
        rejected_before = rejected;

        let line = stack
            .envoy
            .wait_for_log_since(offset, Duration::from_secs(10), |l| {
                l.contains("wasm") && names_field(l)
            })
            .await;
        assert!(
            line.is_some(),
            "{name}: no wasm log line naming the field; log since push:\n{}",
            stack.envoy.log_since(offset)
        );
        eprintln!("{name}: {}", line.unwrap_or_default());

        assert!(stack.envoy.is_running(), "{name}: Envoy died");
        assert_serving_last_good_config(&stack, name).await;
    }
}
