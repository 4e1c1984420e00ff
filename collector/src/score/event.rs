//! The events of the live scorer ([`super::live`]): one anomalous
//! principal-minute (behaviour, what pages security) or one unhealthy
//! destination-minute (health, for the service's owners). The trail stores
//! each as its own line and the alerter ([`crate::alert`]) notifies on the
//! anomalies, so they live apart from the scorer that makes them.

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

/// One destination-minute whose health score reached the threshold: its
/// latency, 5xx or load, whoever its callers are. Never on the callers'
/// records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealthEvent {
    pub destination: String,
    pub score: f64,
    /// Start of the minute (record time, RFC 3339).
    pub window_start: String,
    pub reasons: Vec<Reason>,
    /// Example records (up to [`EXAMPLE_IDS`]) of that minute at the threshold.
    pub correlation_ids: Vec<String>,
}
