//! Delivery metrics of every sink, one series per sink (`sink="<name>"`):
//! the server registers the families once, and each sink (and its WAL
//! consumer, for the backlog age) updates its own series.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::telemetry::{Counter, Telemetry};

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
    /// Puts every family on `telemetry`'s `/metrics`.
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.confirmed,
                "sink_records_confirmed",
                "Records a sink stored for good",
            ),
            (
                &self.retried,
                "sink_records_retried",
                "Records in sink delivery attempts that failed and are retried",
            ),
            (
                &self.dead_lettered,
                "sink_records_dead_lettered",
                "Records a sink's destination refused for good (kept in a dead-letter file)",
            ),
        ]);
        telemetry.register(
            "sink_backlog_age_seconds",
            "Age of the oldest record a sink has not confirmed yet (0 when caught up)",
            self.backlog_age.clone(),
        );
        telemetry.register(
            "sink_push_latency_seconds",
            "Duration of one sink delivery attempt",
            self.push_latency.clone(),
        );
    }

    pub fn sink(&self, name: &str) -> SinkMetrics {
        let label = SinkLabel {
            sink: name.to_owned(),
        };
        SinkMetrics {
            confirmed: Counter::from(self.confirmed.get_or_create(&label).clone()),
            retried: Counter::from(self.retried.get_or_create(&label).clone()),
            dead_lettered: Counter::from(self.dead_lettered.get_or_create(&label).clone()),
            backlog_age: self.backlog_age.get_or_create(&label).clone(),
            push_latency: self.push_latency.get_or_create(&label).clone(),
        }
    }

    /// Records `sink` has confirmed, without creating its series.
    pub fn confirmed_by(&self, sink: &str) -> u64 {
        count(&self.confirmed, sink)
    }

    /// Records `sink` has dead-lettered, without creating its series.
    pub fn dead_lettered_by(&self, sink: &str) -> u64 {
        count(&self.dead_lettered, sink)
    }
}

/// The count of `sink` in `family`, without creating its series.
fn count(family: &Family<SinkLabel, PromCounter>, sink: &str) -> u64 {
    let label = SinkLabel {
        sink: sink.to_owned(),
    };
    family.get(&label).map_or(0, |c| c.get())
}
