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
    /// Since when sealed batches have waited without an ack that released
    /// any: `None` while nothing sealed waits.
    stalled_since_ms: Option<u64>,
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
            stalled_since_ms: None,
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
            self.seal(now_ms);
        }
        self.enforce_bound()
    }

    /// Seals the open batch once it is old enough, and emits a gap-only batch
    /// when records were dropped and nothing else would carry the notice.
    pub fn seal_due(&mut self, now_ms: u64) -> Dropped {
        let aged = now_ms.saturating_sub(self.open_since_ms) >= self.limits.max_age_ms;
        let gap_waiting = self.pending_gap.dropped_records > 0 && self.sealed.is_empty();
        if (self.open_records > 0 && aged) || gap_waiting {
            self.seal(now_ms);
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
    pub fn on_ack(&mut self, seq: u64, now_ms: u64) -> u64 {
        let mut confirmed = 0;
        let mut released = false;
        while let Some(b) = self.sealed.front() {
            if b.seq > seq {
                break;
            }
            confirmed += b.records;
            self.buffered_bytes -= b.bytes.len();
            self.sealed.pop_front();
            released = true;
        }
        if released {
            self.stalled_since_ms = (!self.sealed.is_empty()).then_some(now_ms);
        }
        confirmed
    }

    /// How long sealed batches have waited without progress: since the
    /// last ack that released a batch, or since a batch was sealed into an
    /// empty outbox; 0 while nothing waits. Dropping batches to stay
    /// within the bound is no progress.
    pub fn stalled_for(&self, now_ms: u64) -> u64 {
        self.stalled_since_ms
            .map_or(0, |since| now_ms.saturating_sub(since))
    }

    /// The stream is gone: everything unacknowledged must be sent again.
    pub fn on_disconnect(&mut self) {
        for b in &mut self.sealed {
            b.sent = false;
        }
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

    fn seal(&mut self, now_ms: u64) {
        self.stalled_since_ms.get_or_insert(now_ms);
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
mod tests;
