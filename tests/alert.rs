//! Alerting end to end: a burst of denied requests through Envoy is scored by the
//! collector and delivered to a webhook receiver on 127.0.0.1 exactly once, without the
//! webhook URL (a secret) appearing in the collector's log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observatory_e2e::*;

/// Record time before anything can be an anomaly.
const WARMUP_SECS: u64 = 3;
/// How long to keep watching for a duplicate after the first notification.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(8);
const HOOK_ENV: &str = "OBSERVATORY_E2E_SLACK_WEBHOOK";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_denied_requests_alerts_exactly_once() {
    let hook = Upstream::start();
    let hook_url = format!("http://127.0.0.1:{}/services/T0/B0/e2e-secret", hook.port);
    let config = format!(
        "[score]\nwarmup_secs = {WARMUP_SECS}\n\
         [alert]\ncooldown_secs = 3600\nbackoff_ms = 100\n\
         [[alert.webhooks]]\nkind = \"slack\"\nurl_env = \"{HOOK_ENV}\"\n"
    );
    let collector = Collector::start_with(Some(&config), &[(HOOK_ENV, hook_url.as_str())]).await;
    let stack = Stack::start_with(&plugin_config(), collector).await;

    // One anomaly event is written per principal and minute of record time: start right
    // after a minute boundary, so that warm-up and burst share one minute.
    let into_minute = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute > 45 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }

    // Warm-up: a little ordinary traffic, then wait out the warm-up period.
    let client = stack.plain();
    for _ in 0..5 {
        let resp = get_with_id(&client, &stack.http_url("/public/x"), &unique_id("warm")).await;
        assert_eq!(resp.status, 200);
    }
    tokio::time::sleep(Duration::from_secs(WARMUP_SECS + 1)).await;

    // The burst: forty denied requests.
    let mut ids = Vec::new();
    for _ in 0..40 {
        let id = unique_id("burst");
        let resp = get_with_id(&client, &stack.http_url("/admin/users"), &id).await;
        assert_eq!(resp.status, 403);
        ids.push(id);
    }

    let first = eventually(WAIT, || hook.requests().into_iter().next())
        .await
        .unwrap_or_else(|| {
            panic!(
                "no notification within {WAIT:?}; anomalies stored: {:?}\ncollector log:\n{}",
                stack.collector.anomalies(),
                stack.collector.log()
            )
        });
    tokio::time::sleep(DUPLICATE_WINDOW).await;
    let delivered = hook.requests();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");

    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/services/T0/B0/e2e-secret");
    assert_eq!(first.header("content-type"), Some("application/json"));
    let message: Value = serde_json::from_slice(&first.body).unwrap();
    let text = s(&message, "text");
    assert!(
        text.contains("Anomaly") && text.contains("127.0.0.1"),
        "{message}"
    );
    let blocks = message["blocks"].to_string();
    assert!(
        ids.iter().any(|id| blocks.contains(id.as_str())),
        "an example correlation id of the burst in {blocks}"
    );

    // The stored event matches, and the secret URL was never logged.
    let anomalies = stack.collector.anomalies();
    assert!(!anomalies.is_empty());
    assert_eq!(anomalies[0]["anomaly"]["principal"], "127.0.0.1");
    let log = stack.collector.log();
    assert!(log.contains("alert webhook configured"), "{log}");
    assert!(!log.contains("e2e-secret"), "{log}");
}
