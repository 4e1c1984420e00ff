//! What only the Loki sink counts (its deliveries are in the sink metrics
//! every sink has, [`crate::sink::metrics`]).

use crate::telemetry::{Counter, Telemetry};

/// Exported on `/metrics` by [`LokiStats::register`], whether or not Loki
/// is configured.
#[derive(Debug, Default)]
pub struct LokiStats {
    /// Push attempts that failed and will be retried (429, 5xx, network).
    pub push_retries: Counter,
    /// Entries whose labels were collapsed to `_overflow` by `max_label_sets`.
    pub label_overflows: Counter,
    /// Entries sent to a `late` stream: too far behind their own stream.
    pub late_entries: Counter,
}

impl LokiStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.push_retries,
                "loki_push_retries",
                "Loki push attempts that failed and are retried",
            ),
            (
                &self.label_overflows,
                "loki_label_overflows",
                "Loki entries whose labels were collapsed to _overflow",
            ),
            (
                &self.late_entries,
                "loki_late_entries",
                "Loki entries sent to a late stream, too far behind their own stream",
            ),
        ]);
    }
}
