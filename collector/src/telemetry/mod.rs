//! Self-telemetry: one Prometheus registry for the whole collector, and the
//! admin HTTP server ([`admin`]) that serves it as `/metrics` beside the
//! health endpoints `/healthz` and `/readyz` ([`health`]); [`otlp`] exports
//! the same registry, and the data path's spans, over OTLP.
//!
//! Adding a metric from another module: create it (any `prometheus_client`
//! metric: counter, gauge, histogram or a labelled `Family` of them), keep a
//! clone where it is updated, and register the other clone once at start:
//!
//! ```
//! use prometheus_client::metrics::counter::Counter;
//! use observatory_collector::telemetry::Telemetry;
//!
//! let telemetry = Telemetry::new();
//! let alerts_sent = Counter::<u64>::default();
//! // Exported as `observatory_alerts_sent_total`.
//! telemetry.register("alerts_sent", "Alerts delivered to webhooks", alerts_sent.clone());
//! alerts_sent.inc();
//! assert!(telemetry.encode().contains("observatory_alerts_sent_total 1"));
//! ```

pub mod admin;
pub mod health;
pub mod otlp;

use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::prometheus_protobuf;
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry};

/// Prefix of every metric name.
const PREFIX: &str = "observatory";

/// Target of the data path's spans (a batch from receipt to ack, a sink's
/// write, a Loki push): debug level, so that they cost nothing unless
/// exported ([`otlp`]) or asked for with `RUST_LOG`. Their numbers are
/// recorded as `i64`, the integer of OTLP attributes (a `u64` would arrive
/// as a string).
pub const DATA_PATH: &str = "observatory::data_path";

/// The registry behind `/metrics`. Shared as `Arc<Telemetry>`; registering
/// takes `&self`, so modules can add metrics whenever they are set up.
#[derive(Debug)]
pub struct Telemetry {
    registry: Mutex<Registry>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        Telemetry {
            registry: Mutex::new(Registry::with_prefix(PREFIX)),
        }
    }

    /// Exports `metric` as `observatory_<name>` (counters get `_total`
    /// appended). `name` is snake_case and ends in its unit where it has one
    /// (`_seconds`, `_bytes`); register each name once.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// [`Telemetry::register`] for each `(metric, name, help)`: a module
    /// lists its metrics of one kind in one table.
    pub fn register_all<M: Metric + Clone>(&self, metrics: &[(&M, &str, &str)]) {
        let mut registry = self.lock();
        for (metric, name, help) in metrics {
            registry.register(*name, *help, (*metric).clone());
        }
    }

    /// The OpenMetrics text exposition of every registered metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an error would only mean a
        // metric's own encoder failed, and then the partial text is still
        // the most useful answer.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.lock()) {
            tracing::warn!("encoding metrics failed: {e}");
        }
        text
    }

    /// Every registered metric as structured data, for the OTLP export.
    pub fn families(&self) -> Vec<MetricFamily> {
        prometheus_protobuf::encode(&self.lock()).unwrap_or_else(|e| {
            tracing::warn!("encoding metrics failed: {e}");
            Vec::new()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while registering leaves the registry usable.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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

/// A series of a labelled family, as the count the metric's owner adds to.
impl From<PromCounter> for Counter {
    fn from(counter: PromCounter) -> Self {
        Counter(counter)
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
