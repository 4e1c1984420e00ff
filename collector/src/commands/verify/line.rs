//! What a line of the trail is: a chained line of a proxy (record, gap,
//! invalid record, or a kind this version does not know, chained all the
//! same), a checkpoint, a line the scorer derived (an anomaly or a service
//! health event: not chained) — or none of these, which the collector never
//! writes: an injection.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::chain::{split, Checkpoint};
use crate::score::event::{AnomalyEvent, ServiceHealthEvent};

/// What kind of chained line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Record,
    Gap,
    Invalid,
    /// Chained by a collector that knows more kinds (named by its key).
    Other(String),
}

impl Kind {
    pub fn name(&self) -> &str {
        match self {
            Kind::Record => "record",
            Kind::Gap => "audit_gap",
            Kind::Invalid => "invalid",
            Kind::Other(name) => name,
        }
    }
}

/// A line of a proxy's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Chained {
    pub proxy: String,
    pub seq: u64,
    pub chain: [u8; 32],
    /// The line without `seq` and `chain`: what `chain` hashes.
    pub canonical: String,
    pub kind: Kind,
    /// Its own `ts` (unix ns).
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointLine {
    pub proxy: String,
    pub checkpoint: Checkpoint,
    /// When it was written (unix ns).
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Chained(Chained),
    Checkpoint(CheckpointLine),
    /// An event the scorer derived (`anomaly`, `service_health`).
    Derived {
        ts: Option<i64>,
    },
    /// Not a line the collector writes; why not.
    Injected(&'static str),
}

impl Line {
    /// The line's own `ts` (unix ns), for the kinds that have one.
    pub fn ts(&self) -> Option<i64> {
        match self {
            Line::Chained(c) => c.ts,
            Line::Checkpoint(c) => c.ts,
            Line::Derived { ts } => *ts,
            Line::Injected(_) => None,
        }
    }

    pub fn proxy(&self) -> Option<&str> {
        match self {
            Line::Chained(c) => Some(&c.proxy),
            Line::Checkpoint(c) => Some(&c.proxy),
            Line::Derived { .. } | Line::Injected(_) => None,
        }
    }
}

/// RFC 3339 → unix ns.
pub fn parse_ts(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
}

/// Keys of a chained line that say which kind it is.
const KIND_KEYS: [(&str, Kind); 2] = [("audit_gap", Kind::Gap), ("invalid", Kind::Invalid)];

pub fn classify(text: &str) -> Line {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Line::Injected("not JSON");
    };
    let Value::Object(object) = value else {
        return Line::Injected("not a JSON object");
    };
    let ts = object.get("ts").and_then(Value::as_str).and_then(parse_ts);
    if object.contains_key("checkpoint") {
        return checkpoint(&object, ts);
    }
    let proxy = match object.get("proxy_id") {
        None if object.contains_key("anomaly") => {
            return derived::<AnomalyEvent>(&object, "anomaly", ts)
        }
        None if object.contains_key("service_health") => {
            return derived::<ServiceHealthEvent>(&object, "service_health", ts)
        }
        None => return Line::Injected("no proxy_id"),
        Some(Value::String(proxy)) if !proxy.is_empty() => proxy.clone(),
        Some(_) => return Line::Injected("proxy_id is not a name"),
    };
    let Some((canonical, seq, chain)) = split(text) else {
        return Line::Injected("no seq and chain at its end");
    };
    let kind = KIND_KEYS
        .iter()
        .find(|(key, _)| object.contains_key(*key))
        .map(|(_, kind)| kind.clone())
        .unwrap_or_else(|| record_or_other(&object));
    Line::Chained(Chained {
        proxy,
        seq,
        chain,
        canonical,
        kind,
        ts,
    })
}

/// Exactly `{"ts","proxy_id","checkpoint":{"seq","chain","key_id","hmac"}}`.
fn checkpoint(object: &Map<String, Value>, ts: Option<i64>) -> Line {
    let keys_are = |object: &Map<String, Value>, keys: &[&str]| {
        object.len() == keys.len() && keys.iter().all(|k| object.contains_key(*k))
    };
    let inner = object.get("checkpoint").and_then(Value::as_object);
    let well_formed = keys_are(object, &["ts", "proxy_id", "checkpoint"])
        && inner.is_some_and(|c| keys_are(c, &["seq", "chain", "key_id", "hmac"]));
    let proxy = object.get("proxy_id").and_then(Value::as_str);
    let parsed =
        inner.and_then(|c| serde_json::from_value::<Checkpoint>(Value::Object(c.clone())).ok());
    match (well_formed, proxy, parsed) {
        (true, Some(proxy), Some(checkpoint)) if !proxy.is_empty() => {
            Line::Checkpoint(CheckpointLine {
                proxy: proxy.to_owned(),
                checkpoint,
                ts,
            })
        }
        _ => Line::Injected("not a checkpoint as the collector writes one"),
    }
}

/// Exactly `{"ts","<key>":{…}}` with an event `E` inside.
fn derived<E: serde::de::DeserializeOwned>(
    object: &Map<String, Value>,
    key: &str,
    ts: Option<i64>,
) -> Line {
    let event = object
        .get(key)
        .and_then(|e| serde_json::from_value::<E>(e.clone()).ok());
    match (object.len(), ts, event) {
        (2, Some(_), Some(_)) => Line::Derived { ts },
        _ => Line::Injected("not an event as the scorer writes one"),
    }
}

/// Fields every canonical record has.
const RECORD_KEYS: [&str; 6] = [
    "correlation_id",
    "source_principal",
    "method",
    "path",
    "status",
    "decision",
];

/// A record, if the line has a record's fields; else the kind its first
/// key after `ts`, `proxy_id` and `sender` names.
fn record_or_other(object: &Map<String, Value>) -> Kind {
    if RECORD_KEYS.iter().all(|k| object.contains_key(*k)) {
        return Kind::Record;
    }
    let name = object
        .keys()
        .find(|k| !matches!(k.as_str(), "ts" | "proxy_id" | "sender" | "seq" | "chain"))
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    Kind::Other(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn tells_every_kind_from_an_injection() {
        let chained = |body: &str| format!(r#"{{{body},"seq":3,"chain":"{CHAIN}"}}"#);
        let gap = chained(r#""ts":"2026-01-01T00:00:00Z","proxy_id":"p","audit_gap":{}"#);
        assert!(matches!(
            classify(&gap),
            Line::Chained(Chained {
                kind: Kind::Gap,
                seq: 3,
                ..
            })
        ));
        let future = chained(r#""ts":"2026-01-01T00:00:00Z","proxy_id":"p","sealed":{"a":1}"#);
        assert!(
            matches!(classify(&future), Line::Chained(Chained { kind: Kind::Other(ref k), .. }) if k == "sealed")
        );
        let health = r#"{"ts":"2026-01-01T00:00:00Z","service_health":{"destination":"orders","score":0.9,"window_start":"2026-01-01T00:00:00Z","reasons":[],"correlation_ids":[]}}"#;
        assert!(matches!(classify(health), Line::Derived { ts: Some(_) }));
        let anomaly = health.replace("service_health\":{", "anomaly\":{\"principal\":\"p\",");
        assert!(matches!(classify(&anomaly), Line::Derived { ts: Some(_) }));
        for (line, why) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (
                r#"{"correlation_id":"FORGED","path":"/api/admin"}"#,
                "no proxy_id",
            ),
            (
                r#"{"ts":"x","proxy_id":"p","path":"/x"}"#,
                "no seq and chain at its end",
            ),
            (
                r#"{"ts":"2026-01-01T00:00:00Z","proxy_id":"p","path":"/x","checkpoint":{}}"#,
                "not a checkpoint as the collector writes one",
            ),
            (
                r#"{"ts":"2026-01-01T00:00:00Z","anomaly":{},"path":"/x"}"#,
                "not an event as the scorer writes one",
            ),
        ] {
            assert_eq!(classify(line), Line::Injected(why), "{line}");
        }
    }
}
