//! Loki goes down under load and comes back: acks never wait for it, the
//! WAL holds the backlog (its age grows on `/metrics` meanwhile), and
//! afterwards Loki has exactly what was sent.
#![allow(clippy::unwrap_used)]

mod common;

use common::loki::FakeLoki;
use common::{metric_until, record, start_with, Stream};
use observatory_proto::audit::AuditBatch;
use observatory_proto::json::CanonicalRecord;

const STREAMS: u32 = 4;
const BATCHES: u64 = 25;
const RECORDS: u32 = 20;

#[tokio::test]
async fn outage_under_load_loses_nothing_and_the_backlog_drains() {
    let mut loki = FakeLoki::start().await;
    let config = loki.config();
    let collector = start_with(|c| c.loki = Some(config)).await;
    loki.pause();

    let mut sent = Vec::new();
    let mut senders = Vec::new();
    for s in 0..STREAMS {
        let mut stream = collector.open().await;
        let records: Vec<Vec<_>> = (0..BATCHES)
            .map(|b| {
                (0..RECORDS)
                    .map(|r| record(s * 100_000 + u32::try_from(b).unwrap() * 1_000 + r))
                    .collect()
            })
            .collect();
        sent.extend(records.iter().flatten().map(line));
        senders.push(tokio::spawn(async move {
            for (seq, records) in (1..).zip(records) {
                let batch = AuditBatch {
                    proxy_id: common::PROXY.into(),
                    instance_id: format!("vm-{s}"),
                    seq,
                    records,
                    gap: None,
                };
                assert_eq!(Stream::send(&mut stream, batch).await.unwrap(), seq);
            }
        }));
    }
    // Every batch is acked while Loki is down.
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(loki.stored_lines().is_empty());
    assert!(collector.wal.unconfirmed() > 0);
    // The local file is not held back by Loki.
    let local = collector.lines().await;
    assert_eq!(local.len(), sent.len());
    // The age of Loki's backlog grows while Loki is down; jsonl has none.
    let loki_age = r#"observatory_sink_backlog_age_seconds{sink="loki"}"#;
    let first = metric_until(collector.admin, loki_age, |age| age > 0.0).await;
    metric_until(collector.admin, loki_age, |age| age > first).await;
    let jsonl_age = r#"observatory_sink_backlog_age_seconds{sink="jsonl"}"#;
    metric_until(collector.admin, jsonl_age, |age| age == 0.0).await;

    loki.resume().await;
    collector.settled().await;
    metric_until(collector.admin, loki_age, |age| age == 0.0).await;
    let mut stored = loki.stored_lines();
    stored.sort();
    sent.sort();
    assert_eq!(stored, sent);
    let stats = collector.stats.snapshot();
    assert_eq!(stats.loki_entries_confirmed, sent.len() as u64);
    assert!(stats.loki_push_retries > 0);
}

fn line(r: &observatory_proto::audit::AuditRecord) -> String {
    serde_json::to_string(&CanonicalRecord::from(r)).unwrap()
}
