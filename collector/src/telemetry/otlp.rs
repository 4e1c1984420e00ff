//! The collector's own traces and metrics over OTLP/gRPC, when an endpoint
//! is configured (`--otlp-endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! - Traces: the data path's spans ([`super::DATA_PATH`]: a batch from
//!   receipt through validation and the WAL append to its ack, a sink's
//!   write, a Loki push, each with its outcome) and the warnings logged
//!   inside them, through `tracing-opentelemetry` and the SDK's batch span
//!   processor. Its queue is bounded: when the endpoint is slow or gone,
//!   spans are dropped, the ingest never waits.
//! - Metrics: every metric of `/metrics`, read from the same registry
//!   ([`Telemetry::families`]) every `metrics_interval` and pushed as
//!   cumulative OTLP sums, gauges and histograms (same names, buckets and
//!   labels). The registry is translated here rather than mirrored into SDK
//!   instruments: the SDK has no asynchronous histogram and its metric data
//!   cannot be built outside it, and a second set of instruments would be a
//!   second list to keep in step.
//!
//! A failed export is counted (`observatory_otlp_export_failures_total`,
//! by `signal`) and logged at most once a minute. [`Otlp::shutdown`]
//! pushes the final metrics and flushes the spans, each bounded by the
//! export timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as prom;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tracing::warn;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use url::Url;

use super::{Telemetry, DATA_PATH};

/// Instrumentation scope of everything exported.
const SCOPE: &str = "observatory-collector";
/// Spans waiting for export; more are dropped.
const SPAN_QUEUE: usize = 4096;
/// A failed export is logged at most this often (all are counted).
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Where and how the collector exports its own telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// An OTLP/gRPC receiver, e.g. `http://otel-collector:4317`.
    pub endpoint: Url,
    /// `service.name` of the resource.
    pub service_name: String,
    /// More resource attributes (`deployment.environment`, …).
    pub resource_attributes: Vec<(String, String)>,
    /// Time between two metric exports.
    pub metrics_interval: Duration,
    /// Longest one export may take.
    pub timeout: Duration,
}

#[derive(Debug, Error)]
pub enum OtlpError {
    #[error("OTLP endpoint {endpoint}: {error}")]
    Endpoint {
        endpoint: Url,
        error: tonic::transport::Error,
    },
    #[error("cannot set up the OTLP span exporter: {0}")]
    Spans(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The running export; see the module docs.
pub struct Otlp {
    tracer_provider: SdkTracerProvider,
    metrics: JoinHandle<()>,
    stop_metrics: CancellationToken,
}

impl Otlp {
    /// Starts the span exporter and the metric pushes (the first after one
    /// interval). Needs a Tokio runtime; connects lazily, so an endpoint
    /// that is down does not stop the collector from starting.
    pub fn start(config: &OtlpConfig, telemetry: Arc<Telemetry>) -> Result<Otlp, OtlpError> {
        let failures = Arc::new(Failures::default());
        telemetry.register(
            "otlp_export_failures",
            "OTLP exports that failed or timed out, by signal (traces, metrics)",
            failures.counts.clone(),
        );
        let mut attributes = vec![KeyValue::new("service.name", config.service_name.clone())];
        attributes.extend(
            config
                .resource_attributes
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        );
        let resource = Resource::builder_empty()
            .with_attributes(attributes)
            .build();

        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.as_str())
            .with_timeout(config.timeout)
            .build()?;
        let processor = BatchSpanProcessor::builder(Counted {
            inner: spans,
            failures: failures.clone(),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(SPAN_QUEUE)
                .build(),
        )
        .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource.clone())
            .build();

        let channel = Endpoint::from_shared(config.endpoint.to_string())
            .map_err(|error| OtlpError::Endpoint {
                endpoint: config.endpoint.clone(),
                error,
            })?
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .connect_lazy();
        let push = MetricsPush {
            client: MetricsServiceClient::new(channel),
            telemetry,
            resource: ProtoResource {
                attributes: resource
                    .iter()
                    .map(|(key, value)| attribute(key.as_str(), value.as_str().into_owned()))
                    .collect(),
                ..Default::default()
            },
            start_nanos: nanos(SystemTime::now()),
            timeout: config.timeout,
            failures,
        };
        let stop_metrics = CancellationToken::new();
        let metrics = tokio::spawn(push.run(config.metrics_interval, stop_metrics.clone()));
        Ok(Otlp {
            tracer_provider,
            metrics,
            stop_metrics,
        })
    }

    /// The `tracing` layer that turns the data path's spans (and warnings
    /// inside them) into OTLP spans.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let filter = Targets::new()
            .with_target(DATA_PATH, tracing::Level::DEBUG)
            .with_default(tracing::Level::WARN);
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer_provider.tracer(SCOPE))
            .with_filter(filter)
    }

    /// Pushes the metrics a last time and flushes the spans.
    pub async fn shutdown(self) {
        self.stop_metrics.cancel();
        // The task only ends by the token; a panic in it is not ours to report.
        let _ = self.metrics.await;
        let provider = self.tracer_provider;
        // Blocks until the span exporter has sent or timed out.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("flushing spans over OTLP at shutdown failed: {e}"),
            Err(e) => warn!("flushing spans over OTLP at shutdown failed: {e}"),
        }
    }
}

/// Counts (and rarely logs) failed exports.
#[derive(Debug, Default)]
struct Failures {
    counts: Family<SignalLabel, Counter>,
    last_logged: Mutex<Option<Instant>>,
    /// Failures not logged since the last one that was.
    unlogged: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SignalLabel {
    signal: &'static str,
}

impl Failures {
    fn record(&self, signal: &'static str, error: &dyn std::fmt::Display) {
        self.counts.get_or_create(&SignalLabel { signal }).inc();
        let mut last = self
            .last_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < LOG_EVERY) {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        warn!(
            signal,
            failures_not_logged = unlogged,
            "OTLP export failed: {error}"
        );
    }
}

/// The OTLP span exporter, with its failures counted.
#[derive(Debug)]
struct Counted {
    inner: opentelemetry_otlp::SpanExporter,
    failures: Arc<Failures>,
}

impl SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            self.failures.record("traces", e);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Pushes the registry's metrics on a timer.
struct MetricsPush {
    client: MetricsServiceClient<Channel>,
    telemetry: Arc<Telemetry>,
    resource: ProtoResource,
    /// Start of every cumulative series: the collector's start.
    start_nanos: u64,
    timeout: Duration,
    failures: Arc<Failures>,
}

impl MetricsPush {
    async fn run(mut self, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.push().await,
                () = stop.cancelled() => break,
            }
        }
        self.push().await;
    }

    async fn push(&mut self) {
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: SCOPE.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    metrics: to_otlp(
                        self.telemetry.families(),
                        self.start_nanos,
                        nanos(SystemTime::now()),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        match tokio::time::timeout(self.timeout, self.client.export(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => self.failures.record("metrics", &status),
            Err(_) => self.failures.record(
                "metrics",
                &format_args!("no answer within {:?}", self.timeout),
            ),
        }
    }
}

/// The registry's metric families as OTLP metrics: counters become
/// monotonic cumulative sums (named without `_total`, which Prometheus
/// exporters append again), gauges gauges, histograms explicit-bucket
/// histograms.
fn to_otlp(families: Vec<prom::MetricFamily>, start: u64, now: u64) -> Vec<Metric> {
    families
        .into_iter()
        .filter_map(|family| {
            let kind = prom::MetricType::try_from(family.r#type).ok()?;
            let name = match kind {
                prom::MetricType::Counter => family
                    .name
                    .strip_suffix("_total")
                    .unwrap_or(&family.name)
                    .to_owned(),
                _ => family.name.clone(),
            };
            let series = family.metric;
            let data = match kind {
                prom::MetricType::Counter => metric::Data::Sum(Sum {
                    data_points: series
                        .iter()
                        .filter_map(|m| Some(number(m, m.counter.as_ref()?.value, start, now)))
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                prom::MetricType::Gauge => metric::Data::Gauge(Gauge {
                    data_points: series
                        .iter()
                        .filter_map(|m| Some(number(m, m.gauge.as_ref()?.value, start, now)))
                        .collect(),
                }),
                prom::MetricType::Histogram => metric::Data::Histogram(Histogram {
                    data_points: series
                        .iter()
                        .filter_map(|m| histogram(m, start, now))
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
                // Not used by the collector.
                _ => return None,
            };
            Some(Metric {
                name,
                description: family.help,
                unit: family.unit,
                data: Some(data),
                ..Default::default()
            })
        })
        .collect()
}

fn number(series: &prom::Metric, value: f64, start: u64, now: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: labels(series),
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// Prometheus buckets are cumulative and end with an unbounded one; OTLP
/// counts each bucket on its own and leaves the last bound implicit.
fn histogram(series: &prom::Metric, start: u64, now: u64) -> Option<HistogramDataPoint> {
    let h = series.histogram.as_ref()?;
    let mut explicit_bounds = Vec::with_capacity(h.bucket.len());
    let mut bucket_counts = Vec::with_capacity(h.bucket.len() + 1);
    let mut below = 0;
    for bucket in &h.bucket {
        if bucket.upper_bound.is_finite() && bucket.upper_bound < f64::MAX {
            explicit_bounds.push(bucket.upper_bound);
            bucket_counts.push(bucket.cumulative_count.saturating_sub(below));
            below = bucket.cumulative_count;
        }
    }
    bucket_counts.push(h.sample_count.saturating_sub(below));
    Some(HistogramDataPoint {
        attributes: labels(series),
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: h.sample_count,
        sum: Some(h.sample_sum),
        bucket_counts,
        explicit_bounds,
        ..Default::default()
    })
}

fn labels(series: &prom::Metric) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    series
        .label
        .iter()
        .map(|l| attribute(&l.name, l.value.clone()))
        .collect()
}

fn attribute(key: &str, value: String) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    opentelemetry_proto::tonic::common::v1::KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn nanos(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
