//! Audit entries → Loki entries (labels, timestamp, line, structured
//! metadata) → push request bodies.
//!
//! - Labels: `job="observatory"`, `cluster` (static) and the configured
//!   low-cardinality record fields; empty values are left out (Loki treats
//!   an empty label as absent). Gap lines carry only `job` and `cluster`.
//! - Line: the canonical record JSON, or the gap line JSON, exactly as the
//!   JSON-lines sink writes it.
//! - Timestamp: the entry's own `ts`.
//! - Late entries: Loki refuses an entry more than `out_of_order_window`
//!   behind the newest entry of its stream (`entry too far behind`), e.g.
//!   records a proxy buffered through a long outage while other proxies kept
//!   the stream current, or a WAL backlog replayed after a restart. Such
//!   entries go to a sibling stream with a `late` label naming the window
//!   they fall in (`late="2026-11-28T01:00:00Z"`): all entries of that
//!   stream lie within one window, so Loki can take every one of them, and
//!   a query by the usual labels still finds them at their own time.
//! - Structured metadata: `correlation_id`, `trace_id`, `source_principal`,
//!   `proxy_id` (when not empty), so they can be filtered on without being
//!   labels.
//! - A line over Loki's 256 KiB limit is split (never truncated: the trail
//!   must stay complete) into pieces of at most 256 KiB, cut at UTF-8
//!   boundaries, with the same timestamp, labels and metadata plus
//!   `chunk` (1-based) and `chunks`; joining the pieces in `chunk` order
//!   gives the line back.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use flate2::write::GzEncoder;
use observatory_engine::record::unix_nanos;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use serde::de::IgnoredAny;
use serde::ser::{SerializeSeq as _, Serializer};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::warn;

use super::config::{LabelField, LokiConfig};
use super::stats::LokiStats;

/// Loki's default `max_line_size`.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Value of every configured label once `max_label_sets` is reached.
pub const OVERFLOW: &str = "_overflow";
const JOB: (&str, &str) = ("job", "observatory");
/// Label of the streams that hold late entries.
pub const LATE: &str = "late";
/// How far ahead of the collector's clock Loki accepts entries (its
/// `creation_grace_period`): the newest entry it can hold in a stream.
const FUTURE_GRACE_NANOS: i64 = 600 * 1_000_000_000;

/// A label set and its Prometheus rendering (`{a="b", c="d"}`, sorted),
/// which is both what Loki parses and the key streams are grouped by.
#[derive(Debug)]
pub struct Labels {
    pairs: BTreeMap<String, String>,
    rendered: String,
    /// Newest timestamp (unix ns) sent to this stream, capped at the newest
    /// Loki accepts; starts at "now", since Loki may hold newer entries from
    /// before a restart.
    newest: AtomicI64,
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.rendered == other.rendered
    }
}

impl Eq for Labels {}

impl Labels {
    fn new(pairs: BTreeMap<String, String>) -> Self {
        let mut rendered = String::from("{");
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                rendered.push_str(", ");
            }
            rendered.push_str(name);
            rendered.push('=');
            // A JSON string is a valid PromQL/Go string literal.
            rendered.push_str(&serde_json::Value::from(value.as_str()).to_string());
        }
        rendered.push('}');
        Labels {
            pairs,
            rendered,
            newest: AtomicI64::new(unix_nanos(SystemTime::now())),
        }
    }

    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.pairs
    }

    pub fn rendered(&self) -> &str {
        &self.rendered
    }
}

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

/// Turns entries into Loki entries; keeps the label sets seen so far.
pub struct Encoder {
    cluster: Option<String>,
    fields: Vec<(String, LabelField)>,
    max_label_sets: usize,
    /// Configured-label values → label set; bounded by `max_label_sets`
    /// (plus the overflow set).
    seen: Mutex<HashMap<String, Arc<Labels>>>,
    /// Loki's out-of-order window in ns; `None`: no late streams.
    window_nanos: Option<i64>,
    /// (label set, window start) → its late stream; bounded by `max_label_sets`.
    late: Mutex<HashMap<(String, i64), Arc<Labels>>>,
    /// `job`, `kind="anomaly"` and `cluster`: anomaly events are their own stream.
    anomaly_labels: Arc<Labels>,
    overflow_warned: AtomicBool,
    stats: Arc<LokiStats>,
}

impl Encoder {
    pub fn new(config: &LokiConfig, stats: Arc<LokiStats>) -> Self {
        let mut anomaly = BTreeMap::from([
            (JOB.0.to_owned(), JOB.1.to_owned()),
            ("kind".to_owned(), "anomaly".to_owned()),
        ]);
        if let Some(cluster) = &config.cluster {
            anomaly.insert("cluster".to_owned(), cluster.clone());
        }
        Encoder {
            anomaly_labels: Arc::new(Labels::new(anomaly)),
            cluster: config.cluster.clone(),
            fields: config
                .labels
                .iter()
                .map(|(name, field)| (name.clone(), *field))
                .collect(),
            max_label_sets: config.max_label_sets.get(),
            seen: Mutex::default(),
            window_nanos: (config.out_of_order_window_secs > 0)
                .then(|| i64::try_from(config.out_of_order_window_secs).unwrap_or(i64::MAX))
                .map(|secs| secs.saturating_mul(1_000_000_000)),
            late: Mutex::default(),
            overflow_warned: AtomicBool::new(false),
            stats,
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
        let (labels, metadata) = match &fields {
            Fields {
                anomaly: Some(anomaly),
                ..
            } => (
                self.anomaly_labels.clone(),
                vec![("source_principal", anomaly.principal.clone().into_owned())],
            ),
            Fields {
                audit_gap: Some(_), ..
            }
            | Fields {
                checkpoint: Some(_),
                ..
            } => (
                self.labels(&vec![Cow::Borrowed(""); self.fields.len()]),
                vec![("proxy_id", fields.proxy_id.clone().into_owned())],
            ),
            record => (
                self.labels(
                    &self
                        .fields
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
        let labels = self.stream_for(labels, ts_nanos);
        push(labels, ts_nanos, line, metadata, out);
        Ok(())
    }

    /// `labels`, or its late stream when an entry at `ts_nanos` could be
    /// too far behind the newest entry Loki holds for `labels` (a tenth of
    /// the window is kept as margin for other collector replicas writing to
    /// the same stream).
    fn stream_for(&self, labels: Arc<Labels>, ts_nanos: i64) -> Arc<Labels> {
        let Some(window) = self.window_nanos else {
            return labels;
        };
        let cap = unix_nanos(SystemTime::now()).saturating_add(FUTURE_GRACE_NANOS);
        let newest = labels
            .newest
            .fetch_max(ts_nanos.min(cap), Ordering::Relaxed);
        if newest.saturating_sub(ts_nanos) <= window - window / 10 {
            return labels;
        }
        let start = ts_nanos.div_euclid(window).saturating_mul(window);
        let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (labels.rendered.clone(), start);
        if let Some(stream) = late.get(&key) {
            self.stats.late_entries.add(1);
            return stream.clone();
        }
        if late.len() >= self.max_label_sets {
            // Loki may refuse it: it then goes to the dead-letter file.
            self.stats.label_overflows.add(1);
            return labels;
        }
        let mut pairs = labels.pairs.clone();
        pairs.insert(LATE.to_owned(), window_label(start));
        self.stats.late_entries.add(1);
        late.entry(key)
            .or_insert_with(|| Arc::new(Labels::new(pairs)))
            .clone()
    }

    /// The label set for these configured-label values, or the overflow set
    /// once `max_label_sets` different ones have been seen.
    fn labels(&self, values: &[Cow<'_, str>]) -> Arc<Labels> {
        let key = label_key(values);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(labels) = seen.get(&key) {
            return labels.clone();
        }
        let overflow = vec![Cow::Borrowed(OVERFLOW); self.fields.len()];
        let (key, values) = if seen.len() < self.max_label_sets || values == overflow {
            (key, values)
        } else {
            self.stats.label_overflows.add(1);
            if !self.overflow_warned.swap(true, Ordering::Relaxed) {
                warn!(
                    max_label_sets = self.max_label_sets,
                    "more Loki label sets than max_label_sets: new ones are sent with every \
                     configured label set to \"{OVERFLOW}\" (counted in loki_label_overflows)"
                );
            }
            (label_key(&overflow), overflow.as_slice())
        };
        seen.entry(key)
            .or_insert_with(|| Arc::new(self.label_set(values)))
            .clone()
    }

    fn label_set(&self, values: &[Cow<'_, str>]) -> Labels {
        let mut pairs: BTreeMap<String, String> = self
            .fields
            .iter()
            .zip(values)
            .filter(|(_, value)| !value.is_empty())
            .map(|((name, _), value)| (name.clone(), value.clone().into_owned()))
            .collect();
        pairs.insert(JOB.0.to_owned(), JOB.1.to_owned());
        if let Some(cluster) = &self.cluster {
            pairs.insert("cluster".to_owned(), cluster.clone());
        }
        Labels::new(pairs)
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

/// The key of a list of label values in [`Encoder::labels`]: each value
/// with its length in front, so that no two lists share one.
fn label_key(values: &[Cow<'_, str>]) -> String {
    let mut key = String::with_capacity(values.iter().map(|v| v.len() + 4).sum());
    for value in values {
        let _ = write!(key, "{}:", value.len());
        key.push_str(value);
    }
    key
}

/// What the Loki sink reads of a stored line (every kind of entry: record,
/// gap, checkpoint, anomaly event), borrowed from it where no JSON escape
/// is in the way. A record has none of `audit_gap`, `checkpoint` and
/// `anomaly`; other fields are skipped unread.
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
    checkpoint: Option<IgnoredAny>,
    #[serde(borrow, default)]
    anomaly: Option<AnomalyFields<'a>>,
}

#[derive(Deserialize)]
struct AnomalyFields<'a> {
    #[serde(borrow)]
    principal: Cow<'a, str>,
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

/// The start of a late entry's window, to the second
/// (`2026-11-28T01:00:00Z`).
fn window_label(start_nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp(start_nanos.div_euclid(1_000_000_000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| start_nanos.to_string())
}

/// `line` in pieces of at most [`MAX_LINE_BYTES`], cut at char boundaries.
fn split_line(line: &str) -> Vec<&str> {
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

/// The entries grouped into streams (by label set), each sorted by timestamp
/// (stable, so chunks of a line keep their order).
fn streams(entries: &[LokiEntry]) -> BTreeMap<&str, (&Labels, Vec<&LokiEntry>)> {
    let mut streams: BTreeMap<&str, (&Labels, Vec<&LokiEntry>)> = BTreeMap::new();
    for entry in entries {
        streams
            .entry(entry.labels.rendered())
            .or_insert_with(|| (&entry.labels, Vec::new()))
            .1
            .push(entry);
    }
    for (_, stream) in streams.values_mut() {
        stream.sort_by_key(|e| e.ts_nanos);
    }
    streams
}

/// A `PushRequest` in a raw snappy block (not the framed format): what
/// Loki expects for any Content-Type but `application/json`. The protobuf
/// is written straight from the entries, byte for byte what prost writes
/// for the same `PushRequest` (fields in number order, default values left
/// out), without building its messages (a copy of every line and label).
pub fn protobuf_body(entries: &[LokiEntry]) -> io::Result<Vec<u8>> {
    let streams = streams(entries);
    let stream_len = |labels: &Labels, entries: &[&LokiEntry]| {
        string_len(labels.rendered())
            + entries
                .iter()
                .map(|e| message_len(entry_len(e)))
                .sum::<usize>()
    };
    let total: usize = streams
        .values()
        .map(|(labels, entries)| message_len(stream_len(labels, entries)))
        .sum();
    let mut buf = Vec::with_capacity(total);
    for (labels, entries) in streams.values() {
        // PushRequest.streams = 1
        put_message(&mut buf, 1, stream_len(labels, entries));
        // StreamAdapter.labels = 1, entries = 2; hash = 3 is 0, left out.
        put_string(&mut buf, 1, labels.rendered());
        for entry in entries {
            put_message(&mut buf, 2, entry_len(entry));
            // EntryAdapter.timestamp = 1, line = 2, structuredMetadata = 3
            let (seconds, nanos) = seconds_nanos(entry.ts_nanos);
            put_message(&mut buf, 1, timestamp_len(seconds, nanos));
            // Timestamp.seconds = 1, nanos = 2 (int64 and int32: a negative
            // one is written as its 64-bit two's complement)
            put_varint(&mut buf, 1, seconds as u64);
            put_varint(&mut buf, 2, i64::from(nanos) as u64);
            put_string(&mut buf, 2, &entry.line);
            for (name, value) in &entry.metadata {
                put_message(&mut buf, 3, string_len(name) + string_len(value));
                // LabelPairAdapter.name = 1, value = 2
                put_string(&mut buf, 1, name);
                put_string(&mut buf, 2, value);
            }
        }
    }
    Ok(snap::raw::Encoder::new().compress_vec(&buf)?)
}

/// A timestamp as protobuf's `Timestamp` has it: `nanos` in 0..1e9.
fn seconds_nanos(ts_nanos: i64) -> (i64, i32) {
    // In 0..1e9, so it fits.
    (
        ts_nanos.div_euclid(1_000_000_000),
        ts_nanos.rem_euclid(1_000_000_000) as i32,
    )
}

fn timestamp_len(seconds: i64, nanos: i32) -> usize {
    varint_len(seconds as u64) + varint_len(i64::from(nanos) as u64)
}

fn entry_len(entry: &LokiEntry) -> usize {
    let (seconds, nanos) = seconds_nanos(entry.ts_nanos);
    message_len(timestamp_len(seconds, nanos))
        + string_len(&entry.line)
        + entry
            .metadata
            .iter()
            .map(|(name, value)| message_len(string_len(name) + string_len(value)))
            .sum::<usize>()
}

/// A length-delimited field of `len` bytes with its one-byte key (every
/// field number here is below 16).
fn message_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// A varint field with its one-byte key; a zero one is left out.
fn varint_len(value: u64) -> usize {
    match value {
        0 => 0,
        _ => 1 + encoded_len_varint(value),
    }
}

/// A string field; an empty one is left out.
fn string_len(value: &str) -> usize {
    match value.is_empty() {
        true => 0,
        false => message_len(value.len()),
    }
}

fn put_message(buf: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

fn put_varint(buf: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

fn put_string(buf: &mut Vec<u8>, tag: u32, value: &str) {
    if !value.is_empty() {
        put_message(buf, tag, value.len());
        buf.extend_from_slice(value.as_bytes());
    }
}

/// Loki's JSON push form: timestamps are strings of unix nanoseconds (Loki
/// refuses numbers), metadata an optional third element.
pub fn json_body(entries: &[LokiEntry], gzip: bool) -> io::Result<Vec<u8>> {
    let body = JsonPush {
        streams: streams(entries)
            .into_values()
            .map(|(labels, values)| JsonStream {
                stream: labels.pairs(),
                values,
            })
            .collect(),
    };
    let json = serde_json::to_vec(&body)?;
    if !gzip {
        return Ok(json);
    }
    let mut gz = GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::fast(),
    );
    gz.write_all(&json)?;
    gz.finish()
}

#[derive(Serialize)]
struct JsonPush<'a> {
    streams: Vec<JsonStream<'a>>,
}

#[derive(Serialize)]
struct JsonStream<'a> {
    stream: &'a BTreeMap<String, String>,
    #[serde(serialize_with = "json_values")]
    values: Vec<&'a LokiEntry>,
}

fn json_values<S: Serializer>(values: &[&LokiEntry], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for entry in values {
        seq.serialize_element(&JsonValue(entry))?;
    }
    seq.end()
}

/// `["<unix ns>", "<line>"]` or `["<unix ns>", "<line>", {metadata}]`.
struct JsonValue<'a>(&'a LokiEntry);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut seq = s.serialize_seq(Some(if e.metadata.is_empty() { 2 } else { 3 }))?;
        seq.serialize_element(&e.ts_nanos.to_string())?;
        seq.serialize_element(&e.line)?;
        if !e.metadata.is_empty() {
            let metadata: BTreeMap<&str, &str> =
                e.metadata.iter().map(|(n, v)| (*n, v.as_str())).collect();
            seq.serialize_element(&metadata)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::score::event::AnomalyEvent;
    use crate::trail::{AnomalyNotice, Entry, GapDetail, GapNotice};
    use observatory_engine::record::CanonicalRecord;
    use observatory_proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
    use prost::Message as _;
    use std::num::NonZeroUsize;

    fn record(n: u32, namespace: &str) -> CanonicalRecord {
        CanonicalRecord {
            ts: format!("2026-03-01T10:00:0{n}.000000007Z"),
            correlation_id: format!("corr-{n}"),
            trace_id: String::new(),
            source_principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
            source_ip: "10.0.0.9".into(),
            mtls: true,
            destination_workload: "orders".into(),
            destination_namespace: namespace.into(),
            method: "GET".into(),
            path: "/orders".into(),
            query: String::new(),
            status: 200,
            duration_ms: 1.5,
            request_bytes: 0,
            response_bytes: 10,
            user_agent: "curl".into(),
            headers: BTreeMap::new(),
            request_body: String::new(),
            response_body: String::new(),
            decision: "allow".into(),
            shadow_decision: String::new(),
            rule: String::new(),
            redactions: BTreeMap::new(),
            proxy_id: "p-1".into(),
            audit_policy: String::new(),
            anomaly_score: None,
            anomaly_reasons: Vec::new(),
        }
    }

    /// The fixtures have fixed timestamps in the past: late streams are off
    /// here and tested on their own below.
    fn encoder(config: LokiConfig) -> Encoder {
        Encoder::new(
            &LokiConfig {
                out_of_order_window_secs: 0,
                ..config
            },
            Arc::default(),
        )
    }

    const HOUR: i64 = 3_600_000_000_000;

    fn at(enc: &Encoder, ts_nanos: i64) -> Arc<Labels> {
        let mut r = record(1, "shop");
        r.ts = observatory_engine::record::format_ts(ts_nanos);
        let e = encode(enc, Entry::from(r));
        assert_eq!(e[0].ts_nanos, ts_nanos);
        e[0].labels.clone()
    }

    #[test]
    fn entries_too_far_behind_their_stream_go_to_a_late_stream_of_their_hour() {
        let stats = Arc::new(LokiStats::default());
        let enc = Encoder::new(&LokiConfig::default(), stats.clone());
        let now = unix_nanos(SystemTime::now());
        let current = at(&enc, now);
        assert!(!current.pairs().contains_key(LATE));
        // Within the window (less its margin): the stream itself.
        assert!(Arc::ptr_eq(&at(&enc, now - HOUR / 2), &current));

        let hour = (now - 3 * HOUR).div_euclid(HOUR) * HOUR;
        let late = at(&enc, hour + HOUR / 6);
        let mut expected = current.pairs().clone();
        expected.insert(LATE.into(), window_label(hour));
        assert_eq!(late.pairs(), &expected);
        assert!(late.rendered().contains(r#"late=""#), "{}", late.rendered());
        // The same hour shares the late stream, another hour has its own.
        assert!(Arc::ptr_eq(&at(&enc, hour + HOUR - 1), &late));
        let earlier = at(&enc, hour - 1);
        assert_eq!(earlier.pairs()[LATE], window_label(hour - HOUR));
        assert_eq!(stats.late_entries.get(), 3);
        assert!(Arc::ptr_eq(&at(&enc, now), &current));
    }

    #[test]
    fn a_stream_starts_at_now_and_a_future_entry_does_not_push_it_ahead() {
        let enc = Encoder::new(&LokiConfig::default(), Arc::default());
        let now = unix_nanos(SystemTime::now());
        // Loki may hold entries up to now from before a restart.
        assert!(at(&enc, now - 2 * HOUR).pairs().contains_key(LATE));
        // A clock far ahead: Loki refuses it anyway, so it must not turn
        // the entries after it into late ones.
        assert!(!at(&enc, now + 5 * HOUR).pairs().contains_key(LATE));
        assert!(!at(&enc, now - HOUR / 3).pairs().contains_key(LATE));
    }

    #[test]
    fn window_zero_never_routes_late() {
        let enc = encoder(LokiConfig::default());
        let now = unix_nanos(SystemTime::now());
        assert!(!at(&enc, now - 30 * HOUR).pairs().contains_key(LATE));
    }

    #[test]
    fn late_window_label_is_rfc3339_to_the_second() {
        assert_eq!(
            window_label(1_772_359_200_000_000_000),
            "2026-03-01T10:00:00Z"
        );
    }

    fn encode(encoder: &Encoder, entry: Entry) -> Vec<LokiEntry> {
        let mut out = Vec::new();
        encoder.encode(&entry, &mut out).unwrap();
        out
    }

    #[test]
    fn record_labels_metadata_line_and_timestamp() {
        let enc = encoder(LokiConfig {
            cluster: Some("prod".into()),
            ..LokiConfig::default()
        });
        let r = record(1, "shop");
        let e = encode(&enc, Entry::from(r.clone()));
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].labels.rendered(),
            r#"{cluster="prod", decision="allow", job="observatory", namespace="shop", workload="orders"}"#
        );
        assert_eq!(e[0].ts_nanos, 1_772_359_201_000_000_007);
        assert_eq!(e[0].line, serde_json::to_string(&r).unwrap());
        // Empty trace_id is left out.
        assert_eq!(
            e[0].metadata,
            [
                ("correlation_id", "corr-1".to_owned()),
                (
                    "source_principal",
                    "spiffe://cluster.local/ns/shop/sa/web".to_owned()
                ),
                ("proxy_id", "p-1".to_owned()),
            ]
        );
    }

    #[test]
    fn gap_line_has_only_static_labels() {
        let enc = encoder(LokiConfig::default());
        let gap = Entry::Gap(GapNotice {
            ts: "2026-03-01T10:00:00Z".into(),
            proxy_id: "p-1".into(),
            audit_gap: GapDetail {
                instance_id: "i".into(),
                seq: 3,
                dropped_records: 1,
                dropped_batches: 0,
                missing_seq_from: None,
                missing_seq_to: None,
            },
        });
        let e = encode(&enc, gap);
        assert_eq!(e[0].labels.rendered(), r#"{job="observatory"}"#);
        assert_eq!(e[0].metadata, [("proxy_id", "p-1".to_owned())]);
        assert_eq!(e[0].ts_nanos, 1_772_359_200_000_000_000);
    }

    #[test]
    fn anomaly_events_are_their_own_stream() {
        let enc = encoder(LokiConfig {
            cluster: Some("east".into()),
            ..LokiConfig::default()
        });
        let event = Entry::Anomaly(AnomalyNotice {
            ts: "2026-03-01T10:00:00Z".into(),
            anomaly: AnomalyEvent {
                principal: "spiffe://x".into(),
                destination: "orders".into(),
                score: 0.97,
                window_start: "2026-03-01T10:00:00Z".into(),
                reasons: Vec::new(),
                correlation_ids: vec!["c-1".into()],
            },
        });
        let e = encode(&enc, event);
        assert_eq!(
            e[0].labels.rendered(),
            r#"{cluster="east", job="observatory", kind="anomaly"}"#
        );
        assert_eq!(
            e[0].metadata,
            [("source_principal", "spiffe://x".to_owned())]
        );
        assert!(
            e[0].line
                .starts_with(r#"{"ts":"2026-03-01T10:00:00Z","anomaly":{"principal":"spiffe://x""#),
            "{}",
            e[0].line
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let labels = Labels::new([("a".to_owned(), "x\"y\\z\n".to_owned())].into());
        assert_eq!(labels.rendered(), r#"{a="x\"y\\z\n"}"#);
    }

    #[test]
    fn new_label_sets_beyond_the_limit_collapse_to_overflow() {
        let stats = Arc::new(LokiStats::default());
        let enc = Encoder::new(
            &LokiConfig {
                max_label_sets: NonZeroUsize::new(2).unwrap(),
                out_of_order_window_secs: 0,
                ..LokiConfig::default()
            },
            stats.clone(),
        );
        let ns = |n| encode(&enc, Entry::from(record(1, n)))[0].labels.clone();
        let a = ns("a");
        assert_eq!(ns("b").pairs()["namespace"], "b");
        let c = ns("c");
        assert_eq!(
            c.rendered(),
            r#"{decision="_overflow", job="observatory", namespace="_overflow", workload="_overflow"}"#
        );
        // Known sets keep their labels; every newcomer shares the overflow set.
        assert!(Arc::ptr_eq(&ns("a"), &a));
        assert!(Arc::ptr_eq(&ns("d"), &c));
        assert_eq!(stats.label_overflows.get(), 2);
    }

    #[test]
    fn long_line_is_split_at_char_boundaries_with_chunk_metadata() {
        let enc = encoder(LokiConfig::default());
        let mut r = record(1, "shop");
        // Multi-byte chars so a cut at exactly 256 KiB would split one.
        r.path = "é".repeat(200_000);
        let line = serde_json::to_string(&r).unwrap();
        let e = encode(&enc, Entry::from(r));
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|c| c.line.len() <= MAX_LINE_BYTES));
        assert_eq!(e.iter().map(|c| c.line.as_str()).collect::<String>(), line);
        for (i, c) in e.iter().enumerate() {
            let meta: BTreeMap<_, _> = c.metadata.iter().cloned().collect();
            assert_eq!(meta["chunk"], (i + 1).to_string());
            assert_eq!(meta["chunks"], "2");
            assert_eq!(meta["correlation_id"], "corr-1");
            assert_eq!(c.ts_nanos, e[0].ts_nanos);
        }
        assert_eq!(split_line(&"a".repeat(MAX_LINE_BYTES)).len(), 1);
    }

    #[test]
    fn bodies_group_streams_and_sort_entries() {
        let enc = encoder(LokiConfig::default());
        let mut entries = Vec::new();
        for (n, ns) in [(3, "a"), (1, "b"), (2, "a"), (1, "a")] {
            enc.encode(&Entry::from(record(n, ns)), &mut entries)
                .unwrap();
        }
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&protobuf_body(&entries).unwrap())
            .unwrap();
        let push = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(push.streams.len(), 2);
        let a = &push.streams[0];
        assert!(a.labels.contains(r#"namespace="a""#));
        let secs: Vec<i64> = a
            .entries
            .iter()
            .map(|e| e.timestamp.unwrap().seconds % 10)
            .collect();
        assert_eq!(secs, [1, 2, 3]);
        assert_eq!(a.entries[0].timestamp.unwrap().nanos, 7);

        let gz = json_body(&entries, true).unwrap();
        let mut json = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut json).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let a = &json["streams"][0];
        assert_eq!(a["stream"]["namespace"], "a");
        assert_eq!(a["values"][0][0], "1772359201000000007");
        assert_eq!(a["values"][0][2]["correlation_id"], "corr-1");
        assert_eq!(
            json_body(&entries, false).unwrap(),
            serde_json::to_vec(&json).unwrap()
        );
    }

    /// What prost writes for these entries' `PushRequest`.
    fn prost_request(entries: &[LokiEntry]) -> Vec<u8> {
        PushRequest {
            streams: streams(entries)
                .into_values()
                .map(|(labels, entries)| StreamAdapter {
                    labels: labels.rendered().to_owned(),
                    entries: entries
                        .into_iter()
                        .map(|e| EntryAdapter {
                            timestamp: Some(prost_types::Timestamp {
                                seconds: e.ts_nanos.div_euclid(1_000_000_000),
                                nanos: e.ts_nanos.rem_euclid(1_000_000_000) as i32,
                            }),
                            line: e.line.clone(),
                            structured_metadata: e
                                .metadata
                                .iter()
                                .map(|(name, value)| LabelPairAdapter {
                                    name: (*name).to_owned(),
                                    value: value.clone(),
                                })
                                .collect(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        }
        .encode_to_vec()
    }

    #[test]
    fn protobuf_body_is_what_prost_writes() {
        let enc = encoder(LokiConfig::default());
        let mut entries = Vec::new();
        for (n, ns) in [(3, "a"), (1, "b"), (2, "a")] {
            enc.encode(&Entry::from(record(n, ns)), &mut entries)
                .unwrap();
        }
        // A split line (chunk metadata), an empty value, a whole second,
        // the epoch itself and a time before it.
        let mut long = record(4, "a");
        long.path = "x".repeat(MAX_LINE_BYTES + 10);
        enc.encode(&Entry::from(long), &mut entries).unwrap();
        let labels = entries[0].labels.clone();
        for ts_nanos in [1_772_359_200_000_000_000, 0, -1_500_000_000] {
            entries.push(LokiEntry {
                labels: labels.clone(),
                ts_nanos,
                line: String::new(),
                metadata: vec![("proxy_id", String::new())],
            });
        }
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&protobuf_body(&entries).unwrap())
            .unwrap();
        assert_eq!(raw, prost_request(&entries));
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(&protobuf_body(&[]).unwrap())
                .unwrap(),
            prost_request(&[])
        );
    }
}
