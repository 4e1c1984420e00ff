//! Loki's `GET /loki/api/v1/query_range` over what the stand-in stores, for
//! log queries of the form `{name="value", name!="value"} | name="value"
//! |= "text"`: stream matchers, label filters (over stream labels and
//! structured metadata) and line filters. Anything else is a 400.
//!
//! As Loki 3 answers without the `categorize-labels` flag, a result
//! stream's labels are the stream's (with `service_name`) and the entry's
//! structured metadata.

use std::collections::BTreeMap;

use super::labels::Cursor;
use super::limits::with_service_name;
use super::push::{Labels, Store};

const SECOND: i64 = 1_000_000_000;
/// `max_entries_limit_per_query`.
const MAX_LIMIT: usize = 5000;

/// One condition of a query.
enum Condition {
    Equal(String, String),
    NotEqual(String, String),
    LineContains(String),
    LineLacks(String),
}

impl Condition {
    fn holds(&self, labels: &Labels, line: &str) -> bool {
        let value = |name: &String| labels.get(name).map_or("", String::as_str);
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
    let mut entries: Vec<(i64, Labels, &String)> = Vec::new();
    for (labels, stored) in store {
        let named = with_service_name(labels);
        if !query.selector.iter().all(|m| m.holds(&named, "")) {
            continue;
        }
        for ((ts, line), metadata) in stored.range((start, String::new())..(end, String::new())) {
            let mut labels = named.clone();
            for (name, value) in metadata {
                labels.entry(name.clone()).or_insert_with(|| value.clone());
            }
            if query.filters.iter().all(|f| f.holds(&labels, line)) {
                entries.push((*ts, labels, line));
            }
        }
    }
    match forward {
        true => entries.sort_by_key(|(ts, _, _)| *ts),
        false => entries.sort_by_key(|(ts, _, _)| std::cmp::Reverse(*ts)),
    }
    entries.truncate(limit);
    let mut streams: BTreeMap<Labels, Vec<(String, &String)>> = BTreeMap::new();
    for (ts, labels, line) in entries {
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
