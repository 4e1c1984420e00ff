//! The admin server: `/metrics` counts what was stored per sink, `/healthz`
//! stays up while `/readyz` follows Loki's `/ready`.
#![allow(clippy::unwrap_used)]

mod common;

use common::loki::FakeLoki;
use common::{get, record, start_with};

#[tokio::test]
async fn metrics_count_per_sink_and_readiness_follows_loki() {
    let loki = FakeLoki::start().await;
    let config = loki.config();
    let mut collector = start_with(|c| c.loki = Some(config)).await;
    assert_eq!(
        collector
            .deliver(vec![record(1), record(2), record(3)])
            .await,
        1
    );
    collector.settled().await;

    let (status, metrics) = get(collector.admin, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "observatory_batches_written_total 1",
        "observatory_records_written_total 3",
        "observatory_wal_records_appended_total 1",
        "observatory_sink_records_confirmed_total{sink=\"jsonl\"} 3",
        "observatory_sink_records_confirmed_total{sink=\"loki\"} 3",
        "observatory_sink_push_latency_seconds_count{sink=\"loki\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in\n{metrics}"
        );
    }

    assert_eq!(get(collector.admin, "/healthz").await, (200, "ok\n".into()));
    let (status, body) = get(collector.admin, "/readyz").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "data_dir: ok\nwal: ok\nloki: ok\n")
    );

    loki.set_ready(false);
    let (status, body) = get(collector.admin, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("loki: ") && body.contains("503"), "{body}");
    // Liveness does not depend on Loki.
    assert_eq!(get(collector.admin, "/healthz").await.0, 200);

    drop(loki);
    let (status, body) = get(collector.admin, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.starts_with("data_dir: ok\nwal: ok\nloki: "), "{body}");

    assert_eq!(get(collector.admin, "/nowhere").await.0, 404);
    collector.stop().await.unwrap();
}
