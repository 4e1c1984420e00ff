//! Counters of what the ingest and the sinks did: exported on `/metrics`
//! (see [`crate::telemetry`]), logged in the shutdown summary and read by
//! tests through [`Stats::snapshot`].

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;

use crate::telemetry::Telemetry;

/// A monotonically increasing count; clones share the count.
#[derive(Debug, Default, Clone)]
pub struct Counter(PromCounter);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// Exported as the counter it wraps (`observatory_<name>_total`).
impl EncodeMetric for Counter {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
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
    /// Push attempts that failed and will be retried (429, 5xx, network).
    pub loki_push_retries: Counter,
    /// Entries whose labels were collapsed to `_overflow` by `max_label_sets`.
    pub loki_label_overflows: Counter,
    /// Entries sent to a `late` stream: too far behind their own stream.
    pub loki_late_entries: Counter,
    /// Records the collector's re-redaction had to change.
    pub records_redacted: Counter,
    /// Findings the collector's re-redaction added (beyond the filter's).
    pub redactions_added: Counter,
    /// Per-sink delivery metrics, labelled `sink="<name>"`.
    pub sinks: SinkFamilies,
}

/// The per-sink metric families; [`SinkFamilies::sink`] hands one sink its
/// series.
#[derive(Debug)]
pub struct SinkFamilies {
    confirmed: Family<SinkLabel, PromCounter>,
    retried: Family<SinkLabel, PromCounter>,
    dead_lettered: Family<SinkLabel, PromCounter>,
    backlog_age: Family<SinkLabel, Gauge<f64, AtomicU64>>,
    push_latency: Family<SinkLabel, Histogram>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

impl Default for SinkFamilies {
    fn default() -> Self {
        SinkFamilies {
            confirmed: Family::default(),
            retried: Family::default(),
            dead_lettered: Family::default(),
            backlog_age: Family::default(),
            push_latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// 0.5 ms to ~16 s: a local fsync at the low end, a Loki push under
/// backoff at the high end.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// One sink's series of the [`SinkFamilies`]; clones share them.
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    /// Records the sink stored for good.
    pub confirmed: Counter,
    /// Records in a delivery attempt that failed and will be retried.
    pub retried: Counter,
    /// Records the destination refused for good, kept in a dead-letter file.
    pub dead_lettered: Counter,
    /// Seconds since the oldest record the sink has not yet confirmed was
    /// accepted; 0 when it is caught up.
    pub backlog_age: Gauge<f64, AtomicU64>,
    /// Seconds one delivery attempt took (a push, or a write and fsync).
    pub push_latency: Histogram,
}

impl SinkFamilies {
    pub fn sink(&self, name: &str) -> SinkMetrics {
        let label = SinkLabel {
            sink: name.to_owned(),
        };
        SinkMetrics {
            confirmed: Counter(self.confirmed.get_or_create(&label).clone()),
            retried: Counter(self.retried.get_or_create(&label).clone()),
            dead_lettered: Counter(self.dead_lettered.get_or_create(&label).clone()),
            backlog_age: self.backlog_age.get_or_create(&label).clone(),
            push_latency: self.push_latency.get_or_create(&label).clone(),
        }
    }
}

/// The count of `sink` in `family`, without creating its series.
fn count(family: &Family<SinkLabel, PromCounter>, sink: &str) -> u64 {
    let label = SinkLabel {
        sink: sink.to_owned(),
    };
    family.get(&label).map_or(0, |c| c.get())
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
    pub loki_late_entries: u64,
    pub records_redacted: u64,
    pub redactions_added: u64,
}

impl Stats {
    /// Puts every counter on `telemetry`'s `/metrics`.
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.batches_received,
                "batches_received",
                "Batches received",
            ),
            (
                &self.batches_written,
                "batches_written",
                "Batches stored and acknowledged",
            ),
            (
                &self.records_written,
                "records_written",
                "Records stored and acknowledged",
            ),
            (
                &self.batches_duplicate,
                "batches_duplicate",
                "Resent batches that were stored already (acked, not stored again)",
            ),
            (
                &self.batches_rejected,
                "batches_rejected",
                "Batches refused as invalid or over size (their stream ended)",
            ),
            (
                &self.seq_jumps,
                "seq_jumps",
                "Batches whose sequence number skipped batches",
            ),
            (
                &self.gaps_written,
                "gaps_written",
                "Gap notices written for records lost before the collector",
            ),
            (
                &self.senders_evicted,
                "senders_evicted",
                "Senders forgotten by the bounded dedupe table",
            ),
            (
                &self.loki_push_retries,
                "loki_push_retries",
                "Loki push attempts that failed and are retried",
            ),
            (
                &self.loki_label_overflows,
                "loki_label_overflows",
                "Loki entries whose labels were collapsed to _overflow",
            ),
            (
                &self.loki_late_entries,
                "loki_late_entries",
                "Loki entries sent to a late stream, too far behind their own stream",
            ),
            (
                &self.records_redacted,
                "records_redacted",
                "Records the collector's re-redaction changed",
            ),
            (
                &self.redactions_added,
                "redactions_added",
                "Findings the collector's re-redaction added beyond the filter's",
            ),
        ]);
        let sinks = &self.sinks;
        telemetry.register_all(&[
            (
                &sinks.confirmed,
                "sink_records_confirmed",
                "Records a sink stored for good",
            ),
            (
                &sinks.retried,
                "sink_records_retried",
                "Records in sink delivery attempts that failed and are retried",
            ),
            (
                &sinks.dead_lettered,
                "sink_records_dead_lettered",
                "Records a sink's destination refused for good (kept in a dead-letter file)",
            ),
        ]);
        telemetry.register(
            "sink_backlog_age_seconds",
            "Age of the oldest record a sink has not confirmed yet (0 when caught up)",
            sinks.backlog_age.clone(),
        );
        telemetry.register(
            "sink_push_latency_seconds",
            "Duration of one sink delivery attempt",
            sinks.push_latency.clone(),
        );
    }

    pub fn snapshot(&self) -> Snapshot {
        let loki = crate::sink::loki::SINK_NAME;
        Snapshot {
            batches_received: self.batches_received.get(),
            batches_written: self.batches_written.get(),
            records_written: self.records_written.get(),
            batches_duplicate: self.batches_duplicate.get(),
            batches_rejected: self.batches_rejected.get(),
            seq_jumps: self.seq_jumps.get(),
            gaps_written: self.gaps_written.get(),
            senders_evicted: self.senders_evicted.get(),
            loki_entries_confirmed: count(&self.sinks.confirmed, loki),
            loki_push_retries: self.loki_push_retries.get(),
            loki_entries_dead_lettered: count(&self.sinks.dead_lettered, loki),
            loki_label_overflows: self.loki_label_overflows.get(),
            loki_late_entries: self.loki_late_entries.get(),
            records_redacted: self.records_redacted.get(),
            redactions_added: self.redactions_added.get(),
        }
    }
}
