//! The record's canonical JSON (feature `json`): the line the collector
//! stores and ships for every [`AuditRecord`]. Its field names are a public
//! contract (Loki queries, dashboards and the `score` CLI read them), so
//! they are defined once, here, next to the protobuf they come from.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
/// Records are stamped with it (`ts_unix_nanos`), in the filter too, which
/// builds without this feature: defined in [`crate::time`].
pub use crate::time::unix_nanos;

/// The canonical JSON form of one audit record. Field order is the
/// serialisation order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanonicalRecord {
    /// Request start, RFC 3339 UTC with nanoseconds.
    pub ts: String,
    pub correlation_id: String,
    /// Unique per record (the filter's); left out when empty (older filters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub record_id: String,
    /// The client's rejected x-request-id, cut and escaped; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_request_id: String,
    pub trace_id: String,
    pub source_principal: String,
    pub source_ip: String,
    /// Where `source_ip` comes from; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip_origin: String,
    /// X-Forwarded-For as received, redacted; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forwarded_for: String,
    pub mtls: bool,
    pub destination_workload: String,
    pub destination_namespace: String,
    pub method: String,
    pub path: String,
    /// Redacted; only recorded with a `redaction` section, left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    pub status: u32,
    pub duration_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub user_agent: String,
    /// `recordHeaders`, redacted; left out when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `recordBodies` excerpts, redacted; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_body: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_body: String,
    pub decision: String,
    pub shadow_decision: String,
    pub rule: String,
    /// Envoy's details for a request that did not complete normally; left
    /// out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_details: String,
    #[serde(default)]
    pub redactions: BTreeMap<String, u32>,
    pub proxy_id: String,
    /// Who sent the record, as the collector authenticated the stream (a
    /// SPIFFE id, or a client certificate's DNS name); left out when the
    /// collector authenticates nobody.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
    #[serde(default)]
    pub audit_policy: String,
    /// Anomaly score in [0, 1], set by the collector's live scorer (absent
    /// when scoring is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_score: Option<f64>,
    /// Why it scored: the top contributing features, in the shape the
    /// collector's attribution defines (free-form here: the engine does not
    /// know the features).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomaly_reasons: Vec<serde_json::Value>,
}

/// Renders nanoseconds since the Unix epoch as RFC 3339 UTC with nine
/// fractional digits (`2026-11-27T22:44:39.123456789Z`).
pub fn format_ts(unix_nanos: i64) -> String {
    let t = if unix_nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(unix_nanos.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_nanos(unix_nanos.unsigned_abs())
    };
    humantime::format_rfc3339_nanos(t).to_string()
}

impl From<&AuditRecord> for CanonicalRecord {
    fn from(r: &AuditRecord) -> Self {
        CanonicalRecord {
            ts: format_ts(r.ts_unix_nanos),
            correlation_id: r.correlation_id.clone(),
            record_id: r.record_id.clone(),
            client_request_id: r.client_request_id.clone(),
            trace_id: r.trace_id.clone(),
            source_principal: r.source_principal.clone(),
            source_ip: r.source_ip.clone(),
            source_ip_origin: r.source_ip_origin.clone(),
            forwarded_for: r.forwarded_for.clone(),
            mtls: r.mtls,
            destination_workload: r.destination_workload.clone(),
            destination_namespace: r.destination_namespace.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            status: r.status,
            duration_ms: r.duration_ms,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            user_agent: r.user_agent.clone(),
            headers: r.headers.clone(),
            request_body: r.request_body.clone(),
            response_body: r.response_body.clone(),
            decision: r.decision.clone(),
            shadow_decision: r.shadow_decision.clone(),
            rule: r.rule.clone(),
            response_details: r.response_details.clone(),
            redactions: r.redactions.clone(),
            proxy_id: r.proxy_id.clone(),
            sender: String::new(),
            audit_policy: r.audit_policy.clone(),
            anomaly_score: None,
            anomaly_reasons: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn ts_is_rfc3339_utc_with_nanoseconds() {
        assert_eq!(
            format_ts(1_795_819_479_123_456_789),
            "2026-11-27T22:44:39.123456789Z"
        );
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::from_nanos(1_795_819_479_000_000_001);
        assert_eq!(unix_nanos(t), 1_795_819_479_000_000_001);
    }

    #[test]
    fn canonical_json_has_the_contract_field_names_in_order() {
        let mut r = AuditRecord {
            ts_unix_nanos: 1_795_819_479_000_000_000,
            correlation_id: "c1".into(),
            method: "GET".into(),
            path: "/a".into(),
            status: 200,
            decision: "allow".into(),
            ..Default::default()
        };
        r.redactions.insert("EMAIL".into(), 2);
        let text = serde_json::to_string(&CanonicalRecord::from(&r)).unwrap();
        let names = [
            "ts",
            "correlation_id",
            "trace_id",
            "source_principal",
            "source_ip",
            "mtls",
            "destination_workload",
            "destination_namespace",
            "method",
            "path",
            "status",
            "duration_ms",
            "request_bytes",
            "response_bytes",
            "user_agent",
            "decision",
            "shadow_decision",
            "rule",
            "redactions",
            "proxy_id",
            "audit_policy",
        ];
        let positions: Vec<usize> = names
            .iter()
            .map(|n| {
                text.find(&format!("\"{n}\":"))
                    .unwrap_or_else(|| panic!("{n} missing"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json.as_object().unwrap().len(), names.len());
        assert_eq!(json["redactions"]["EMAIL"], 2);
        assert_eq!(json["ts"], "2026-11-27T22:44:39.000000000Z");
        let back: CanonicalRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.correlation_id, "c1");
    }

    #[test]
    fn recorded_extras_appear_only_when_set() {
        let mut r = AuditRecord {
            path: "/a".into(),
            query: "q=[REDACTED:EMAIL]".into(),
            response_body: "{}".into(),
            ..Default::default()
        };
        r.headers
            .insert("referer".into(), "https://x.example/".into());
        let text = serde_json::to_string(&CanonicalRecord::from(&r)).unwrap();
        assert!(
            text.contains(r#""path":"/a","query":"q=[REDACTED:EMAIL]","status""#),
            "{text}"
        );
        assert!(
            text.contains(
                r#""user_agent":"","headers":{"referer":"https://x.example/"},"response_body":"{}","decision""#
            ),
            "{text}"
        );
        let back: CanonicalRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back.request_body, "");
        assert_eq!(back.headers["referer"], "https://x.example/");
    }
}
