//! `redaction.hmacKeyEnv` in the filter: the key comes from the VM's
//! environment (Envoy's `host_env_keys`, Istio's `vmConfig.env` with
//! `valueFrom: HOST` from a Secret), never from the plugin configuration;
//! records carry the pseudonym, not the value. Without the variable the
//! configuration is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

const EMAIL: &str = "jane.doe@example.com";
const KEY: &str = "a-secret-key-of-32-bytes-or-more";

fn config() -> Value {
    let mut config = plugin_config();
    config["redaction"] = json!({
        "types": {"EMAIL": {"mode": "hash"}},
        "hmacKeyEnv": "OBSERVATORY_HMAC_KEY",
        "hmacKeyId": "k2026"
    });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_key_comes_from_the_vms_environment() {
    let stack = Stack::start_customized(&config(), Collector::start().await, |setup| {
        setup.vm_host_env = vec![("OBSERVATORY_HMAC_KEY".into(), KEY.into())];
    })
    .await;
    let id = unique_id("hmac-env");
    let url = stack.http_url(&format!("/public/profile?email={EMAIL}"));
    let resp = get_with_id(&stack.plain(), &url, &id).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let rec = stack.collector.wait_for_record(&id).await;
    let query = s(&rec, "query");
    assert!(query.starts_with("email=[EMAIL:hmac:k2026:"), "{rec}");
    assert!(!rec.to_string().contains(EMAIL), "{rec}");
    assert!(!rec.to_string().contains(KEY), "{rec}");
    // The key stays out of Envoy's log too.
    assert!(!stack.envoy.log().contains(KEY));
}
