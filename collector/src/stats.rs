//! Counters of what the ingest and the sinks did, for the shutdown summary
//! and for tests (Prometheus export comes later).

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub batches_received: Counter,
    pub batches_written: Counter,
    pub records_written: Counter,
    /// Resends of batches already stored (acked, not written again).
    pub batches_duplicate: Counter,
    /// Batches that failed validation (their stream ended).
    pub batches_rejected: Counter,
    /// Batches whose seq skipped numbers.
    pub seq_jumps: Counter,
    pub gaps_written: Counter,
    /// Senders forgotten by the bounded dedupe table.
    pub senders_evicted: Counter,
    /// Loki entries (lines) Loki confirmed with a 2xx.
    pub loki_entries_confirmed: Counter,
    /// Push attempts that failed and will be retried (429, 5xx, network).
    pub loki_push_retries: Counter,
    /// Loki entries Loki refused (400, 413, 422), written to the dead-letter file.
    pub loki_entries_dead_lettered: Counter,
    /// Entries whose labels were collapsed to `_overflow` by `max_label_sets`.
    pub loki_label_overflows: Counter,
    /// Records the collector's re-redaction had to change.
    pub records_redacted: Counter,
    /// Findings the collector's re-redaction added (beyond the filter's).
    pub redactions_added: Counter,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub batches_received: u64,
    pub batches_written: u64,
    pub records_written: u64,
    pub batches_duplicate: u64,
    pub batches_rejected: u64,
    pub seq_jumps: u64,
    pub gaps_written: u64,
    pub senders_evicted: u64,
    pub loki_entries_confirmed: u64,
    pub loki_push_retries: u64,
    pub loki_entries_dead_lettered: u64,
    pub loki_label_overflows: u64,
    pub records_redacted: u64,
    pub redactions_added: u64,
}

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            batches_received: self.batches_received.get(),
            batches_written: self.batches_written.get(),
            records_written: self.records_written.get(),
            batches_duplicate: self.batches_duplicate.get(),
            batches_rejected: self.batches_rejected.get(),
            seq_jumps: self.seq_jumps.get(),
            gaps_written: self.gaps_written.get(),
            senders_evicted: self.senders_evicted.get(),
            loki_entries_confirmed: self.loki_entries_confirmed.get(),
            loki_push_retries: self.loki_push_retries.get(),
            loki_entries_dead_lettered: self.loki_entries_dead_lettered.get(),
            loki_label_overflows: self.loki_label_overflows.get(),
            records_redacted: self.records_redacted.get(),
            redactions_added: self.redactions_added.get(),
        }
    }
}
