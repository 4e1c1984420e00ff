//! What can go wrong only with Loki: setting the sink up, and a write that
//! Loki never confirmed. A failed write reaches the WAL consumer as a
//! [`SinkError`], like any sink's.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::sink::SinkError;

/// Longest part of Loki's message repeated in a log line.
const MAX_LOGGED_MESSAGE: usize = 512;

#[derive(Debug, Error)]
pub enum LokiError {
    #[error("loki.{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot build the Loki HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("cannot open the Loki dead-letter file: {0}")]
    DeadLetter(SinkError),
    /// The collector is stopping while Loki still refuses or cannot be
    /// reached; the entries stay in the WAL and are pushed after the restart.
    #[error("{url}: not confirmed by Loki before shutdown")]
    Unconfirmed { url: String },
    #[error("stored line does not parse: {0}")]
    Decode(serde_json::Error),
    #[error("cannot compress a Loki push request: {0}")]
    Compress(std::io::Error),
}

impl From<LokiError> for SinkError {
    fn from(e: LokiError) -> Self {
        SinkError::Other(Arc::new(e))
    }
}

/// `text` cut to [`MAX_LOGGED_MESSAGE`] characters.
pub fn shorten(text: &str) -> &str {
    match text.char_indices().nth(MAX_LOGGED_MESSAGE) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
