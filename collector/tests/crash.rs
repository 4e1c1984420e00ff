//! The collector binary is killed (SIGKILL) under load and started again on
//! the same data directory; senders resend what was not acked, as the
//! filter does. Every acked record is then in the JSON-lines sink at least
//! once; duplicates are counted and reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process;
use common::{record, Stream};
use observatory_collector::commands::verify::report::FindingKind;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::AuditBatch;

const STREAMS: u32 = 4;
const RECORDS: u32 = 10;
/// Batches acked (all streams) before the kill.
const KILL_AFTER: u64 = 200;
/// No stream sends more than this, killed or not.
const MAX_BATCHES: u64 = 5_000;

fn batch(stream: u32, seq: u64) -> AuditBatch {
    let base = stream * 10_000_000 + u32::try_from(seq).unwrap() * 100;
    AuditBatch {
        proxy_id: common::PROXY.into(),
        instance_id: format!("vm-{stream}"),
        seq,
        records: (0..RECORDS).map(|r| record(base + r)).collect(),
        gap: None,
    }
}

async fn connect(addr: &str) -> Stream {
    let mut client = AuditServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Stream::open(&mut client).await
}

/// Sends batches 1, 2, … until the stream fails; returns the highest acked
/// seq and the highest seq sent.
async fn load(addr: String, stream: u32, acked_total: Arc<AtomicU64>) -> (u64, u64) {
    let mut conn = connect(&addr).await;
    let mut acked = 0;
    for seq in 1..=MAX_BATCHES {
        match conn.send(batch(stream, seq)).await {
            Ok(ack) => {
                assert_eq!(ack, seq);
                acked = seq;
                acked_total.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return (acked, seq),
        }
    }
    (acked, MAX_BATCHES)
}

#[tokio::test]
async fn acked_records_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let first = process::spawn(dir.path(), &[]).await;
    let acked_total = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..STREAMS)
        .map(|s| tokio::spawn(load(first.addr.to_string(), s, acked_total.clone())))
        .collect();
    for _ in 0..3_000 {
        if acked_total.load(Ordering::Relaxed) >= KILL_AFTER {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(acked_total.load(Ordering::Relaxed) >= KILL_AFTER);
    first.signal("KILL");
    let (status, _) = first.wait().await;
    assert!(!status.success());
    let mut progress = Vec::new();
    for sender in senders {
        progress.push(sender.await.unwrap());
    }

    let second = process::spawn(dir.path(), &[]).await;
    for (stream, (acked, sent)) in (0..STREAMS).zip(&progress) {
        let mut conn = connect(&second.addr.to_string()).await;
        // The restarted collector knows from its WAL what it had stored.
        let heartbeat = AuditBatch {
            records: vec![],
            ..batch(stream, 0)
        };
        let stored = conn.send(heartbeat).await.unwrap();
        assert!(
            stored >= *acked,
            "stream {stream}: stored {stored} < acked {acked}"
        );
        // Like the filter: everything unacked again, in order.
        for seq in acked + 1..=*sent {
            assert_eq!(conn.send(batch(stream, seq)).await.unwrap(), seq);
        }
    }
    second.signal("TERM");
    let (status, log) = second.wait().await;
    assert!(status.success(), "{log}");

    let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let mut copies: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *copies
            .entry(v["correlation_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let mut expected = 0;
    for (stream, (_, sent)) in (0..STREAMS).zip(&progress) {
        for seq in 1..=*sent {
            for r in batch(stream, seq).records {
                expected += 1;
                assert!(
                    copies.contains_key(&r.correlation_id),
                    "{} (stream {stream}, batch {seq}) is missing",
                    r.correlation_id
                );
            }
        }
    }
    let duplicates: u64 = copies.values().map(|n| n - 1).sum();
    assert_eq!(copies.len() as u64, expected);
    // The chains went on across the kill: nothing but duplicates to report.
    let report = common::check_file(&dir.path().join("audit.jsonl")).await;
    let findings: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(findings, vec![], "{report}");
    assert_eq!(report.summary.duplicates, duplicates);
    eprintln!(
        "crash: {expected} records stored, {} acked before the kill, {duplicates} duplicates in audit.jsonl",
        progress.iter().map(|(a, _)| a).sum::<u64>() * u64::from(RECORDS)
    );
}
