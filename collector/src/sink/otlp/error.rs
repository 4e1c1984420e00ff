//! What can go wrong only in the OTLP logs sink.

use std::sync::Arc;

use thiserror::Error;

use crate::sink::SinkError;

#[derive(Debug, Error)]
pub enum OtlpLogsError {
    #[error("[otlp_logs] {key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("OTLP logs dead-letter file: {0}")]
    DeadLetter(SinkError),
    #[error("cannot build the OTLP HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("{endpoint}: OTLP logs export not confirmed (stopping)")]
    Unconfirmed { endpoint: String },
}

impl From<OtlpLogsError> for SinkError {
    fn from(error: OtlpLogsError) -> Self {
        SinkError::Other(Arc::new(error))
    }
}
