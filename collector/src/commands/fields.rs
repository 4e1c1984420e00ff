//! `observatory-collector fields`: the names a LogQL query can use, as
//! JSON: the fields of every kind of line the collector stores, the
//! structured metadata and the stream labels the Loki sink gives them, and
//! the PII types a record's `redactions` counts. They are read off one
//! fully populated sample line of each kind, written by the code that
//! writes real ones (serde, the chain's stamps and checkpoints, the Loki
//! sink's encoder), so they cannot drift from it; the tests prove that every
//! sample sets every field its type declares.
//!
//! A line's fields are JSON paths: `a.b` a key of an object, `a[]` the
//! elements of an array, `*` any key of a map (`headers.*`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use observatory_proto::audit::AuditRecord;
use observatory_proto::json::{format_ts, CanonicalRecord};
use observatory_redact::PiiType;
use serde::Serialize;
use serde_json::Value;

use crate::chain::{ChainSettings, Chains, CheckpointKey};
use crate::score::attribution::{Direction, Reason};
use crate::score::event::{AnomalyEvent, ServiceHealthEvent};
use crate::score::features::{Feature, WindowId};
use crate::score::model::Scope;
use crate::sink::loki::config::{LokiConfig, MAX_LINE_BYTES};
use crate::sink::loki::{Encoder, LokiStats};
use crate::trail::{
    AnomalyNotice, Entry, GapDetail, GapNotice, InvalidDetail, InvalidNotice, RecordEntry,
    ServiceHealthNotice,
};

/// What `fields` prints.
#[derive(Debug, Serialize)]
pub struct Contract {
    /// Kind of line → its JSON paths.
    pub lines: BTreeMap<&'static str, BTreeSet<String>>,
    /// Kind of line → the structured metadata of its Loki entry.
    pub metadata: BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// What each piece of a line split for Loki's line limit adds to it.
    pub split_metadata: BTreeSet<&'static str>,
    /// The stream labels the Loki sink sets itself → their values, `null`
    /// where the configuration or the time decides them. The labels mapped
    /// from record fields (`[loki] labels`) come on top.
    pub labels: BTreeMap<String, Option<BTreeSet<String>>>,
    /// The built-in PII types: the keys of `redactions` (with the custom
    /// types a `redaction` config names).
    pub pii_types: Vec<String>,
}

/// Kind of line of an entry: the name `fields` lists it under. A new kind
/// of entry does not compile here: give it a sample in [`samples`] too.
fn kind(entry: &Entry) -> &'static str {
    match entry {
        Entry::Record(_) => "record",
        Entry::Gap(_) => "audit_gap",
        Entry::Invalid(_) => "invalid",
        Entry::Anomaly(_) => "anomaly",
        Entry::Health(_) => "service_health",
        Entry::Checkpoint(_) => CHECKPOINT,
    }
}

/// Kind of the lines the chain writes itself.
const CHECKPOINT: &str = "checkpoint";

/// Two times far enough in the past that the Loki sink puts their lines
/// in `late` streams, a day apart: what changes with the time shows.
const TIMES: [i64; 2] = [1_000_000_000_000_000_000, 1_000_086_400_000_000_000];

/// What the collector writes, read off its sample lines as stored, at two
/// times and with two clusters.
pub fn contract() -> Result<Contract, serde_json::Error> {
    let mut lines: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut metadata: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    let mut label_values: [BTreeMap<String, BTreeSet<String>>; 2] = Default::default();
    for (run, (at, cluster)) in TIMES.into_iter().zip(["a", "b"]).enumerate() {
        let encoder = encoder(cluster);
        for (kind, line) in stored(&samples(at), at)? {
            lines.entry(kind).or_default().extend(paths(&line)?);
            let mut entries = Vec::new();
            encoder.encode_line(&line, &mut entries)?;
            for entry in entries {
                let names = entry.metadata.iter().map(|(name, _)| *name);
                metadata.entry(kind).or_default().extend(names);
                for (name, value) in entry.labels.pairs() {
                    let values = label_values[run].entry(name.clone()).or_default();
                    values.insert(value.clone());
                }
            }
        }
    }
    let [first, second] = label_values;
    let labels = first
        .into_iter()
        .map(|(name, values)| {
            let fixed = second.get(&name) == Some(&values);
            (name, fixed.then_some(values))
        })
        .collect();
    Ok(Contract {
        lines,
        metadata,
        split_metadata: split_metadata(TIMES[0])?,
        labels,
        pii_types: PiiType::BUILTIN.iter().map(PiiType::to_string).collect(),
    })
}

/// The Loki sink's encoder with no labels from record fields (those are
/// the deployment's choice) and `cluster` as the static cluster label.
fn encoder(cluster: &str) -> Encoder {
    let config = LokiConfig {
        cluster: Some(cluster.to_owned()),
        labels: BTreeMap::new(),
        ..LokiConfig::default()
    };
    Encoder::new(&config, Arc::new(LokiStats::default()))
}

/// `entries` as the WAL stores them, each line with its kind: chained
/// where the WAL chains them, each followed by a checkpoint (the chain
/// signs after every line here).
fn stored(entries: &[Entry], at: i64) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    let settings = ChainSettings {
        key: Some(CheckpointKey {
            id: "fields".to_owned(),
            secret: vec![1; 32],
        }),
        every: 1,
        within: Duration::from_secs(1),
    };
    let mut chains = Chains::new(HashMap::new(), settings);
    let ts = format_ts(at);
    let mut stored = Vec::new();
    for entry in entries {
        let line = serde_json::to_vec(entry)?;
        let mut out = Vec::new();
        match entry.chain_key() {
            Some(proxy) => chains.stamp(proxy, &line, at, &ts, &mut out),
            None => out = line,
        }
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines().filter(|l| !l.is_empty());
        if let Some(line) = lines.next() {
            stored.push((kind(entry), line.to_owned()));
        }
        stored.extend(lines.map(|l| (CHECKPOINT, l.to_owned())));
    }
    Ok(stored)
}

/// The metadata the pieces of a record too long for one Loki line carry
/// beyond the whole record's.
fn split_metadata(at: i64) -> Result<BTreeSet<&'static str>, serde_json::Error> {
    let mut long = record(at);
    long.record.request_body = "x".repeat(MAX_LINE_BYTES);
    let encoder = encoder("a");
    let (mut whole, mut pieces) = (Vec::new(), Vec::new());
    encoder.encode_line(
        &serde_json::to_string(&Entry::Record(record(at)))?,
        &mut whole,
    )?;
    encoder.encode_line(&serde_json::to_string(&Entry::Record(long))?, &mut pieces)?;
    let whole: BTreeSet<_> = whole
        .iter()
        .flat_map(|e| &e.metadata)
        .map(|m| m.0)
        .collect();
    Ok(pieces
        .iter()
        .flat_map(|e| &e.metadata)
        .map(|m| m.0)
        .filter(|name| !whole.contains(name))
        .collect())
}

/// The JSON paths of a stored line's leaves.
fn paths(line: &str) -> Result<BTreeSet<String>, serde_json::Error> {
    let mut out = BTreeSet::new();
    collect_paths(&serde_json::from_str(line)?, String::new(), &mut out);
    Ok(out)
}

fn collect_paths(value: &Value, path: String, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = match path.is_empty() {
                    true => key.clone(),
                    false => format!("{path}.{key}"),
                };
                collect_paths(value, path, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                collect_paths(item, format!("{path}[]"), out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// One fully populated entry of every kind the collector makes (checkpoints
/// are the chain's), stamped `at`. Maps whose keys are free have the one
/// key `*`.
fn samples(at: i64) -> Vec<Entry> {
    let ts = format_ts(at);
    vec![
        Entry::Record(record(at)),
        Entry::Gap(GapNotice {
            ts: ts.clone(),
            proxy_id: "proxy".into(),
            sender: "spiffe://sender".into(),
            audit_gap: GapDetail {
                instance_id: "instance".into(),
                seq: 2,
                dropped_records: 1,
                dropped_batches: 1,
                missing_seq_from: Some(1),
                missing_seq_to: Some(1),
            },
        }),
        Entry::Invalid(InvalidNotice {
            ts: ts.clone(),
            proxy_id: "proxy".into(),
            sender: "spiffe://sender".into(),
            // As the ingest makes it, from what the sender sent.
            invalid: InvalidDetail::new("instance", 3, 0, "reason".into(), &audit_record(at)),
        }),
        Entry::Anomaly(AnomalyNotice {
            ts: ts.clone(),
            anomaly: AnomalyEvent {
                principal: "spiffe://principal".into(),
                destination: "destination".into(),
                score: 0.9,
                window_start: ts.clone(),
                reasons: vec![reason()],
                correlation_ids: vec!["correlation".into()],
            },
        }),
        Entry::Health(ServiceHealthNotice {
            ts: ts.clone(),
            service_health: ServiceHealthEvent {
                destination: "destination".into(),
                score: 0.9,
                window_start: ts,
                reasons: vec![reason()],
                correlation_ids: vec!["correlation".into()],
            },
        }),
    ]
}

/// A stored record with every field the ingest and the scorer can set;
/// `redactions` counts every built-in type.
fn record(at: i64) -> RecordEntry {
    let mut record = CanonicalRecord::from(&audit_record(at));
    record.sender = "spiffe://sender".into();
    record.anomaly_score = Some(0.9);
    RecordEntry {
        record,
        reasons: vec![reason()],
        warmup: true,
    }
}

/// What a filter sends, every field set.
fn audit_record(at: i64) -> AuditRecord {
    let text = |s: &str| s.to_owned();
    AuditRecord {
        ts_unix_nanos: at,
        correlation_id: text("correlation"),
        trace_id: text("trace"),
        source_principal: text("spiffe://principal"),
        source_ip: text("10.0.0.1"),
        mtls: true,
        destination_workload: text("workload"),
        destination_namespace: text("namespace"),
        method: text("GET"),
        path: text("/path"),
        status: 200,
        duration_ms: 1.5,
        request_bytes: 1,
        response_bytes: 1,
        user_agent: text("agent"),
        decision: text("allow"),
        shadow_decision: text("deny"),
        rule: text("policy/rule"),
        redactions: PiiType::BUILTIN
            .iter()
            .map(|ty| (ty.as_str().to_owned(), 1))
            .collect(),
        proxy_id: text("proxy"),
        audit_policy: text("audit"),
        query: text("q=1"),
        headers: BTreeMap::from([(text("*"), text("value"))]),
        request_body: text("request"),
        response_body: text("response"),
        record_id: text("record"),
        client_request_id: text("client"),
        forwarded_for: text("10.0.0.2"),
        source_ip_origin: text("peer"),
        response_details: text("details"),
    }
}

fn reason() -> Reason {
    Reason {
        feature: Feature::Status401Ratio,
        scope: Scope::Principal,
        window: Some(WindowId::OneMinute),
        direction: Direction::Above,
        observed: 0.9,
        expected: 0.1,
        z: 5.0,
        share: 1.0,
    }
}

#[cfg(test)]
mod declared;
#[cfg(test)]
mod tests;
