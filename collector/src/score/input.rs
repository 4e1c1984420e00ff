//! The slice of a canonical audit record that scoring reads.
//!
//! Lenient on purpose: the canonical field names, unknown fields ignored and
//! every field but `ts` optional, so older records and other producers score.

use std::borrow::Cow;
use std::collections::BTreeMap;

use observatory_proto::json::CanonicalRecord;
use serde::de::IgnoredAny;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One audit record as the scorer sees it, borrowed from the line it was
/// parsed from (or the record it was taken from) where it can be: scoring
/// copies no field it only reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Observation<'a> {
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    #[serde(borrow)]
    pub correlation_id: Cow<'a, str>,
    #[serde(borrow)]
    pub source_principal: Cow<'a, str>,
    #[serde(borrow)]
    pub source_ip: Cow<'a, str>,
    pub mtls: bool,
    #[serde(borrow)]
    pub destination_workload: Cow<'a, str>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    pub status: u32,
    pub duration_ms: f64,
    pub response_bytes: u64,
    #[serde(borrow)]
    pub decision: Cow<'a, str>,
    #[serde(borrow)]
    pub redactions: BTreeMap<Cow<'a, str>, u64>,
    /// Set on the collector's gap lines, which are not requests.
    pub audit_gap: Option<IgnoredAny>,
    /// Set on the collector's anomaly and service health event lines, which
    /// are not requests either.
    pub anomaly: Option<IgnoredAny>,
    /// Set on the collector's lines of records it could not accept.
    pub invalid: Option<IgnoredAny>,
    pub service_health: Option<IgnoredAny>,
}

impl Observation<'_> {
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

impl<'a> From<&'a CanonicalRecord> for Observation<'a> {
    fn from(r: &'a CanonicalRecord) -> Self {
        Self {
            ts: Cow::Borrowed(&r.ts),
            correlation_id: Cow::Borrowed(&r.correlation_id),
            source_principal: Cow::Borrowed(&r.source_principal),
            source_ip: Cow::Borrowed(&r.source_ip),
            mtls: r.mtls,
            destination_workload: Cow::Borrowed(&r.destination_workload),
            method: Cow::Borrowed(&r.method),
            path: Cow::Borrowed(&r.path),
            status: r.status,
            duration_ms: r.duration_ms,
            response_bytes: r.response_bytes,
            decision: Cow::Borrowed(&r.decision),
            redactions: r
                .redactions
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), (*v).into()))
                .collect(),
            audit_gap: None,
            anomaly: None,
            invalid: None,
            service_health: None,
        }
    }
}
