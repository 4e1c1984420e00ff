//! An OTLP/gRPC receiver on 127.0.0.1:0 (traces and metrics) that keeps
//! everything it is sent, and one that accepts connections but never
//! answers.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, HistogramDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Received {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT`, for `--otlp-endpoint`.
    pub url: String,
    received: Arc<Received>,
    server: JoinHandle<()>,
}

/// A service that keeps each request in `Received::$field` and answers
/// with an empty response.
macro_rules! keeping {
    ($keeper:ident, $service:ident, $field:ident, $request:ty, $response:ty) => {
        struct $keeper(Arc<Received>);

        #[tonic::async_trait]
        impl $service for $keeper {
            async fn export(
                &self,
                request: Request<$request>,
            ) -> Result<Response<$response>, Status> {
                self.0.$field.lock().unwrap().push(request.into_inner());
                Ok(Response::new(<$response>::default()))
            }
        }
    };
}

keeping!(
    Traces,
    TraceService,
    traces,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse
);
keeping!(
    Metrics,
    MetricsService,
    metrics,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse
);

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Received::default());
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Traces(received.clone())))
            .add_service(MetricsServiceServer::new(Metrics(received.clone())))
            .serve_with_incoming(TcpIncoming::from(listener));
        let server = tokio::spawn(async move {
            server.await.unwrap();
        });
        Receiver {
            url,
            received,
            server,
        }
    }

    /// Every span received, with the resource it came with.
    pub fn spans(&self) -> Vec<(Resource, Span)> {
        let traces = self.received.traces.lock().unwrap();
        let mut spans = Vec::new();
        for request in traces.iter() {
            for resource in &request.resource_spans {
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        spans.push((resource.resource.clone().unwrap_or_default(), span.clone()));
                    }
                }
            }
        }
        spans
    }

    /// The value of the sum or gauge `name` whose attributes include
    /// `attributes`, in the latest export that had it.
    pub fn number(&self, name: &str, attributes: &[(&str, &str)]) -> Option<f64> {
        self.latest(name, |data| {
            let points = match data {
                metric::Data::Sum(sum) => &sum.data_points,
                metric::Data::Gauge(gauge) => &gauge.data_points,
                _ => return None,
            };
            let point = points.iter().find(|p| has(&p.attributes, attributes))?;
            match point.value? {
                number_data_point::Value::AsDouble(v) => Some(v),
                number_data_point::Value::AsInt(v) => Some(v as f64),
            }
        })
    }

    /// The histogram point of `name` with `attributes`, in the latest export
    /// that had it.
    pub fn histogram(&self, name: &str, attributes: &[(&str, &str)]) -> Option<HistogramDataPoint> {
        self.latest(name, |data| match data {
            metric::Data::Histogram(h) => h
                .data_points
                .iter()
                .find(|p| has(&p.attributes, attributes))
                .cloned(),
            _ => None,
        })
    }

    fn latest<T>(&self, name: &str, pick: impl Fn(&metric::Data) -> Option<T>) -> Option<T> {
        let metrics = self.received.metrics.lock().unwrap();
        metrics.iter().rev().find_map(|request| {
            request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .filter(|m| m.name == name)
                .find_map(|m| pick(m.data.as_ref()?))
        })
    }

    /// The resource of the latest metrics export.
    pub fn metrics_resource(&self) -> Option<Resource> {
        let metrics = self.received.metrics.lock().unwrap();
        metrics.last()?.resource_metrics.first()?.resource.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The string value of attribute `key`.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The integer value of attribute `key`.
pub fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn has(attributes: &[KeyValue], wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(key, value)| attribute(attributes, key) == Some(*value))
}

/// Accepts TCP connections on 127.0.0.1:0 and never answers on them: an
/// OTLP endpoint that is up but hung.
pub struct Blackhole {
    pub url: String,
    task: JoinHandle<()>,
}

impl Blackhole {
    pub async fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Blackhole { url, task }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}
