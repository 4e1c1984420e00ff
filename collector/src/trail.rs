//! The trail's lines: what every stage passes on. The ingest makes
//! [`Entry`]s (records, gap notices, invalid records), the live scorer adds
//! anomaly and service health notices,
//! the WAL writes them as JSON lines (with `seq` and `chain` where chained,
//! [`crate::chain`]) and hands the sinks those [`Lines`], exactly as they
//! store them.

use observatory_proto::audit::AuditRecord;
use observatory_proto::json::CanonicalRecord;
use serde::ser::{SerializeStruct as _, Serializer};
use serde::{Deserialize, Serialize};

use crate::score::attribution::Reason;

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "records are nearly every entry; boxing them would cost an allocation each"
)]
pub enum Entry {
    /// Serialises as exactly the canonical record JSON.
    Record(RecordEntry),
    Gap(GapNotice),
    Invalid(InvalidNotice),
    Anomaly(AnomalyNotice),
    Health(ServiceHealthNotice),
    Checkpoint(CheckpointNotice),
}

impl Entry {
    /// The proxy whose hash chain ([`crate::chain`]) the line joins: a
    /// sender's records, gaps and invalid records; `None` for the lines the
    /// collector derives (anomaly and health events, checkpoints).
    pub fn chain_key(&self) -> Option<&str> {
        match self {
            Entry::Record(r) => Some(&r.proxy_id),
            Entry::Gap(g) => Some(&g.proxy_id),
            Entry::Invalid(i) => Some(&i.proxy_id),
            Entry::Anomaly(_) | Entry::Health(_) | Entry::Checkpoint(_) => None,
        }
    }
}

impl From<CanonicalRecord> for Entry {
    fn from(record: CanonicalRecord) -> Self {
        Entry::Record(RecordEntry {
            record,
            reasons: Vec::new(),
            warmup: false,
        })
    }
}

/// A record as stored: the canonical record, and the reasons the live
/// scorer gave for its `anomaly_score`. They are written as the record's
/// `anomaly_reasons`, straight from [`Reason`] rather than through
/// `serde_json::Value`s; the record's own `anomaly_reasons` stays empty.
/// A record scored while the scorer still warms up has no score and says
/// so: `"anomaly_warmup":true` (its last field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordEntry {
    #[serde(flatten)]
    pub record: CanonicalRecord,
    #[serde(
        rename = "anomaly_reasons",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "reasons_as_stored"
    )]
    pub reasons: Vec<Reason>,
    #[serde(rename = "anomaly_warmup", skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
}

impl std::ops::Deref for RecordEntry {
    type Target = CanonicalRecord;

    fn deref(&self) -> &CanonicalRecord {
        &self.record
    }
}

impl std::ops::DerefMut for RecordEntry {
    fn deref_mut(&mut self) -> &mut CanonicalRecord {
        &mut self.record
    }
}

/// Reasons as the trail has always stored them: JSON objects with their
/// keys in alphabetical order (as a `serde_json::Value` object writes them).
fn reasons_as_stored<S: Serializer>(reasons: &[Reason], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(reasons.iter().map(StoredReason))
}

struct StoredReason<'a>(&'a Reason);

impl Serialize for StoredReason<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = s.serialize_struct("Reason", 8)?;
        map.serialize_field("direction", &r.direction)?;
        map.serialize_field("expected", &r.expected)?;
        map.serialize_field("feature", &r.feature)?;
        map.serialize_field("observed", &r.observed)?;
        map.serialize_field("scope", &r.scope)?;
        map.serialize_field("share", &r.share)?;
        if let Some(window) = &r.window {
            map.serialize_field("window", window)?;
        }
        map.serialize_field("z", &r.z)?;
        map.end()
    }
}

/// A signed checkpoint of one proxy's chain ([`crate::chain`]), as its own
/// line: `{"ts", "proxy_id", "checkpoint": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointNotice {
    pub ts: String,
    pub proxy_id: String,
    pub checkpoint: crate::chain::Checkpoint,
}

/// Entries as the WAL holds them: their lines in the trail, each ending in
/// `\n`, exactly as sinks store them (with `seq` and `chain` where
/// chained). A sink that needs more than the line (Loki: labels, metadata)
/// reads it from the line itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    count: usize,
}

impl Lines {
    /// Room for `bytes` more bytes of lines.
    pub fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// Appends complete lines (a final `\n` is added when missing).
    pub fn push(&mut self, lines: &str) {
        if lines.is_empty() {
            return;
        }
        self.text.push_str(lines);
        self.count += memchr::memchr_iter(b'\n', lines.as_bytes()).count();
        if !lines.ends_with('\n') {
            self.text.push('\n');
            self.count += 1;
        }
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every line, each with its `\n`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every line, without its `\n`.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }
}

/// Records a sender lost before they reached the collector, made visible in
/// the trail: `{"ts", "proxy_id", "audit_gap": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapNotice {
    /// When the collector received the batch (RFC 3339 UTC, nanoseconds).
    pub ts: String,
    pub proxy_id: String,
    /// The stream's authenticated sender, as on its records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
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

/// A record the collector could not accept as a record, kept rather than
/// dropped: `{"ts", "proxy_id", "invalid": {...}}`. It is part of the
/// sender's chain like its records, and named in the batch's ack
/// (`Ack.quarantined`), so that sender and store agree on what was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidNotice {
    /// When the collector received the batch (RFC 3339 UTC, nanoseconds).
    pub ts: String,
    /// The sender's (the batch's), which the record itself may not name.
    pub proxy_id: String,
    /// The stream's authenticated sender, as on its records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
    pub invalid: InvalidDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidDetail {
    pub instance_id: String,
    pub seq: u64,
    /// Position of the record in its batch, from 0.
    pub index: u32,
    /// Why it is not a record ([`crate::validate::RecordProblem`]).
    pub reason: String,
    /// What could be read of it, in the canonical record's shape; `ts` is
    /// empty when the record's time is not after the epoch, a duration
    /// that is not a number is `null`.
    pub record: CanonicalRecord,
}

impl InvalidDetail {
    pub fn new(
        instance_id: &str,
        seq: u64,
        index: u32,
        reason: String,
        record: &AuditRecord,
    ) -> Self {
        let mut record = record.clone();
        let ts = std::mem::take(&mut record.ts_unix_nanos);
        if ts > 0 {
            record.ts_unix_nanos = ts;
        }
        let mut record = CanonicalRecord::from(&record);
        if ts <= 0 {
            record.ts.clear();
        }
        InvalidDetail {
            instance_id: instance_id.to_owned(),
            seq,
            index,
            reason,
            record,
        }
    }
}

/// A principal's window that scored at or above the alert threshold, as
/// its own line: `{"ts", "anomaly": {...}}` (Loki stream
/// `{job="observatory", kind="anomaly"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyNotice {
    /// Record time of the first record that crossed the threshold.
    pub ts: String,
    pub anomaly: crate::score::event::AnomalyEvent,
}

/// A destination whose health score reached the threshold, as its own line:
/// `{"ts", "service_health": {...}}` (Loki stream `{job="observatory",
/// kind="service_health"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealthNotice {
    /// Record time of the first record that crossed the threshold.
    pub ts: String,
    pub service_health: crate::score::event::ServiceHealthEvent,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::score::attribution::Direction;
    use crate::score::features::{Feature, WindowId};
    use crate::score::model::Scope;
    use observatory_proto::audit::AuditRecord;

    #[test]
    fn reasons_are_stored_as_json_values_would_store_them() {
        let reason = |window, observed| Reason {
            feature: Feature::Status401Ratio,
            scope: Scope::Pair,
            window,
            direction: Direction::Below,
            observed,
            expected: 0.25,
            z: -14.1,
            share: 0.8,
        };
        let reasons = vec![
            reason(Some(WindowId::FifteenMinutes), 0.95),
            reason(None, f64::NAN),
            reason(Some(WindowId::OneMinute), 1e-7),
        ];
        let mut record = CanonicalRecord::from(&AuditRecord {
            ts_unix_nanos: 1,
            correlation_id: "c".into(),
            proxy_id: "p".into(),
            ..AuditRecord::default()
        });
        record.anomaly_score = Some(0.93);
        let stored = Entry::Record(RecordEntry {
            record: record.clone(),
            reasons: reasons.clone(),
            warmup: false,
        });
        record.anomaly_reasons = reasons
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        assert_eq!(
            serde_json::to_string(&stored).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
        // Unscored: exactly the canonical record.
        record.anomaly_reasons.clear();
        assert_eq!(
            serde_json::to_string(&Entry::from(record.clone())).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
    }

    #[test]
    fn a_record_of_the_warmup_says_so_and_has_no_score() {
        let record = CanonicalRecord::from(&AuditRecord {
            ts_unix_nanos: 1,
            ..AuditRecord::default()
        });
        let stored = Entry::Record(RecordEntry {
            record,
            reasons: Vec::new(),
            warmup: true,
        });
        let json = serde_json::to_string(&stored).unwrap();
        assert!(json.ends_with(r#","anomaly_warmup":true}"#), "{json}");
        assert!(!json.contains("anomaly_score"), "{json}");
    }
}
