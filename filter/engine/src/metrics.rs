//! The filter's Envoy counters (`wasmcustom.observatory_*`).

use std::cell::Cell;

use crate::host::Host;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Requests,
    Allowed,
    Denied,
    ShadowDenied,
    AuditUnavailable,
    RecordsExported,
    RecordsDropped,
    StreamReconnects,
    DlpRewritten,
    DlpSkipped,
    PiiDenied,
    IncompleteRequests,
    PathsRewritten,
    PathsRejected,
    RequestIdsReplaced,
    RecordsQuarantined,
    BatchesRefused,
}

const COUNTERS: [&str; 17] = [
    "observatory_requests_total",
    "observatory_allowed",
    "observatory_denied",
    "observatory_shadow_denied",
    "observatory_audit_unavailable",
    "observatory_records_exported",
    "observatory_records_dropped",
    "observatory_stream_reconnects",
    "observatory_dlp_rewritten",
    "observatory_dlp_skipped",
    "observatory_pii_denied",
    "observatory_incomplete_requests",
    "observatory_paths_rewritten",
    "observatory_paths_rejected",
    "observatory_request_ids_replaced",
    "observatory_records_quarantined",
    "observatory_batches_refused",
];

/// Counts are kept in the VM and handed to Envoy on each tick: one host
/// call per counter per tick instead of several per request.
#[derive(Debug)]
pub struct Metrics {
    ids: [u32; COUNTERS.len()],
    pending: [Cell<u64>; COUNTERS.len()],
}

impl Metrics {
    pub fn define<H: Host>(host: &H) -> Result<Self, String> {
        let mut ids = [0; COUNTERS.len()];
        for (id, name) in ids.iter_mut().zip(COUNTERS) {
            *id = host
                .define_counter(name)
                .map_err(|e| format!("define_metric {name}: {e}"))?;
        }
        Ok(Metrics {
            ids,
            pending: Default::default(),
        })
    }

    pub fn add(&self, counter: Counter, n: u64) {
        if let Some(c) = self.pending.get(counter as usize) {
            c.set(c.get() + n);
        }
    }

    /// Counts not yet handed to Envoy.
    pub fn pending(&self, counter: Counter) -> u64 {
        self.pending.get(counter as usize).map_or(0, Cell::get)
    }

    /// Publishes the pending counts to Envoy.
    pub fn flush<H: Host>(&self, host: &H) {
        for (id, pending) in self.ids.iter().zip(&self.pending) {
            let n = pending.replace(0);
            if n > 0 {
                host.increment_counter(*id, n);
            }
        }
    }
}
