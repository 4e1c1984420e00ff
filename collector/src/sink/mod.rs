//! Where stored entries go. Every sink reads the same entries in the same
//! order from the WAL ([`crate::wal`]), at its own pace; the ingest acks a
//! batch once it is in the WAL, not once sinks have it.

pub mod jsonl;
pub mod loki;
pub mod metrics;
pub mod net;
pub mod otlp;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;

use crate::trail::Lines;

/// A destination for entries. Object-safe so that the ingest can hold a list
/// of different sinks (JSON lines, Loki, OTLP logs).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Stores `entries` in order and returns once they are durable: the
    /// WAL then moves this sink's cursor past them and may delete them.
    async fn write(&self, lines: &Lines) -> Result<(), SinkError>;
}

/// Causes are part of each message, as these end up in single log lines.
/// Clone, because one failed write can fail several waiting callers.
#[derive(Debug, Clone, Error)]
pub enum SinkError {
    #[error("cannot encode entry: {0}")]
    Encode(Arc<serde_json::Error>),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        /// Shared: one failed group commit fails every batch in it.
        error: Arc<std::io::Error>,
    },
    #[error("{0}: writer has stopped")]
    Stopped(PathBuf),
    /// What only one kind of sink meets ([`loki::LokiError`],
    /// [`otlp::OtlpLogsError`]).
    #[error(transparent)]
    Other(Arc<dyn std::error::Error + Send + Sync>),
}
