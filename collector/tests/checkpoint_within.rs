//! With a key, a proxy's line gets a signed checkpoint soon after it is
//! stored even when nothing follows it: within `checkpoint_within`, idle or
//! busy, and after a restart for lines stored before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{batch, eventually, record, start_with, Running};

/// The seqs of the checkpoints in `audit.jsonl` and the last line's seq.
fn checkpoints(collector: &Running) -> (Vec<u64>, u64) {
    let text = std::fs::read_to_string(collector.audit_path()).unwrap_or_default();
    let mut sealed = Vec::new();
    let mut last = 0;
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        match value["checkpoint"]["seq"].as_u64() {
            Some(seq) => sealed.push(seq),
            None => last = value["seq"].as_u64().unwrap_or(last),
        }
    }
    (sealed, last)
}

#[tokio::test]
async fn an_idle_proxy_is_sealed_within_the_limit_and_so_after_a_restart() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("key");
    std::fs::write(&key, "secret").unwrap();
    let within = |secs| {
        let key = key.clone();
        move |c: &mut observatory_collector::config::ServeConfig| {
            c.checkpoint_key_file = Some(key);
            c.checkpoint_every = 1000.try_into().unwrap();
            c.checkpoint_within = Duration::from_secs(secs);
        }
    };
    let collector = start_with(within(1)).await;
    collector.deliver((1..=3).map(record).collect()).await;
    eventually("a checkpoint of the last line", || {
        checkpoints(&collector) == (vec![3], 3)
    })
    .await;

    // Stored, then the collector stops before a checkpoint is due.
    let collector = collector.restart(within(3600)).await;
    collector
        .open()
        .await
        .send(batch(2, (4..=5).map(record).collect()))
        .await
        .unwrap();
    collector.settled().await;
    assert_eq!(checkpoints(&collector), (vec![3], 5));
    let collector = collector.restart(within(1)).await;
    eventually(
        "a checkpoint of the lines stored before the restart",
        || checkpoints(&collector) == (vec![3, 5], 5),
    )
    .await;
}
