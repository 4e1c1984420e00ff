//! Loki answers that mean "never" (400, 413, 422) are not retried: what
//! Loki refused goes to the dead-letter file with Loki's reason, and the
//! batch is acked. A 400 is partial: Loki stored the rest of the request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::loki::{FakeLoki, Reply};
use common::{batch, record};
use observatory_proto::audit::AuditRecord;
use observatory_proto::json::CanonicalRecord;
use serde_json::Value;

const HOUR: i64 = 3_600_000_000_000;

fn line(r: &AuditRecord) -> String {
    serde_json::to_string(&CanonicalRecord::from(r)).unwrap()
}

#[tokio::test]
async fn partial_400_dead_letters_exactly_the_named_entries() {
    let loki = FakeLoki::start().await;
    let now = record(0).ts_unix_nanos;
    loki.reject_older_than(now - HOUR);
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;

    // Two too old in one stream (same second: one grouped message), one too
    // old in another stream, three fine.
    let mut records: Vec<AuditRecord> = (1..=6).map(record).collect();
    for (i, age) in [(0, 2), (1, 2), (3, 3)] {
        records[i].ts_unix_nanos -= age * HOUR;
    }
    records[3].destination_namespace = "web".into();
    let acked = collector.deliver(records.clone()).await;
    assert_eq!(acked, 1);
    collector.settled().await;

    let mut good: Vec<String> = [2, 4, 5].iter().map(|&i| line(&records[i])).collect();
    good.sort();
    let mut stored = loki.stored_lines();
    stored.sort();
    assert_eq!(stored, good);

    let dead = collector.dead_letters();
    // The line as pushed, chain fields included.
    let mut dead_lines: Vec<String> = dead
        .iter()
        .map(|d| common::canonical(d["line"].as_str().unwrap()))
        .collect();
    dead_lines.sort_unstable();
    let mut refused: Vec<String> = [0, 1, 3].iter().map(|&i| line(&records[i])).collect();
    refused.sort();
    assert_eq!(dead_lines, refused);
    for d in &dead {
        assert_eq!(d["status"], 400);
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.starts_with("entry for stream '{"), "{reason}");
        assert!(reason.contains("has timestamp too old: "), "{reason}");
        assert!(d["labels"]
            .as_str()
            .unwrap()
            .contains(r#"job="observatory""#));
        assert!(d["metadata"]["correlation_id"].is_string());
        assert!(d["ts"].as_str().unwrap().ends_with('Z'));
    }
    // Not sent again.
    assert_eq!(loki.requests().len(), 1);
    let stats = collector.stats.snapshot();
    assert_eq!(stats.loki_entries_dead_lettered, 3);
    assert_eq!(stats.loki_entries_confirmed, 3);
    assert_eq!(stats.loki_push_retries, 0);
}

#[tokio::test]
async fn unmappable_400_dead_letters_the_whole_request() {
    let loki = FakeLoki::start().await;
    loki.script([Reply::Status(400, "proto: illegal wireType 7\n".into())]);
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let records = vec![record(1), record(2)];
    collector.deliver(records.clone()).await;
    collector.settled().await;

    let dead = collector.dead_letters();
    assert_eq!(dead.len(), 2);
    for (d, r) in dead.iter().zip(&records) {
        assert_eq!(d["reason"], "proto: illegal wireType 7");
        assert_eq!(common::canonical(d["line"].as_str().unwrap()), line(r));
    }
    assert_eq!(loki.requests().len(), 1);
}

#[tokio::test]
async fn too_large_and_unprocessable_are_dead_lettered_not_retried() {
    let loki = FakeLoki::start().await;
    loki.script([
        Reply::Status(
            413,
            "request body too large: 200000000 bytes, limit: 104857600 bytes\n".into(),
        ),
        Reply::Status(
            422,
            "error at least one valid stream is required for ingestion\n".into(),
        ),
    ]);
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let mut stream = collector.open().await;
    // One request each: the second is sent once the first is answered.
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);
    collector.settled().await;
    assert_eq!(stream.send(batch(2, vec![record(2)])).await.unwrap(), 2);
    collector.settled().await;

    let dead = collector.dead_letters();
    let statuses: Vec<&Value> = dead.iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, [413, 422]);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("request body too large"));
    assert_eq!(loki.requests().len(), 2);
    assert!(loki.stored_lines().is_empty());
    assert_eq!(collector.stats.snapshot().loki_push_retries, 0);
}
