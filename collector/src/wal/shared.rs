//! State shared by the appenders ([`super::Wal`]), the writer thread
//! ([`super::writer`]) and the consumers ([`super::consumer`]): the
//! segments on disk, the durable index, every sink's cursor, and the WAL's
//! metrics.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tokio::sync::watch;

use super::segment::{self, Segment};
use crate::telemetry::Telemetry;

/// WAL metrics on `/metrics`.
#[derive(Debug, Clone)]
pub(super) struct WalMetrics {
    pub(super) bytes: Gauge,
    pub(super) segments: Gauge,
    pub(super) records_appended: Counter,
    pub(super) appended_bytes: Counter,
    pub(super) full_rejections: Counter,
    pub(super) repaired_bytes: Counter,
    pub(super) fsync_latency: Histogram,
}

impl WalMetrics {
    pub(super) fn new(telemetry: &Telemetry) -> Self {
        let metrics = WalMetrics {
            bytes: Gauge::default(),
            segments: Gauge::default(),
            records_appended: Counter::default(),
            appended_bytes: Counter::default(),
            full_rejections: Counter::default(),
            repaired_bytes: Counter::default(),
            fsync_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        };
        telemetry.register_all(&[
            (&metrics.bytes, "wal_bytes", "Bytes of WAL segments on disk"),
            (&metrics.segments, "wal_segments", "WAL segments on disk"),
        ]);
        telemetry.register_all(&[
            (
                &metrics.records_appended,
                "wal_records_appended",
                "Batches appended to the WAL and fsynced",
            ),
            (
                &metrics.appended_bytes,
                "wal_appended_bytes",
                "Bytes appended to the WAL (records with their framing)",
            ),
            (
                &metrics.full_rejections,
                "wal_full_rejections",
                "Batches refused (not acked) because the WAL was full",
            ),
            (
                &metrics.repaired_bytes,
                "wal_repaired_bytes",
                "Bytes of torn or corrupt WAL tails cut off at start",
            ),
        ]);
        telemetry.register(
            "wal_fsync_latency_seconds",
            "Duration of one group commit (write and fsync)",
            metrics.fsync_latency.clone(),
        );
        metrics
    }
}

/// State shared by the appenders, the writer thread and the consumers.
pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) segments: Mutex<Vec<Segment>>,
    pub(super) used_bytes: AtomicU64,
    /// Highest durable index (0: none yet).
    pub(super) durable: watch::Sender<u64>,
    /// The last group commit succeeded.
    pub(super) healthy: AtomicBool,
    /// Persisted cursor of every sink.
    pub(super) cursors: Mutex<HashMap<String, u64>>,
    /// Confirmed index of every sink, persisted or not yet.
    pub(super) confirmed: Mutex<HashMap<String, u64>>,
    pub(super) metrics: WalMetrics,
}

impl Shared {
    pub(super) fn lock_segments(&self) -> MutexGuard<'_, Vec<Segment>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn push_segment(&self, segment: Segment) {
        let mut segments = self.lock_segments();
        segments.push(segment);
        self.metrics.segments.set(segments.len() as i64);
    }

    pub(super) fn add_bytes(&self, delta: i64) {
        let used = match delta >= 0 {
            true => {
                self.used_bytes
                    .fetch_add(delta.unsigned_abs(), Ordering::Relaxed)
                    + delta.unsigned_abs()
            }
            false => {
                self.used_bytes
                    .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed)
                    - delta.unsigned_abs()
            }
        };
        self.metrics.bytes.set(used as i64);
    }

    /// The segment holding `index`: its first index and path.
    pub(super) fn segment_for(&self, index: u64) -> Option<(u64, PathBuf)> {
        self.lock_segments()
            .iter()
            .find(|s| s.first <= index && index < s.next)
            .map(|s| (s.first, s.path.clone()))
    }

    pub(super) fn set_confirmed(&self, sink: &str, index: u64) {
        let mut confirmed = self
            .confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        confirmed.insert(sink.to_owned(), index);
    }

    pub(super) fn first_index(&self) -> Option<u64> {
        self.lock_segments().first().map(|s| s.first)
    }

    /// Persists `sink`'s cursor, then deletes every closed segment all sinks
    /// have confirmed (by their persisted cursors, so a crash in between
    /// never leaves a cursor pointing at deleted records it still needs).
    pub(super) fn confirm(&self, sink: &str, cursor: u64, sync: bool) -> std::io::Result<()> {
        segment::write_cursor(&self.dir, sink, cursor, sync)?;
        let min = {
            let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
            cursors.insert(sink.to_owned(), cursor);
            cursors.values().copied().min().unwrap_or(0)
        };
        let removable: Vec<Segment> = {
            let segments = self.lock_segments();
            let closed = segments.len().saturating_sub(1);
            segments[..closed]
                .iter()
                .take_while(|s| s.next <= min + 1)
                .cloned()
                .collect()
        };
        for done in &removable {
            std::fs::remove_file(&done.path)?;
            self.lock_segments().retain(|s| s.first != done.first);
            self.add_bytes(-(done.bytes as i64));
        }
        if !removable.is_empty() {
            self.metrics.segments.set(self.lock_segments().len() as i64);
        }
        Ok(())
    }
}
