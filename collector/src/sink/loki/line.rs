//! A stored line → Loki entries: the line itself, its time and structured
//! metadata, read from the line, and its stream ([`super::labels`]).
//!
//! - Line: the canonical record JSON, or the gap line JSON, exactly as the
//!   JSON-lines sink writes it.
//! - Timestamp: the entry's own `ts`.
//! - Structured metadata: `correlation_id`, `trace_id`, `source_principal`,
//!   `proxy_id` (when not empty), so they can be filtered on without being
//!   labels.
//! - A line over Loki's 256 KiB limit is split (never truncated: the trail
//!   must stay complete) into pieces of at most 256 KiB, cut at UTF-8
//!   boundaries, with the same timestamp, labels and metadata plus
//!   `chunk` (1-based) and `chunks`; joining the pieces in `chunk` order
//!   gives the line back.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use observatory_proto::json::unix_nanos;
use serde::de::IgnoredAny;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::warn;

use super::config::{LabelField, LokiConfig, MAX_LINE_BYTES};
use super::labels::{Labels, Streams};
use super::stats::LokiStats;

/// One Loki log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LokiEntry {
    pub labels: Arc<Labels>,
    pub ts_nanos: i64,
    pub line: String,
    pub metadata: Vec<(&'static str, String)>,
}

impl LokiEntry {
    /// Uncompressed size, for batching.
    pub fn size(&self) -> usize {
        let metadata: usize = self.metadata.iter().map(|(n, v)| n.len() + v.len()).sum();
        self.line.len() + metadata + 16
    }
}

/// Turns stored lines into Loki entries, in the streams seen so far.
pub struct Encoder {
    streams: Streams,
}

impl Encoder {
    pub fn new(config: &LokiConfig, stats: Arc<LokiStats>) -> Self {
        Encoder {
            streams: Streams::new(config, stats),
        }
    }

    /// Appends the Loki entries of `entry` (more than one when its line is
    /// split) to `out`.
    #[cfg(test)]
    pub fn encode(
        &self,
        entry: &crate::trail::Entry,
        out: &mut Vec<LokiEntry>,
    ) -> Result<(), serde_json::Error> {
        self.encode_line(&serde_json::to_string(entry)?, out)
    }

    /// Appends the Loki entries of the stored `line` (more than one when
    /// the line is split) to `out`. Reads only what Loki needs of it (time,
    /// label fields, metadata), borrowed from the line.
    pub fn encode_line(
        &self,
        line: &str,
        out: &mut Vec<LokiEntry>,
    ) -> Result<(), serde_json::Error> {
        let fields: Fields<'_> = serde_json::from_str(line)?;
        let ts_nanos = parse_ts(&fields.ts);
        let streams = &self.streams;
        let (labels, metadata) = match &fields {
            Fields {
                anomaly: Some(anomaly),
                ..
            } => (
                streams.anomaly(),
                vec![("source_principal", anomaly.principal.clone().into_owned())],
            ),
            Fields {
                service_health: Some(health),
                ..
            } => (
                streams.health(),
                vec![(
                    "destination_workload",
                    health.destination.clone().into_owned(),
                )],
            ),
            Fields {
                audit_gap: Some(_), ..
            }
            | Fields {
                invalid: Some(_), ..
            }
            | Fields {
                checkpoint: Some(_),
                ..
            } => (
                streams.labels(&vec![Cow::Borrowed(""); streams.fields().len()]),
                vec![("proxy_id", fields.proxy_id.clone().into_owned())],
            ),
            record => (
                streams.labels(
                    &streams
                        .fields()
                        .iter()
                        .map(|(_, f)| record.label(*f))
                        .collect::<Vec<_>>(),
                ),
                [
                    ("correlation_id", &record.correlation_id),
                    ("trace_id", &record.trace_id),
                    ("source_principal", &record.source_principal),
                    ("proxy_id", &record.proxy_id),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n, v.clone().into_owned()))
                .collect(),
            ),
        };
        let labels = streams.stream_for(labels, ts_nanos);
        push(labels, ts_nanos, line, metadata, out);
        Ok(())
    }
}

/// Appends one entry, split into pieces when its line is too long.
fn push(
    labels: Arc<Labels>,
    ts_nanos: i64,
    line: &str,
    metadata: Vec<(&'static str, String)>,
    out: &mut Vec<LokiEntry>,
) {
    let chunks = split_line(line);
    if chunks.len() == 1 {
        out.push(LokiEntry {
            labels,
            ts_nanos,
            line: line.to_owned(),
            metadata,
        });
        return;
    }
    let count = chunks.len().to_string();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut metadata = metadata.clone();
        metadata.push(("chunk", (i + 1).to_string()));
        metadata.push(("chunks", count.clone()));
        out.push(LokiEntry {
            labels: labels.clone(),
            ts_nanos,
            line: (*chunk).to_owned(),
            metadata,
        });
    }
}

/// What the Loki sink reads of a stored line (every kind of entry: record,
/// gap, invalid record, checkpoint, anomaly event, service health event),
/// borrowed from it where no JSON escape is in the way. A record has none
/// of `audit_gap`, `invalid`, `checkpoint`, `anomaly` and `service_health`;
/// other fields are skipped unread.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow, default)]
    correlation_id: Cow<'a, str>,
    #[serde(borrow, default)]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    source_principal: Cow<'a, str>,
    #[serde(borrow, default)]
    proxy_id: Cow<'a, str>,
    #[serde(borrow, default)]
    destination_namespace: Cow<'a, str>,
    #[serde(borrow, default)]
    destination_workload: Cow<'a, str>,
    #[serde(borrow, default)]
    decision: Cow<'a, str>,
    #[serde(borrow, default)]
    shadow_decision: Cow<'a, str>,
    #[serde(borrow, default)]
    method: Cow<'a, str>,
    #[serde(default)]
    status: u32,
    #[serde(default)]
    mtls: bool,
    #[serde(borrow, default)]
    rule: Cow<'a, str>,
    #[serde(borrow, default)]
    audit_policy: Cow<'a, str>,
    #[serde(default)]
    audit_gap: Option<IgnoredAny>,
    #[serde(default)]
    invalid: Option<IgnoredAny>,
    #[serde(default)]
    checkpoint: Option<IgnoredAny>,
    #[serde(borrow, default)]
    anomaly: Option<AnomalyFields<'a>>,
    #[serde(borrow, default)]
    service_health: Option<HealthFields<'a>>,
}

#[derive(Deserialize)]
struct AnomalyFields<'a> {
    #[serde(borrow)]
    principal: Cow<'a, str>,
}

#[derive(Deserialize)]
struct HealthFields<'a> {
    #[serde(borrow)]
    destination: Cow<'a, str>,
}

impl<'a> Fields<'a> {
    fn label(&self, field: LabelField) -> Cow<'a, str> {
        match field {
            LabelField::DestinationNamespace => self.destination_namespace.clone(),
            LabelField::DestinationWorkload => self.destination_workload.clone(),
            LabelField::Decision => self.decision.clone(),
            LabelField::ShadowDecision => self.shadow_decision.clone(),
            LabelField::Method => self.method.clone(),
            LabelField::Status => Cow::Owned(self.status.to_string()),
            LabelField::Mtls => Cow::Owned(self.mtls.to_string()),
            LabelField::Rule => self.rule.clone(),
            LabelField::AuditPolicy => self.audit_policy.clone(),
        }
    }
}

/// Nanoseconds since the epoch of an RFC 3339 `ts`. The collector wrote it
/// itself, so a failure would be a bug; the entry is then stamped "now"
/// rather than held back forever.
fn parse_ts(ts: &str) -> i64 {
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
        .unwrap_or_else(|| {
            warn!(
                ts,
                "unparsable entry timestamp; sending it to Loki stamped now"
            );
            unix_nanos(SystemTime::now())
        })
}

/// `line` in pieces of at most [`MAX_LINE_BYTES`], cut at char boundaries.
pub(super) fn split_line(line: &str) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(line.len() / MAX_LINE_BYTES + 1);
    let mut rest = line;
    while rest.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}
