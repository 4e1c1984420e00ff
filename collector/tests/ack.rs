//! Acks, exactly-once storage and gap notices, through a real gRPC stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{batch, record, start, INSTANCE, PROXY};
use observatory_proto::audit::{AuditGap, AuditRecord};
use observatory_proto::json::CanonicalRecord;
use serde_json::json;

#[tokio::test]
async fn heartbeat_of_unknown_sender_acks_zero() {
    let collector = start().await;
    let mut stream = collector.open().await;
    assert_eq!(stream.heartbeat().await.unwrap(), 0);
    // A heartbeat writes nothing.
    assert!(collector.lines().await.is_empty());
}

#[tokio::test]
async fn batches_are_acked_and_written_once_as_canonical_json() {
    let collector = start().await;
    let mut stream = collector.open().await;
    assert_eq!(stream.heartbeat().await.unwrap(), 0);
    // A fixed time, so the JSON can be spelled out below.
    let at = |n: u32| AuditRecord {
        ts_unix_nanos: 1_764_283_479_123_456_789 + i64::from(n),
        ..record(n)
    };
    let sent = [vec![at(1), at(2)], vec![at(3)], vec![at(4), at(5), at(6)]];
    for (seq, records) in (1..).zip(&sent) {
        assert_eq!(stream.send(batch(seq, records.clone())).await.unwrap(), seq);
    }

    let lines = collector.lines().await;
    let expected: Vec<String> = sent
        .iter()
        .flatten()
        .map(|r| serde_json::to_string(&CanonicalRecord::from(r)).unwrap())
        .collect();
    assert_eq!(lines, expected);

    // The public field names and values, spelled out once.
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        first,
        json!({
            "ts": "2025-11-27T22:44:39.123456790Z",
            "correlation_id": "corr-1",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "source_principal": "spiffe://cluster.local/ns/shop/sa/web",
            "source_ip": "10.0.0.9",
            "mtls": true,
            "destination_workload": "orders",
            "destination_namespace": "shop",
            "method": "POST",
            "path": "/orders/1",
            "status": 201,
            "duration_ms": 12.5,
            "request_bytes": 321,
            "response_bytes": 54,
            "user_agent": "curl/8.5.0",
            "decision": "allow",
            "shadow_decision": "deny",
            "rule": "orders-write/allow-web",
            "redactions": {"email": 2},
            "proxy_id": PROXY,
            "audit_policy": "pci",
        })
    );
    assert!(lines[0]
        .starts_with(r#"{"ts":"2025-11-27T22:44:39.123456790Z","correlation_id":"corr-1","#));
    assert_eq!(collector.stats.snapshot().records_written, 6);
}

#[tokio::test]
async fn resent_batches_are_acked_but_not_written_again() {
    let collector = start().await;
    let mut stream = collector.open().await;
    for seq in 1..=3 {
        stream
            .send(batch(seq, vec![record(seq as u32)]))
            .await
            .unwrap();
    }
    drop(stream);

    // Reconnect: the heartbeat reports what is stored, then the sender
    // resends what it believes unacknowledged.
    let mut stream = collector.open().await;
    assert_eq!(stream.heartbeat().await.unwrap(), 3);
    assert_eq!(stream.send(batch(2, vec![record(2)])).await.unwrap(), 3);
    assert_eq!(stream.send(batch(3, vec![record(3)])).await.unwrap(), 3);
    assert_eq!(stream.send(batch(4, vec![record(4)])).await.unwrap(), 4);

    let ids: Vec<String> = collector
        .json_lines()
        .await
        .iter()
        .map(|l| l["correlation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["corr-1", "corr-2", "corr-3", "corr-4"]);
    let stats = collector.stats.snapshot();
    assert_eq!(stats.batches_duplicate, 2);
    assert_eq!(stats.batches_written, 4);
}

#[tokio::test]
async fn instances_of_one_proxy_count_separately() {
    let collector = start().await;
    let mut a = collector.open().await;
    let mut b = collector.open().await;
    a.send(batch(1, vec![record(1)])).await.unwrap();
    let mut other = batch(1, vec![record(2)]);
    other.instance_id = "vm-other".into();
    assert_eq!(b.send(other).await.unwrap(), 1);
    assert_eq!(collector.lines().await.len(), 2);
}

#[tokio::test]
async fn reported_gap_is_written_before_the_records() {
    let collector = start().await;
    let mut stream = collector.open().await;
    stream.send(batch(1, vec![record(1)])).await.unwrap();
    let mut lossy = batch(2, vec![record(2)]);
    lossy.gap = Some(AuditGap {
        dropped_records: 40,
        dropped_batches: 0,
    });
    assert_eq!(stream.send(lossy).await.unwrap(), 2);

    let lines = collector.json_lines().await;
    assert_eq!(lines.len(), 3);
    let gap = &lines[1];
    assert_eq!(
        gap["audit_gap"],
        json!({
            "instance_id": INSTANCE,
            "seq": 2,
            "dropped_records": 40,
            "dropped_batches": 0,
        })
    );
    assert_eq!(gap["proxy_id"], PROXY);
    assert_rfc3339_nanos(gap["ts"].as_str().unwrap());
    assert_eq!(gap.as_object().unwrap().len(), 3);
    assert_eq!(lines[2]["correlation_id"], "corr-2");
}

#[tokio::test]
async fn seq_jump_is_noted_in_a_gap_line() {
    let collector = start().await;
    let mut stream = collector.open().await;
    for seq in 1..=3 {
        stream
            .send(batch(seq, vec![record(seq as u32)]))
            .await
            .unwrap();
    }
    let mut jumped = batch(7, vec![record(7)]);
    jumped.gap = Some(AuditGap {
        dropped_records: 12,
        dropped_batches: 3,
    });
    assert_eq!(stream.send(jumped).await.unwrap(), 7);
    // A jump without a reported gap is still noted.
    assert_eq!(stream.send(batch(9, vec![])).await.unwrap(), 9);

    let lines = collector.json_lines().await;
    let gaps: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("audit_gap")).collect();
    assert_eq!(
        gaps,
        [
            &json!({
                "instance_id": INSTANCE,
                "seq": 7,
                "dropped_records": 12,
                "dropped_batches": 3,
                "missing_seq_from": 4,
                "missing_seq_to": 6,
            }),
            &json!({
                "instance_id": INSTANCE,
                "seq": 9,
                "dropped_records": 0,
                "dropped_batches": 0,
                "missing_seq_from": 8,
                "missing_seq_to": 8,
            }),
        ]
    );
    assert_eq!(collector.stats.snapshot().seq_jumps, 2);
}

#[tokio::test]
async fn full_sender_table_forgets_the_oldest_sender() {
    let collector = common::start_with(|c| c.max_senders = common::limit(1)).await;
    let mut stream = collector.open().await;
    stream.send(batch(5, vec![record(1)])).await.unwrap();
    let mut other = batch(1, vec![record(2)]);
    other.instance_id = "vm-other".into();
    stream.send(other).await.unwrap();
    // The first instance was forgotten: its heartbeat says 0.
    assert_eq!(stream.heartbeat().await.unwrap(), 0);
    assert_eq!(collector.stats.snapshot().senders_evicted, 1);
}

/// `2026-11-27T22:44:39.123456789Z`: RFC 3339, UTC, nine fractional digits.
fn assert_rfc3339_nanos(ts: &str) {
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    assert_eq!(b.len(), 30, "{ts}");
    assert!(
        digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[19] == b'.'
            && digits(20..29)
            && b[29] == b'Z',
        "{ts}"
    );
}

#[tokio::test]
async fn full_wal_is_unavailable_and_not_acked() {
    let collector = common::start_with(|c| c.wal.max_bytes = 1).await;
    let mut stream = collector.open().await;
    // The first batch fits (the WAL was empty) and fills it.
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);
    let status = stream.send(batch(2, vec![record(2)])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("batch seq 2 could not be stored (WAL full ("),
        "{status:?}"
    );
    // Only batch 1 counts as stored.
    assert_eq!(collector.open().await.heartbeat().await.unwrap(), 1);
    assert_eq!(collector.stats.snapshot().batches_written, 1);
}
