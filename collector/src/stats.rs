//! Counters of what the ingest did, for the shutdown summary and for tests
//! (Prometheus export comes later).

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
        }
    }
}
