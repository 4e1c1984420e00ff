//! The OTLP logs sink: exports every entry as an OpenTelemetry log record
//! (gRPC `LogsService/Export`, or HTTP `POST /v1/logs` with a protobuf
//! body), so that an OpenTelemetry Collector can forward the audit trail to
//! a SIEM (Splunk, Elastic) beside Loki. Like every sink it reads the WAL at
//! its own pace with its own cursor: `write` returns once the receiver
//! confirmed the entries, or refused them for good and they are fsynced in
//! the dead-letter file; until then the WAL keeps them for this sink.
//!
//! `write` ([`sink`]) → each line a log record ([`record`]) → requests of
//! `batch_max_records` → [`service`] (one attempt over gRPC or HTTP, what
//! the answer means, retries). [`config`] holds the `[otlp_logs]` table,
//! [`error`] what can go wrong only here.
//!
//! The records are built from `opentelemetry-proto`'s types and sent with
//! its generated client rather than through the SDK's log pipeline: the
//! SDK's batch processor answers before the receiver does and drops on
//! overflow, while a sink may only let the WAL move on once the receiver
//! has the records.

pub mod config;

mod error;
mod record;
mod service;
mod sink;

pub use self::config::SINK_NAME;
pub use self::error::OtlpLogsError;
pub use self::record::KIND;
pub use self::sink::OtlpLogsSink;
