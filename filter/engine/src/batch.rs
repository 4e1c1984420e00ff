//! The per-VM outbox: records are encoded into batches with sequence numbers
//! and kept until the collector acknowledges them.
//!
//! Envoy's gRPC stream reports a send as successful even while the connection
//! is failing, so delivery is only known from the collector's acks. Memory is
//! bounded: over the bound the oldest batches are dropped, counted, and the
//! next batch carries an [`AuditGap`] so the loss is visible in the store.

use std::collections::VecDeque;

use observatory_proto::audit::{AuditBatch, AuditGap};
use prost::encoding;
use prost::Message;

use crate::config::BatchConfig;
use crate::record::RecordView;

/// Field numbers of `AuditBatch` (see `audit.proto`).
const BATCH_PROXY_ID: u32 = 1;
const BATCH_INSTANCE_ID: u32 = 2;
const BATCH_SEQ: u32 = 3;
const BATCH_RECORDS: u32 = 4;
const BATCH_GAP: u32 = 5;

/// A batch is sealed at this size whatever `maxRecords` says, so it stays
/// well inside the collector's message size limit (4 MiB by default).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// A batch that has been given its sequence number and encoded.
#[derive(Debug)]
struct Sealed {
    seq: u64,
    bytes: Vec<u8>,
    records: u64,
    /// The gap notice this batch carries; put back into the pending gap if
    /// the batch itself is dropped, so the notice is never lost.
    gap: AuditGap,
    sent: bool,
}

/// Counts of one call that changed what the outbox holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub records: u64,
    pub batches: u64,
}

/// Bounded buffer of audit batches for one sender (one Envoy worker VM).
#[derive(Debug)]
pub struct Outbox {
    limits: BatchConfig,
    proxy_id: String,
    instance_id: String,
    /// Encoded `records` fields of the batch being filled. The header fields
    /// are appended when it is sealed: protobuf accepts fields in any order,
    /// so sealing never copies the records.
    open: Vec<u8>,
    /// One record's encoding, reused: its length must precede it in `open`.
    scratch: Vec<u8>,
    open_records: u64,
    open_since_ms: u64,
    sealed: VecDeque<Sealed>,
    next_seq: u64,
    buffered_bytes: usize,
    pending_gap: AuditGap,
}

impl Outbox {
    pub fn new(limits: BatchConfig, proxy_id: String, instance_id: String) -> Self {
        Outbox {
            limits,
            proxy_id,
            instance_id,
            open: Vec::new(),
            scratch: Vec::new(),
            open_records: 0,
            open_since_ms: 0,
            sealed: VecDeque::new(),
            next_seq: 1,
            buffered_bytes: 0,
            pending_gap: AuditGap::default(),
        }
    }

    /// Adds a record; seals the batch when it is full. Returns what had to be
    /// dropped to stay within `maxBufferedBytes`.
    pub fn push(&mut self, record: &RecordView, now_ms: u64) -> Dropped {
        if self.open_records == 0 {
            self.open_since_ms = now_ms;
        }
        self.scratch.clear();
        record.encode_raw(&mut self.scratch);
        let before = self.open.len();
        encoding::encode_key(
            BATCH_RECORDS,
            encoding::WireType::LengthDelimited,
            &mut self.open,
        );
        encoding::encode_varint(self.scratch.len() as u64, &mut self.open);
        self.open.extend_from_slice(&self.scratch);
        self.buffered_bytes += self.open.len() - before;
        self.open_records += 1;
        if self.open_records >= self.limits.max_records as u64 || self.open.len() >= MAX_BATCH_BYTES
        {
            self.seal();
        }
        self.enforce_bound()
    }

    /// Seals the open batch once it is old enough, and emits a gap-only batch
    /// when records were dropped and nothing else would carry the notice.
    pub fn seal_due(&mut self, now_ms: u64) -> Dropped {
        let aged = now_ms.saturating_sub(self.open_since_ms) >= self.limits.max_age_ms;
        let gap_waiting = self.pending_gap.dropped_records > 0 && self.sealed.is_empty();
        if (self.open_records > 0 && aged) || gap_waiting {
            self.seal();
            return self.enforce_bound();
        }
        Dropped::default()
    }

    /// The oldest batch not yet sent on the current stream.
    pub fn next_unsent(&self) -> Option<(u64, &[u8])> {
        self.sealed
            .iter()
            .find(|b| !b.sent)
            .map(|b| (b.seq, b.bytes.as_slice()))
    }

    pub fn mark_sent(&mut self, seq: u64) {
        if let Some(b) = self.sealed.iter_mut().find(|b| b.seq == seq) {
            b.sent = true;
        }
    }

    /// Releases every batch up to and including `seq`; returns how many
    /// records the collector has now confirmed.
    pub fn on_ack(&mut self, seq: u64) -> u64 {
        let mut confirmed = 0;
        while let Some(b) = self.sealed.front() {
            if b.seq > seq {
                break;
            }
            confirmed += b.records;
            self.buffered_bytes -= b.bytes.len();
            self.sealed.pop_front();
        }
        confirmed
    }

    /// The stream is gone: everything unacknowledged must be sent again.
    pub fn on_disconnect(&mut self) {
        for b in &mut self.sealed {
            b.sent = false;
        }
    }

    /// Drops the oldest batch in flight, for a batch the collector refused as
    /// invalid: resending it would fail forever. Counted like any other drop.
    pub fn reject_oldest(&mut self) -> Dropped {
        let mut dropped = Dropped::default();
        self.drop_oldest_sealed(&mut dropped);
        dropped
    }

    /// First message on every new stream: asks the collector for its ack.
    pub fn heartbeat(&self) -> Vec<u8> {
        AuditBatch {
            proxy_id: self.proxy_id.clone(),
            instance_id: self.instance_id.clone(),
            seq: 0,
            records: Vec::new(),
            gap: None,
        }
        .encode_to_vec()
    }

    /// True when there is something sealed that the collector has not acked.
    pub fn has_unacked(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// True when batches were sent on the current stream and await an ack.
    pub fn has_in_flight(&self) -> bool {
        self.sealed.iter().any(|b| b.sent)
    }

    /// Records held (open or sealed, sent or not) that are not yet acked.
    pub fn pending_records(&self) -> u64 {
        self.open_records + self.sealed.iter().map(|b| b.records).sum::<u64>()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    fn seal(&mut self) {
        let mut bytes = std::mem::take(&mut self.open);
        let records = std::mem::take(&mut self.open_records);
        let gap = std::mem::take(&mut self.pending_gap);
        let seq = self.next_seq;
        self.next_seq += 1;
        let before = bytes.len();
        encoding::string::encode(BATCH_PROXY_ID, &self.proxy_id, &mut bytes);
        encoding::string::encode(BATCH_INSTANCE_ID, &self.instance_id, &mut bytes);
        encoding::uint64::encode(BATCH_SEQ, &seq, &mut bytes);
        if gap.dropped_records > 0 || gap.dropped_batches > 0 {
            encoding::message::encode(BATCH_GAP, &gap, &mut bytes);
        }
        self.buffered_bytes += bytes.len() - before;
        self.sealed.push_back(Sealed {
            seq,
            bytes,
            records,
            gap,
            sent: false,
        });
    }

    fn enforce_bound(&mut self) -> Dropped {
        let mut dropped = Dropped::default();
        while self.buffered_bytes > self.limits.max_buffered_bytes {
            if !self.drop_oldest_sealed(&mut dropped) {
                // Only the open batch is left and it alone is over the bound.
                dropped.records += self.open_records;
                self.pending_gap.dropped_records += self.open_records;
                self.buffered_bytes -= self.open.len();
                self.open.clear();
                self.open_records = 0;
                break;
            }
        }
        dropped
    }

    fn drop_oldest_sealed(&mut self, dropped: &mut Dropped) -> bool {
        let Some(b) = self.sealed.pop_front() else {
            return false;
        };
        self.buffered_bytes -= b.bytes.len();
        dropped.records += b.records;
        dropped.batches += 1;
        self.pending_gap.dropped_records += b.records + b.gap.dropped_records;
        self.pending_gap.dropped_batches += 1 + b.gap.dropped_batches;
        true
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(o.on_ack(2), 4);
        assert_eq!(o.pending_records(), 2);
        assert_eq!(o.next_unsent().map(|(s, _)| s), Some(3));
        assert_eq!(o.on_ack(2), 0, "a repeated ack confirms nothing new");
        assert_eq!(o.on_ack(3), 2);
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
        o.on_ack(1);
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
        o.on_ack(u64::MAX);
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
    fn reject_oldest_drops_the_head_and_reports_it() {
        let mut o = outbox(limits(1, 1000, 1 << 20));
        push(&mut o, &record(0), 0);
        push(&mut o, &record(1), 0);
        let d = o.reject_oldest();
        assert_eq!(
            d,
            Dropped {
                records: 1,
                batches: 1
            }
        );
        assert_eq!(o.next_unsent().map(|(s, _)| s), Some(2));
        o.on_ack(2);
        push(&mut o, &record(2), 0);
        let b = decode_batch(o.next_unsent().unwrap().1);
        assert_eq!(b.gap.unwrap().dropped_records, 1);
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
}
