//! The anomaly event: one anomalous principal-minute, as the live scorer
//! ([`super::live`]) reports it. The trail stores it as its own line and
//! the alerter ([`crate::alert`]) notifies on it, so it lives apart from
//! the scorer that makes it.

use serde::{Deserialize, Serialize};

use super::attribution::Reason;

/// Correlation ids of example records kept per anomaly event.
pub const EXAMPLE_IDS: usize = 5;

/// One anomalous principal-minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    /// The principal, or for plaintext traffic the source IP.
    pub principal: String,
    /// Destination workload of the highest-scoring record.
    pub destination: String,
    pub score: f64,
    /// Start of the minute (record time, RFC 3339).
    pub window_start: String,
    pub reasons: Vec<Reason>,
    /// Example records (up to [`EXAMPLE_IDS`]) that reached the threshold.
    pub correlation_ids: Vec<String>,
}
