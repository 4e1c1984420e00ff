//! Loki's `GET /loki/api/v1/query_range` over what the stand-in stores, for
//! log queries of the form `{name="value", name!="value"} | name="value"
//! |= "text"`: stream matchers, label filters (over stream labels and
//! structured metadata) and line filters. Anything else is a 400.
//!
//! As Loki 3 answers without the `categorize-labels` flag, a result
//! stream's labels are the stream's (with `service_name`) and the entry's
//! structured metadata.
//!
//! Order, as Loki's merge of streams has it (`iter.NewHeapIterator`): by
//! timestamp, entries with the same timestamp by their result stream's
//! labels, and within one stream in the order they were pushed (reversed
//! when `direction=backward`). `limit` cuts that order wherever it falls,
//! in the middle of entries with one timestamp too.

use std::collections::BTreeMap;

use super::labels::Cursor;
use super::limits::with_service_name;
use super::push::{Labels, Store};

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;
/// `max_entries_limit_per_query`.
const MAX_LIMIT: usize = 5000;
/// `max_query_length` (721 h).
const MAX_LENGTH: i64 = 721 * HOUR;

/// Entries a query does not find yet: older than `within` before now
/// (`query_ingesters_within`: older times are read from the store only)
/// and stored less than `flush_after` ago (still in an ingester's chunk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unflushed {
    pub within: i64,
    pub flush_after: i64,
}

impl Unflushed {
    fn hides(&self, ts: i64, stored_at: i64, now: i64) -> bool {
        ts < now - self.within && stored_at > now - self.flush_after
    }
}

/// One condition of a query.
enum Condition {
    Equal(String, String),
    NotEqual(String, String),
    LineContains(String),
    LineLacks(String),
}

impl Condition {
    fn holds(&self, labels: &Labels, line: &str) -> bool {
        self.holds_with(|name| labels.get(name).map(String::as_str), line)
    }

    /// [`Condition::holds`] with the labels looked up by `label`.
    fn holds_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>, line: &str) -> bool {
        let value = |name: &String| label(name).unwrap_or("");
        match self {
            Condition::Equal(name, v) => value(name) == v,
            Condition::NotEqual(name, v) => value(name) != v,
            Condition::LineContains(text) => line.contains(text.as_str()),
            Condition::LineLacks(text) => !line.contains(text.as_str()),
        }
    }
}

/// A query: its stream selector, then its filters.
struct Query {
    selector: Vec<Condition>,
    filters: Vec<Condition>,
}

fn parse_query(text: &str) -> Result<Query, String> {
    let mut cursor = Cursor::new(text);
    let matcher = |cursor: &mut Cursor| -> Result<Condition, String> {
        let name = cursor
            .name(false)
            .ok_or_else(|| cursor.error("label name"))?
            .to_owned();
        if cursor.eat("!=") {
            return Ok(Condition::NotEqual(name, cursor.string()?));
        }
        if cursor.eat("=~") || cursor.eat("!~") {
            return Err("parse error: regular expressions are not supported here".into());
        }
        if cursor.eat("=") {
            return Ok(Condition::Equal(name, cursor.string()?));
        }
        Err(cursor.error("\"=\" or \"!=\""))
    };
    if !cursor.eat("{") {
        return Err(cursor.error("\"{\""));
    }
    let mut selector = Vec::new();
    while !cursor.eat("}") {
        selector.push(matcher(&mut cursor)?);
        if !cursor.eat(",") && !cursor.rest().trim_start().starts_with('}') {
            return Err(cursor.error("\",\" or \"}\""));
        }
    }
    if selector.is_empty() {
        return Err("parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value".into());
    }
    let mut filters = Vec::new();
    loop {
        if cursor.eat("|=") {
            filters.push(Condition::LineContains(cursor.string()?));
        } else if cursor.eat("!=") {
            filters.push(Condition::LineLacks(cursor.string()?));
        } else if cursor.eat("|") {
            filters.push(matcher(&mut cursor)?);
        } else {
            cursor.skip_space();
            if cursor.peek().is_some() {
                return Err(cursor.error("\"|\", \"|=\" or \"!=\""));
            }
            return Ok(Query { selector, filters });
        }
    }
}

/// A time as Loki reads one (`loghttp.parseTimestamp`): RFC 3339, Unix
/// seconds with a fraction, Unix seconds (10 digits or fewer), or Unix
/// nanoseconds.
fn parse_time(value: &str) -> Option<i64> {
    if value.contains('.') {
        if let Ok(seconds) = value.parse::<f64>() {
            return Some((seconds * 1e9).round() as i64);
        }
    }
    match value.parse::<i64>() {
        Ok(n) if value.len() <= 10 => Some(n * SECOND),
        Ok(n) => Some(n),
        Err(_) => {
            time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
        }
    }
}

/// `query_range` as Loki answers it: entries in [start, end) (an hour to
/// now unless set), newest first unless `direction=forward`, at most
/// `limit` (100 unless set), grouped by stream. The JSON answer, or the
/// message of a 400.
pub(crate) fn query_range(
    params: &str,
    store: &Store,
    unflushed: Option<Unflushed>,
    now: i64,
) -> Result<serde_json::Value, String> {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(params.as_bytes())
        .into_owned()
        .collect();
    let time = |name: &str, default: i64| match params.get(name) {
        None => Ok(default),
        Some(value) => parse_time(value).ok_or_else(|| format!("invalid {name} time {value:?}")),
    };
    let end = time("end", now)?;
    let start = time("start", end - 3600 * SECOND)?;
    if end <= start {
        return Err("end timestamp must not be before or equal to start time".into());
    }
    if end - start > MAX_LENGTH {
        return Err(format!(
            "the query time range exceeds the limit (query length: {}, limit: 721h)",
            go_duration(end - start)
        ));
    }
    let limit = match params.get("limit") {
        None => 100,
        Some(limit) => limit
            .parse::<usize>()
            .map_err(|_| format!("invalid limit {limit:?}"))?,
    };
    if limit > MAX_LIMIT {
        return Err(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_LIMIT})"
        ));
    }
    let forward = match params.get("direction").map(String::as_str) {
        None | Some("backward" | "BACKWARD") => false,
        Some("forward" | "FORWARD") => true,
        Some(other) => return Err(format!("invalid direction {other:?}")),
    };
    let query = parse_query(params.get("query").map_or("", String::as_str))?;
    let named: Vec<Labels> = store.keys().map(with_service_name).collect();
    // (ts, (stream labels, metadata): the result stream's labels, push
    // order, line); labels merged only for what is returned.
    let mut entries: Vec<(i64, (&Labels, &Labels), u64, &String)> = Vec::new();
    for (named, stored) in named.iter().zip(store.values()) {
        if !query.selector.iter().all(|m| m.holds(named, "")) {
            continue;
        }
        for ((ts, line), kept) in stored.range((start, String::new())..(end, String::new())) {
            if unflushed.is_some_and(|u| u.hides(*ts, kept.stored_at, now)) {
                continue;
            }
            // A stream label wins over metadata of the same name.
            let label = |name: &str| {
                named
                    .get(name)
                    .or_else(|| kept.metadata.get(name))
                    .map(String::as_str)
            };
            if query.filters.iter().all(|f| f.holds_with(label, line)) {
                entries.push((*ts, (named, &kept.metadata), kept.order, line));
            }
        }
    }
    match forward {
        true => entries.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2))),
        false => entries.sort_by(|a, b| {
            (b.0, a.1, std::cmp::Reverse(a.2)).cmp(&(a.0, b.1, std::cmp::Reverse(b.2)))
        }),
    }
    entries.truncate(limit);
    let mut streams: BTreeMap<Labels, Vec<(String, &String)>> = BTreeMap::new();
    for (ts, (named, metadata), _, line) in entries {
        let mut labels = named.clone();
        for (name, value) in metadata {
            labels.entry(name.clone()).or_insert_with(|| value.clone());
        }
        streams
            .entry(labels)
            .or_default()
            .push((ts.to_string(), line));
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(labels, values)| serde_json::json!({"stream": labels, "values": values}))
        .collect();
    Ok(serde_json::json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result},
    }))
}

/// Go's `time.Duration.String()` of whole seconds and more (`744h0m0s`).
fn go_duration(nanos: i64) -> String {
    let seconds = nanos / SECOND;
    let fraction = match nanos % SECOND {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_owned(),
    };
    format!(
        "{}h{}m{}{fraction}s",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_times_as_loki_does() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000 * SECOND));
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(
            parse_time("1700000000000000001"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Some(1_700_000_000 * SECOND)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn refuses_queries_it_cannot_answer_as_loki_would() {
        for query in [
            "",
            "{}",
            "job=\"x\"",
            "{job=~\"x\"}",
            "{job=\"x\"} | json",
            "rate({job=\"x\"}[1m])",
        ] {
            assert!(parse_query(query).is_err(), "{query}");
        }
        let query =
            parse_query(r#"{job="x", a!="b"} | proxy_id="p" |= "GET" != "health""#).unwrap();
        assert_eq!((query.selector.len(), query.filters.len()), (2, 3));
    }
}
