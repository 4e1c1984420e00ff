//! Live scoring through a real gRPC stream: stored records carry their
//! score, a burst of denied requests becomes an anomaly line, and the learnt
//! state survives a graceful restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{batch, record, start_with, Running};
use observatory_proto::audit::AuditRecord;
use serde_json::Value;

const MILLI: i64 = 1_000_000;

/// Record `n`, `ms` milliseconds after a fixed start (scoring runs in
/// record time, and its windows are aligned to it); denied when `denied`.
fn at(n: u32, ms: i64, denied: bool) -> AuditRecord {
    let mut r = record(n);
    r.ts_unix_nanos = 1_764_283_479_123_456_789 + i64::from(n) + ms * MILLI;
    r.path = "/orders/1".into();
    if denied {
        (r.status, r.decision, r.path) = (403, "deny".into(), "/admin/users".into());
    }
    r
}

async fn start_scoring(data_dir: Option<std::path::PathBuf>) -> Running {
    start_with(|c| {
        c.score.enabled = true;
        c.score.warmup_secs = 120;
        if let Some(dir) = data_dir {
            c.data_dir = dir;
        }
    })
    .await
}

fn anomalies(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l.get("anomaly").is_some())
        .collect()
}

#[tokio::test]
async fn records_are_scored_and_bursts_become_anomaly_lines() {
    let mut collector = start_scoring(None).await;
    let mut stream = collector.open().await;
    // Ten minutes of one request every two seconds, one batch per minute.
    let mut n = 0;
    for minute in 0..10 {
        let records = (0..30)
            .map(|i| {
                n += 1;
                at(n, (minute * 60 + i * 2) * 1000, false)
            })
            .collect();
        stream
            .send(batch(minute as u64 + 1, records))
            .await
            .unwrap();
    }
    let lines = collector.json_lines().await;
    assert_eq!(lines.len(), 300);
    assert!(anomalies(&lines).is_empty(), "{lines:?}");
    // The first two minutes are the warm-up: flagged, not scored.
    let warmup = |l: &&Value| l["anomaly_warmup"] == Value::Bool(true);
    assert_eq!(lines.iter().filter(warmup).count(), 60);
    assert!(lines
        .iter()
        .filter(warmup)
        .all(|l| l.get("anomaly_score").is_none()));
    assert!(lines[60..].iter().all(|l| l["anomaly_score"].is_number()));

    let burst = (0..60)
        .map(|i| at(1000 + i, 600 + i64::from(i), true))
        .collect();
    stream.send(batch(11, burst)).await.unwrap();
    let lines = collector.json_lines().await;
    let events = anomalies(&lines);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0]["anomaly"];
    assert_eq!(event["principal"], "spiffe://cluster.local/ns/shop/sa/web");
    assert!(event["score"].as_f64().unwrap() >= 0.85, "{event}");
    let reason = event["reasons"][0]["feature"].as_str().unwrap();
    assert!(reason.contains("ratio"), "{event}");
    let example = event["correlation_ids"][0].as_str().unwrap();
    let scored = lines
        .iter()
        .find(|l| l["correlation_id"] == example)
        .unwrap();
    assert!(scored["anomaly_score"].as_f64().unwrap() >= 0.85);
    assert!(
        scored["anomaly_reasons"][0]["observed"].is_number(),
        "{scored}"
    );

    // A graceful stop checkpoints; the next collector does not warm up
    // again, so the next burst is an anomaly at once.
    drop(stream);
    collector.stop().await.unwrap();
    let data_dir = collector.dir.path().join("data");
    assert!(data_dir.join("score-state.json").exists());
    // Same data directory: `collector` reads the lines of both.
    let restarted = start_scoring(Some(data_dir)).await;
    let burst = (0..60)
        .map(|i| at(2000 + i, 720 + i64::from(i), true))
        .collect();
    let mut stream = restarted.open().await;
    stream.send(batch(12, burst)).await.unwrap();
    // Acked means in the WAL: wait for the restarted collector's sinks.
    restarted.settled().await;
    assert_eq!(anomalies(&collector.json_lines().await).len(), 2);
}
