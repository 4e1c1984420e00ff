//! What Loki refused for good: the dead-letter file ([`DeadLetters`]) and
//! which entries of a request a 400 rejected.
//!
//! A 400 is partial: Loki stored the valid entries of the request and names
//! the invalid ones. Its distributor groups identical messages
//! (`N errors like: <message>; <message>`), and each message names the
//! stream (as Loki rendered it, with labels it added such as
//! `service_name`) and the entry, by timestamp to the second or by line
//! length. Those are matched back to the request's entries. Where that is
//! ambiguous every candidate counts as rejected; where it is impossible
//! (a message this does not know, e.g. the ingester's "entry too far
//! behind" list, which is capped and names one stream of several) the
//! caller treats the whole request as rejected. Either way nothing rejected
//! is lost, at the price of dead-lettering some entries Loki did store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use observatory_proto::json::{format_ts, unix_nanos};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::warn;
use url::Url;

use super::error::shorten;
use super::labels::Labels;
use super::line::LokiEntry;
use crate::sink::jsonl::JsonlFile;
use crate::sink::metrics::SinkMetrics;
use crate::sink::SinkError;

/// The dead-letter file, and the sink's counts of what it holds.
pub struct DeadLetters {
    file: JsonlFile,
    metrics: SinkMetrics,
}

impl DeadLetters {
    pub fn new(file: JsonlFile, metrics: SinkMetrics) -> Self {
        DeadLetters { file, metrics }
    }

    /// Writes what Loki (at `url`) refused to the dead-letter file: the
    /// entries a 400 names, or the whole request when they cannot be told
    /// apart (413, 422, or a message [`rejected`] does not understand).
    pub async fn keep(
        &self,
        url: &Url,
        entries: &[LokiEntry],
        status: u16,
        message: &str,
    ) -> Result<(), SinkError> {
        let named = match status {
            400 => rejected(message, entries),
            _ => None,
        };
        let refused: Vec<(&LokiEntry, &str)> = match &named {
            Some(named) => named
                .iter()
                .filter_map(|(i, reason)| Some((entries.get(*i)?, *reason)))
                .collect(),
            None => entries.iter().map(|e| (e, message)).collect(),
        };
        let at = format_ts(unix_nanos(SystemTime::now()));
        let mut lines = Vec::new();
        for (entry, reason) in &refused {
            let line = DeadLetterLine {
                dead_lettered_at: &at,
                status,
                reason,
                labels: entry.labels.rendered(),
                ts: format_ts(entry.ts_nanos),
                metadata: entry
                    .metadata
                    .iter()
                    .map(|(n, v)| (*n, v.as_str()))
                    .collect(),
                line: &entry.line,
            };
            serde_json::to_writer(&mut lines, &line).map_err(|e| SinkError::Encode(Arc::new(e)))?;
            lines.push(b'\n');
        }
        self.file.append(lines).await?;
        let refused = refused.len();
        self.metrics.dead_lettered.add(refused as u64);
        if named.is_some() {
            self.metrics.confirmed.add((entries.len() - refused) as u64);
        }
        warn!(
            url = %url,
            status,
            dead_lettered = refused,
            of = entries.len(),
            file = %self.file.path().display(),
            "Loki refused entries: {}",
            shorten(message)
        );
        Ok(())
    }
}

/// One line of the dead-letter file: the Loki entry as it was pushed (so it
/// can be pushed again) and why Loki refused it.
#[derive(Serialize)]
struct DeadLetterLine<'a> {
    dead_lettered_at: &'a str,
    status: u16,
    reason: &'a str,
    labels: &'a str,
    ts: String,
    metadata: BTreeMap<&'a str, &'a str>,
    line: &'a str,
}

/// Labels Loki adds to streams by itself.
const ADDED_BY_LOKI: [&str; 3] = ["service_name", "__stream_shard__", "__time_shard__"];

/// For each rejected entry (index into `entries`), the message that named
/// it; `None` when the message cannot be mapped to entries.
pub fn rejected<'m>(message: &'m str, entries: &[LokiEntry]) -> Option<BTreeMap<usize, &'m str>> {
    let mut rejected = BTreeMap::new();
    for part in message.trim().split("; ") {
        let (count, message) = match part.split_once(" errors like: ") {
            Some((n, message)) => (n.parse::<usize>().ok()?, message),
            None => (1, part),
        };
        let named = named_by(message)?;
        let mut matched = 0;
        for (i, entry) in entries.iter().enumerate() {
            if named.matches(entry) {
                matched += 1;
                rejected.entry(i).or_insert(message);
            }
        }
        if matched < count {
            return None;
        }
    }
    Some(rejected)
}

/// What one message names.
struct Named {
    stream: BTreeMap<String, String>,
    which: Which,
}

enum Which {
    /// Timestamp truncated to the second (Go's `time.RFC3339`).
    Second(i64),
    LineLength(usize),
    /// A problem of the stream itself: all its entries.
    Stream,
}

impl Named {
    fn matches(&self, entry: &LokiEntry) -> bool {
        same_stream(&self.stream, &entry.labels)
            && match self.which {
                Which::Second(s) => entry.ts_nanos.div_euclid(1_000_000_000) == s,
                Which::LineLength(n) => entry.line.len() == n,
                Which::Stream => true,
            }
    }
}

/// Parses the messages of Loki's distributor validation
/// (`pkg/validation/validate.go`).
fn named_by(message: &str) -> Option<Named> {
    let named = |labels: &str, which| {
        Some(Named {
            stream: parse_labels(labels)?,
            which,
        })
    };
    if let Some(rest) = message.strip_prefix("entry for stream '") {
        if let Some((labels, ts)) = rest.split_once("' has timestamp too old: ") {
            let ts = ts.split_once(", oldest acceptable timestamp is: ")?.0;
            return named(labels, Which::Second(parse_second(ts)?));
        }
        if let Some((labels, ts)) = rest.split_once("' has timestamp too new: ") {
            return named(labels, Which::Second(parse_second(ts)?));
        }
        // "... has N label names; limit M"
        let (labels, _) = rest.split_once("' has ")?;
        return named(labels, Which::Stream);
    }
    // Loki has written both "Max entry size" and "max entry size".
    if message.to_ascii_lowercase().starts_with("max entry size '") {
        let (_, rest) = message.split_once("' bytes exceeded for stream '")?;
        let (labels, rest) = rest.split_once("' while adding an entry with length '")?;
        let length = rest.strip_suffix("' bytes")?.parse().ok()?;
        return named(labels, Which::LineLength(length));
    }
    // Label names/values too long, duplicate label names, structured
    // metadata too large, too many or not allowed.
    if let Some(rest) = message.strip_prefix("stream '") {
        let labels = rest
            .split_once("' has ")
            .or_else(|| rest.split_once("' includes "))?
            .0;
        return named(labels, Which::Stream);
    }
    None
}

fn parse_second(ts: &str) -> Option<i64> {
    OffsetDateTime::parse(ts.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Whether Loki's rendering of a stream is ours, ignoring labels Loki adds.
fn same_stream(theirs: &BTreeMap<String, String>, ours: &Labels) -> bool {
    let ours = ours.pairs();
    theirs
        .iter()
        .filter(|(name, _)| ours.contains_key(*name) || !ADDED_BY_LOKI.contains(&name.as_str()))
        .eq(ours.iter())
}

/// Parses `{a="b", c="d"}` as Prometheus renders it (values are Go string
/// literals).
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut rest = text.strip_prefix('{')?;
    let mut labels = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return after.is_empty().then_some(labels);
        }
        let (name, after) = rest.split_once("=\"")?;
        let (value, after) = unquote(after)?;
        labels.insert(name.to_owned(), value);
        rest = after;
    }
}

/// Reads a Go string literal body up to its closing quote; returns the value
/// and the text after the quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                let hex = |chars: &mut std::str::CharIndices, n| -> Option<u32> {
                    let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                    u32::from_str_radix(&digits, 16).ok()
                };
                let c = match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    'x' => char::from_u32(hex(&mut chars, 2)?)?,
                    'u' => char::from_u32(hex(&mut chars, 4)?)?,
                    'U' => char::from_u32(hex(&mut chars, 8)?)?,
                    other => other,
                };
                value.push(c);
            }
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use super::super::config::LokiConfig;
    use super::super::line::Encoder;
    use crate::trail::Entry;
    use observatory_proto::json::CanonicalRecord;

    /// Records in namespace `ns` at 2026-03-01T10:00:<secs>Z (in the past:
    /// no late streams).
    fn entries(specs: &[(&str, u32)]) -> Vec<LokiEntry> {
        let config = LokiConfig {
            out_of_order_window_secs: 0,
            ..LokiConfig::default()
        };
        let enc = Encoder::new(&config, Arc::default());
        let mut out = Vec::new();
        for (ns, secs) in specs {
            let r = CanonicalRecord {
                ts: format!("2026-03-01T10:00:{secs:02}.5Z"),
                correlation_id: "c".into(),
                trace_id: String::new(),
                source_principal: String::new(),
                source_ip: String::new(),
                mtls: false,
                destination_workload: "orders".into(),
                destination_namespace: (*ns).into(),
                method: "GET".into(),
                path: "/".into(),
                query: String::new(),
                status: 200,
                duration_ms: 1.0,
                request_bytes: 0,
                response_bytes: 0,
                user_agent: String::new(),
                headers: BTreeMap::new(),
                request_body: String::new(),
                response_body: String::new(),
                decision: "allow".into(),
                shadow_decision: String::new(),
                rule: String::new(),
                redactions: BTreeMap::new(),
                proxy_id: "p".into(),
                audit_policy: String::new(),
                anomaly_score: None,
                anomaly_reasons: Vec::new(),
                ..Default::default()
            };
            enc.encode(&Entry::from(r), &mut out).unwrap();
        }
        out
    }

    /// The stream as Loki renders it, with its `service_name`.
    const SHOP: &str = r#"{decision="allow", job="observatory", namespace="shop", service_name="orders", workload="orders"}"#;

    #[test]
    fn grouped_timestamp_errors_name_their_entries() {
        let e = entries(&[
            ("shop", 1),
            ("shop", 1),
            ("shop", 2),
            ("shop", 3),
            ("web", 1),
        ]);
        let message = format!(
            "2 errors like: entry for stream '{SHOP}' has timestamp too old: 2026-03-01T10:00:01Z, \
             oldest acceptable timestamp is: 2026-03-01T10:00:02Z; \
             1 errors like: entry for stream '{SHOP}' has timestamp too new: 2026-03-01T11:00:03+01:00\n"
        );
        let rejected = rejected(&message, &e).unwrap();
        assert_eq!(rejected.keys().copied().collect::<Vec<_>>(), [0, 1, 3]);
        assert!(rejected[&0].starts_with("entry for stream"));
        assert!(rejected[&3].contains("too new"));
    }

    #[test]
    fn single_error_without_count_and_line_length() {
        let mut e = entries(&[("shop", 1), ("shop", 1)]);
        e[1].line.push_str("xxxx");
        let len = e[1].line.len();
        let message = format!(
            "Max entry size '262144' bytes exceeded for stream '{SHOP}' while adding an entry with length '{len}' bytes"
        );
        assert_eq!(
            rejected(&message, &e)
                .unwrap()
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [1]
        );
    }

    #[test]
    fn stream_wide_errors_take_the_stream() {
        let e = entries(&[("shop", 1), ("web", 1), ("shop", 2)]);
        let message = format!("stream '{SHOP}' has label value too long: 'x'");
        assert_eq!(rejected(&message, &e).unwrap().len(), 2);
    }

    #[test]
    fn unknown_or_unmatched_messages_are_unmappable() {
        let e = entries(&[("shop", 1)]);
        assert_eq!(rejected("snappy: corrupt input", &e), None);
        // Names an entry the request does not have.
        let other =
            format!("entry for stream '{SHOP}' has timestamp too new: 2026-03-01T10:00:09Z");
        assert_eq!(rejected(&other, &e), None);
        // Claims more entries than match.
        let more = format!(
            "3 errors like: entry for stream '{SHOP}' has timestamp too new: 2026-03-01T10:00:01Z"
        );
        assert_eq!(rejected(&more, &e), None);
    }

    #[test]
    fn parses_go_quoted_labels() {
        let labels = parse_labels(r#"{a="x\"y\\z\n\u00e9\x41", b=""}"#).unwrap();
        assert_eq!(labels["a"], "x\"y\\z\né\u{41}");
        assert_eq!(labels["b"], "");
        assert_eq!(parse_labels(r#"{a="x"} trailing"#), None);
        assert_eq!(parse_labels(r#"{a="unterminated}"#), None);
    }
}
