//! A WAL segment whose tail was torn (power loss mid-write) or corrupted is
//! cut back to its last good record at start, the cut is reported, and the
//! collector goes on storing and delivering.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{batch, get, record, start, start_in, Running};

/// Three batches of one record each, delivered to the sinks, then stopped.
async fn three_batches() -> tempfile::TempDir {
    let collector = start().await;
    let mut stream = collector.open().await;
    for seq in 1..=3 {
        let n = u32::try_from(seq).unwrap();
        assert_eq!(stream.send(batch(seq, vec![record(n)])).await.unwrap(), seq);
    }
    collector.settled().await;
    collector.into_dir().await
}

fn segment(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data/wal/00000000000000000001.wal")
}

async fn repaired_bytes(collector: &Running) -> u64 {
    let (_, metrics) = get(collector.admin, "/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("observatory_wal_repaired_bytes_total "))
        .unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["correlation_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn torn_tail_is_cut_and_reported() {
    let dir = three_batches().await;
    let path = segment(&dir);
    let good = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    // Half a record header: the write a crash interrupted.
    bytes.extend_from_slice(&[0x40, 0x02, 0, 0, 0x7f]);
    std::fs::write(&path, &bytes).unwrap();

    let collector = start_in(dir, |_| {}).await;
    assert_eq!(repaired_bytes(&collector).await, 5);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
    // Nothing was lost, nothing is delivered twice, and storing goes on.
    let mut stream = collector.open().await;
    assert_eq!(stream.heartbeat().await.unwrap(), 3);
    assert_eq!(stream.send(batch(4, vec![record(4)])).await.unwrap(), 4);
    assert_eq!(
        ids(&collector.lines().await),
        ["corr-1", "corr-2", "corr-3", "corr-4"]
    );
}

#[tokio::test]
async fn corrupt_last_record_is_cut_and_new_records_still_reach_the_sinks() {
    let dir = three_batches().await;
    let path = segment(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    // Bit rot in the last record's line.
    bytes[len - 10] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let collector = start_in(dir, |_| {}).await;
    let record_size = (len as u64) / 3;
    let cut = repaired_bytes(&collector).await;
    assert!(
        cut > record_size / 2 && cut < record_size * 2,
        "{cut} of {len}"
    );
    // The cut record's batch is not known as stored any more; its resend is
    // taken as new. The records that now take its place in the WAL reach
    // the JSON-lines sink, which had the cut one already.
    let mut stream = collector.open().await;
    assert_eq!(stream.heartbeat().await.unwrap(), 2);
    assert_eq!(stream.send(batch(3, vec![record(3)])).await.unwrap(), 3);
    assert_eq!(stream.send(batch(4, vec![record(4)])).await.unwrap(), 4);
    assert_eq!(
        ids(&collector.lines().await),
        ["corr-1", "corr-2", "corr-3", "corr-3", "corr-4"]
    );
}
