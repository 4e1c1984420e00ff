//! Where stored entries go. Every sink reads the same entries in the same
//! order from the WAL ([`crate::wal`]), at its own pace; the ingest acks a
//! batch once it is in the WAL, not once sinks have it.

pub mod jsonl;
pub mod loki;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use observatory_engine::record::CanonicalRecord;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "records are nearly every entry; boxing them would cost an allocation each"
)]
pub enum Entry {
    /// Serialises as exactly the canonical record JSON.
    Record(CanonicalRecord),
    Gap(GapNotice),
    Anomaly(AnomalyNotice),
    Checkpoint(CheckpointNotice),
}

/// A signed checkpoint of one proxy's chain ([`crate::chain`]), as its own
/// line: `{"ts", "proxy_id", "checkpoint": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointNotice {
    pub ts: String,
    pub proxy_id: String,
    pub checkpoint: crate::chain::Checkpoint,
}

/// An entry as the WAL holds it: its line in the trail, exactly as sinks
/// store it (with `seq` and `chain` where chained), and the entry read
/// from that line for what sinks derive from it (Loki labels, metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub entry: Entry,
    pub line: String,
}

impl Stored {
    /// Reads an entry back from its stored line.
    pub fn parse(line: &str) -> Result<Stored, serde_json::Error> {
        Ok(Stored {
            entry: serde_json::from_str(line)?,
            line: line.to_owned(),
        })
    }
}

/// Records a sender lost before they reached the collector, made visible in
/// the trail: `{"ts", "proxy_id", "audit_gap": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapNotice {
    /// When the collector received the batch (RFC 3339 UTC, nanoseconds).
    pub ts: String,
    pub proxy_id: String,
    pub audit_gap: GapDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapDetail {
    pub instance_id: String,
    /// The batch that reported or revealed the gap.
    pub seq: u64,
    /// As counted by the sender (`AuditGap`), 0 when it reported none.
    pub dropped_records: u64,
    pub dropped_batches: u64,
    /// Sequence numbers skipped before `seq`, when the seq jumped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_seq_from: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_seq_to: Option<u64>,
}

/// A principal's window that scored at or above the alert threshold, as
/// its own line: `{"ts", "anomaly": {...}}` (Loki stream
/// `{job="observatory", kind="anomaly"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyNotice {
    /// Record time of the first record that crossed the threshold.
    pub ts: String,
    pub anomaly: crate::score::live::AnomalyEvent,
}

/// A destination for entries. Object-safe so that the ingest can hold a list
/// of different sinks (JSON lines, Loki).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Stores `entries` in order and returns once they are durable: the
    /// WAL then moves this sink's cursor past them and may delete them.
    async fn write(&self, entries: &[Stored]) -> Result<(), SinkError>;
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
    /// The collector is stopping while Loki still refuses or cannot be
    /// reached; the entries stay in the WAL and are pushed after the restart.
    #[error("{url}: not confirmed by Loki before shutdown")]
    Unconfirmed { url: String },
    #[error("cannot compress a Loki push request: {0}")]
    Compress(Arc<std::io::Error>),
}
