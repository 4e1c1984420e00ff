//! Loki answers that mean "later" (429, 5xx, no answer) are retried until
//! Loki takes the entries, while the batches are acked from the WAL. After Loki's own
//! dedupe nothing is missing and nothing is doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::loki::{FakeLoki, Reply};
use common::{batch, eventually, record};
use observatory_collector::sink::loki::config::LokiConfig;
use observatory_proto::audit::AuditRecord;
use observatory_proto::json::CanonicalRecord;

fn lines(records: &[AuditRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| serde_json::to_string(&CanonicalRecord::from(r)).unwrap())
        .collect()
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_stored() {
    let loki = FakeLoki::start().await;
    loki.script([
        Reply::TooManyRequests,
        Reply::ServerError,
        Reply::TooManyRequests,
        Reply::Status(503, "Service Unavailable\n".into()),
    ]);
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let mut stream = collector.open().await;
    let sent = [vec![record(1), record(2)], vec![record(3)]];
    for (seq, records) in (1..).zip(&sent) {
        assert_eq!(stream.send(batch(seq, records.clone())).await.unwrap(), seq);
        collector.settled().await;
    }

    assert_eq!(loki.stored_lines(), lines(&sent.concat()));
    // Four refusals, then one request per batch.
    assert_eq!(loki.requests().len(), 6);
    let stats = collector.stats.snapshot();
    assert_eq!(stats.loki_push_retries, 4);
    assert_eq!(stats.loki_entries_confirmed, 3);
    assert_eq!(stats.loki_entries_dead_lettered, 0);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let loki = FakeLoki::start().await;
    loki.script([Reply::TooManyRequestsRetryAfter(1)]);
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let started = Instant::now();
    collector.deliver(vec![record(1)]).await;
    collector.settled().await;
    let waited = started.elapsed();
    // The configured backoff alone would retry within 10 ms.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert_eq!(loki.stored_lines(), lines(&[record(1)]));
}

#[tokio::test]
async fn unanswered_push_is_timed_out_and_sent_again() {
    let loki = FakeLoki::start().await;
    // First no answer at all, then an answer lost after Loki stored it.
    loki.script([Reply::Hang, Reply::StoreThenHang]);
    let config = LokiConfig {
        timeout_ms: 300.try_into().unwrap(),
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    let sent = vec![record(1), record(2), record(3)];
    collector.deliver(sent.clone()).await;
    collector.settled().await;

    // Three identical requests; Loki keeps one copy of each line.
    let requests = loki.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].streams, requests[2].streams);
    assert_eq!(loki.stored_lines(), lines(&sent));
    assert_eq!(collector.stats.snapshot().loki_push_retries, 2);
}

#[tokio::test]
async fn outage_holds_up_neither_acks_nor_shutdown_and_the_wal_keeps_the_rest() {
    let failing = FakeLoki::start().await;
    failing.script(std::iter::repeat_n(Reply::ServerError, 10_000));
    let config = failing.config();
    let collector = common::start_with(|c| {
        c.loki = Some(config);
        c.drain_timeout = Duration::from_millis(200);
    })
    .await;
    // Acked once in the WAL, while Loki refuses.
    assert_eq!(collector.deliver(vec![record(1)]).await, 1);
    eventually("a few retries", || failing.requests().len() >= 3).await;

    // A Loki that answers, after a restart: the record waited in the WAL.
    let healthy = FakeLoki::start().await;
    let config = healthy.config();
    let restarted = tokio::time::timeout(
        Duration::from_secs(10),
        collector.restart(|c| {
            c.loki = Some(config);
            c.drain_timeout = Duration::from_millis(200);
        }),
    )
    .await
    .expect("stop is not held up by Loki");
    assert!(failing.stored_lines().is_empty());
    restarted.settled().await;
    assert_eq!(healthy.stored_lines(), lines(&[record(1)]));
    // The local file had it before the restart and got it only once.
    assert_eq!(restarted.lines().await.len(), 1);
}
