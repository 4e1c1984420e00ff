//! The slice of a canonical audit record that scoring reads.
//!
//! Lenient on purpose: the canonical field names, unknown fields ignored and
//! every field but `ts` optional, so older records and other producers score.

use std::collections::BTreeMap;

use observatory_proto::json::CanonicalRecord;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One audit record as the scorer sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Observation {
    pub ts: String,
    pub correlation_id: String,
    pub source_principal: String,
    pub source_ip: String,
    pub mtls: bool,
    pub destination_workload: String,
    pub method: String,
    pub path: String,
    pub status: u32,
    pub duration_ms: f64,
    pub response_bytes: u64,
    pub decision: String,
    pub redactions: BTreeMap<String, u64>,
    /// Set on the collector's gap lines, which are not requests.
    pub audit_gap: Option<serde_json::Value>,
    /// Set on the collector's anomaly and service health event lines, which
    /// are not requests either.
    pub anomaly: Option<serde_json::Value>,
    /// Set on the collector's lines of records it could not accept.
    pub invalid: Option<serde_json::Value>,
    pub service_health: Option<serde_json::Value>,
}

impl Observation {
    /// Who made the request: the principal, or for plaintext the source IP.
    pub fn key(&self) -> &str {
        if self.source_principal.is_empty() {
            &self.source_ip
        } else {
            &self.source_principal
        }
    }

    /// `ts` as seconds since the Unix epoch, `None` if not RFC 3339.
    pub fn time(&self) -> Option<f64> {
        let t = OffsetDateTime::parse(&self.ts, &Rfc3339).ok()?;
        // f64 keeps sub-microsecond precision for centuries: enough for windows.
        Some(t.unix_timestamp_nanos() as f64 / 1e9)
    }

    /// Not a request to score: a gap, invalid record or event line of the
    /// collector's trail.
    pub fn is_event(&self) -> bool {
        self.audit_gap.is_some()
            || self.invalid.is_some()
            || self.anomaly.is_some()
            || self.service_health.is_some()
    }

    pub fn redaction_count(&self) -> u64 {
        self.redactions.values().sum()
    }
}

impl From<&CanonicalRecord> for Observation {
    fn from(r: &CanonicalRecord) -> Self {
        Self {
            ts: r.ts.clone(),
            correlation_id: r.correlation_id.clone(),
            source_principal: r.source_principal.clone(),
            source_ip: r.source_ip.clone(),
            mtls: r.mtls,
            destination_workload: r.destination_workload.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            status: r.status,
            duration_ms: r.duration_ms,
            response_bytes: r.response_bytes,
            decision: r.decision.clone(),
            redactions: r
                .redactions
                .iter()
                .map(|(k, v)| (k.clone(), (*v).into()))
                .collect(),
            audit_gap: None,
            anomaly: None,
            invalid: None,
            service_health: None,
        }
    }
}
