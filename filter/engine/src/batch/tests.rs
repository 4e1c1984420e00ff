#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use observatory_proto::audit::AuditRecord;

fn decode_batch(bytes: &[u8]) -> AuditBatch {
    AuditBatch::decode(bytes).unwrap()
}

fn limits(max_records: usize, max_age_ms: u64, max_buffered_bytes: usize) -> BatchConfig {
    BatchConfig {
        max_records,
        max_age_ms,
        max_buffered_bytes,
    }
}

fn record(n: u32) -> AuditRecord {
    AuditRecord {
        ts_unix_nanos: 1_700_000_000_000_000_000 + i64::from(n),
        correlation_id: format!("req-{n}"),
        method: "GET".into(),
        path: "/x".into(),
        decision: "allow".into(),
        ..Default::default()
    }
}

fn push(o: &mut Outbox, r: &AuditRecord, now_ms: u64) -> Dropped {
    o.push(&RecordView::from(r), now_ms)
}

fn outbox(l: BatchConfig) -> Outbox {
    Outbox::new(l, "proxy-a".into(), "inst-1".into())
}

#[test]
fn full_batch_is_sealed_with_header_and_records_in_order() {
    let mut o = outbox(limits(3, 1000, 1 << 20));
    for n in 0..3 {
        push(&mut o, &record(n), 5);
    }
    let (seq, bytes) = o.next_unsent().unwrap();
    assert_eq!(seq, 1);
    let b = decode_batch(bytes);
    assert_eq!(b.proxy_id, "proxy-a");
    assert_eq!(b.instance_id, "inst-1");
    assert_eq!(b.seq, 1);
    assert!(b.gap.is_none());
    let ids: Vec<_> = b
        .records
        .iter()
        .map(|r| r.correlation_id.as_str())
        .collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2"]);
}

#[test]
fn partial_batch_is_sealed_only_when_old_enough() {
    let mut o = outbox(limits(64, 100, 1 << 20));
    push(&mut o, &record(1), 1_000);
    o.seal_due(1_050);
    assert!(o.next_unsent().is_none());
    o.seal_due(1_100);
    assert_eq!(o.next_unsent().map(|(s, _)| s), Some(1));
    // Nothing open: no empty batches.
    o.seal_due(5_000);
    o.mark_sent(1);
    assert!(o.next_unsent().is_none());
}

#[test]
fn ack_releases_batches_up_to_seq_and_counts_records() {
    let mut o = outbox(limits(2, 1000, 1 << 20));
    for n in 0..6 {
        push(&mut o, &record(n), 0);
    }
    assert_eq!(o.pending_records(), 6);
    assert_eq!(o.on_ack(2, 0), 4);
    assert_eq!(o.pending_records(), 2);
    assert_eq!(o.next_unsent().map(|(s, _)| s), Some(3));
    assert_eq!(o.on_ack(2, 0), 0, "a repeated ack confirms nothing new");
    assert_eq!(o.on_ack(3, 0), 2);
    assert!(!o.has_unacked());
    assert_eq!(o.buffered_bytes(), 0);
}

#[test]
fn disconnect_makes_unacked_batches_unsent_again_in_order() {
    let mut o = outbox(limits(1, 1000, 1 << 20));
    for n in 0..3 {
        push(&mut o, &record(n), 0);
    }
    for seq in 1..=3 {
        o.mark_sent(seq);
    }
    assert!(o.next_unsent().is_none());
    o.on_ack(1, 0);
    o.on_disconnect();
    assert_eq!(o.next_unsent().map(|(s, _)| s), Some(2));
    o.mark_sent(2);
    assert_eq!(o.next_unsent().map(|(s, _)| s), Some(3));
}

#[test]
fn over_the_bound_oldest_batches_are_dropped_counted_and_reported_in_a_gap() {
    let one = {
        let mut o = outbox(limits(1, 1000, 1 << 20));
        push(&mut o, &record(0), 0);
        o.buffered_bytes()
    };
    // Room for about three one-record batches.
    let mut o = outbox(limits(1, 1000, one * 3 + one / 2));
    let mut dropped = Dropped::default();
    for n in 0..10 {
        let d = push(&mut o, &record(n), 0);
        dropped.records += d.records;
        dropped.batches += d.batches;
    }
    assert!(o.buffered_bytes() <= one * 3 + one / 2);
    assert_eq!(dropped.records, 10 - o.pending_records());
    assert!(dropped.records >= 6, "dropped {dropped:?}");
    // Each lost record is reported once: in a surviving batch's gap
    // notice or, failing that, in the next batch sealed.
    let mut reported = 0;
    let mut delivered = 0;
    while let Some((seq, bytes)) = o.next_unsent() {
        let b = decode_batch(bytes);
        reported += b.gap.map_or(0, |g| g.dropped_records);
        delivered += b.records.len() as u64;
        o.mark_sent(seq);
    }
    o.on_ack(u64::MAX, 0);
    push(&mut o, &record(99), 0);
    let b = decode_batch(o.next_unsent().unwrap().1);
    reported += b.gap.map_or(0, |g| g.dropped_records);
    assert_eq!(reported, dropped.records);
    assert_eq!(delivered + dropped.records, 10);
    assert_eq!(b.records[0].correlation_id, "req-99");
}

#[test]
fn dropped_gap_notice_is_carried_forward() {
    let one = {
        let mut o = outbox(limits(1, 1000, 1 << 20));
        push(&mut o, &record(0), 0);
        o.buffered_bytes()
    };
    let mut o = outbox(limits(1, 1000, one * 2 + one / 2));
    // Every push from the third on drops the oldest batch, including
    // batches that themselves carry a gap notice.
    let mut dropped = 0;
    for n in 0..6 {
        dropped += push(&mut o, &record(n), 0).records;
    }
    dropped += push(&mut o, &record(6), 0).records;
    let mut delivered = Vec::new();
    let mut reported = 0;
    while let Some((seq, bytes)) = o.next_unsent() {
        let b = decode_batch(bytes);
        reported += b.gap.map_or(0, |g| g.dropped_records);
        delivered.extend(b.records.into_iter().map(|r| r.correlation_id));
        o.mark_sent(seq);
    }
    let lost = 7 - delivered.len() as u64;
    assert!(lost > 0);
    // Every lost record is reported exactly once in the surviving batches
    // or still pending for the next one.
    assert_eq!(
        reported + o.pending_gap.dropped_records,
        lost,
        "{delivered:?}"
    );
    assert_eq!(dropped, lost);
}

#[test]
fn gap_only_batch_is_sealed_when_nothing_else_carries_it() {
    let mut o = outbox(limits(64, 10, 200));
    // One huge record: the open batch alone exceeds the bound.
    let mut big = record(1);
    big.path = "x".repeat(1000);
    let d = push(&mut o, &big, 0);
    assert_eq!(d.records, 1);
    assert_eq!(o.pending_records(), 0);
    o.seal_due(1);
    let b = decode_batch(o.next_unsent().unwrap().1);
    assert!(b.records.is_empty());
    assert_eq!(b.gap.unwrap().dropped_records, 1);
}

#[test]
fn a_stall_counts_from_the_last_ack_that_released_a_batch() {
    let mut o = outbox(limits(1, 1000, 1 << 20));
    assert_eq!(o.stalled_for(5_000), 0, "nothing sealed, nothing waits");
    push(&mut o, &record(0), 1_000);
    push(&mut o, &record(1), 1_500);
    assert_eq!(o.stalled_for(4_000), 3_000);
    assert_eq!(o.on_ack(0, 4_000), 0);
    assert_eq!(o.stalled_for(5_000), 4_000, "an ack that releases nothing");
    assert_eq!(o.on_ack(1, 6_000), 1);
    assert_eq!(
        o.stalled_for(7_000),
        1_000,
        "progress, one batch still waits"
    );
    assert_eq!(o.on_ack(2, 8_000), 1);
    assert_eq!(o.stalled_for(9_000), 0);
    push(&mut o, &record(2), 9_000);
    assert_eq!(o.stalled_for(9_500), 500);
}

#[test]
fn dropping_batches_to_stay_bounded_is_no_progress() {
    let mut o = outbox(limits(1, 1000, 64 * 1024));
    let mut big = record(0);
    big.path = "p".repeat(40 * 1024);
    push(&mut o, &big, 1_000);
    let d = push(&mut o, &big, 2_000);
    assert_eq!(d.batches, 1);
    assert_eq!(o.stalled_for(3_000), 2_000);
}

#[test]
fn batch_is_sealed_at_the_byte_cap_before_max_records() {
    let mut o = outbox(limits(10_000, 60_000, 64 << 20));
    let mut big = record(0);
    big.path = "p".repeat(100 * 1024);
    for _ in 0..11 {
        push(&mut o, &big, 0);
    }
    let (_, bytes) = o.next_unsent().unwrap();
    assert!(bytes.len() < MAX_BATCH_BYTES + 110 * 1024);
    assert_eq!(decode_batch(bytes).records.len(), 11);
    assert_eq!(o.pending_records(), 11);
}

#[test]
fn heartbeat_has_seq_zero_and_identity() {
    let o = outbox(limits(1, 1000, 1 << 20));
    let b = AuditBatch::decode(o.heartbeat().as_slice()).unwrap();
    assert_eq!(
        (b.seq, b.proxy_id.as_str(), b.instance_id.as_str()),
        (0, "proxy-a", "inst-1")
    );
    assert!(b.records.is_empty() && b.gap.is_none());
}
