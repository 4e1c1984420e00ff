//! A stored line → an OTLP `LogRecord`, so that an OpenTelemetry Collector
//! can forward the trail to a SIEM (Splunk HEC, Elasticsearch) with every
//! field searchable:
//!
//! - body: the line itself, exactly as the JSON-lines sink and Loki store
//!   it (hash chains can be checked from it);
//! - attributes: every top-level field of the line under its own name
//!   (`source_principal`, `decision`, `status`, …; objects as key-value
//!   lists, arrays as arrays), plus `observatory.kind`: `record`,
//!   `audit_gap`, `invalid`, `anomaly`, `service_health` or `checkpoint`;
//! - time: the entry's `ts`; observed time: when the sink read it;
//! - severity: WARN for denials, gaps, invalid records, anomalies and
//!   service health events, INFO otherwise;
//! - trace id: the record's W3C `trace_id`, when it is one.
//!
//! The attributes repeat the body's fields: SIEMs index attributes, and the
//! body keeps the exact bytes the chain hashed.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The attribute naming the kind of entry.
pub const KIND: &str = "observatory.kind";

/// Top-level keys that make a line something other than a record.
const NOTICE_KEYS: [&str; 5] = [
    "audit_gap",
    "invalid",
    "anomaly",
    "service_health",
    "checkpoint",
];

/// The log record of one stored line, observed at `observed_nanos`. A line
/// that is not a JSON object (the WAL never writes one) still goes, as its
/// body with `observatory.kind` `unparsable`: a sink must not stall on it.
pub fn log_record(line: &str, observed_nanos: u64) -> LogRecord {
    match serde_json::from_str::<Map<String, Value>>(line) {
        Ok(fields) => from_fields(line, fields, observed_nanos),
        Err(_) => LogRecord {
            observed_time_unix_nano: observed_nanos,
            severity_number: SeverityNumber::Warn as i32,
            severity_text: "WARN".to_owned(),
            body: Some(string(line.to_owned())),
            attributes: vec![kv(KIND.to_owned(), string("unparsable".to_owned()))],
            ..LogRecord::default()
        },
    }
}

fn from_fields(line: &str, fields: Map<String, Value>, observed_nanos: u64) -> LogRecord {
    let kind = NOTICE_KEYS
        .into_iter()
        .find(|key| fields.contains_key(*key))
        .unwrap_or("record");
    let denied = fields.get("decision").and_then(Value::as_str) == Some("deny");
    let (severity, text) = if kind != "record" && kind != "checkpoint" || denied {
        (SeverityNumber::Warn, "WARN")
    } else {
        (SeverityNumber::Info, "INFO")
    };
    let time = fields
        .get("ts")
        .and_then(Value::as_str)
        .and_then(|ts| OffsetDateTime::parse(ts, &Rfc3339).ok())
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        .unwrap_or(0);
    let trace_id = fields
        .get("trace_id")
        .and_then(Value::as_str)
        .and_then(trace_id_bytes)
        .unwrap_or_default();
    let mut attributes = Vec::with_capacity(fields.len() + 1);
    attributes.push(kv(KIND.to_owned(), string(kind.to_owned())));
    attributes.extend(fields.into_iter().map(|(key, value)| kv(key, any(value))));
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed_nanos,
        severity_number: severity as i32,
        severity_text: text.to_owned(),
        body: Some(string(line.to_owned())),
        attributes,
        trace_id,
        ..LogRecord::default()
    }
}

/// 16 bytes from 32 hex digits, not all zero (an invalid trace id).
fn trace_id_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 32 {
        return None;
    }
    let bytes = (0..16)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    bytes.iter().any(|&b| b != 0).then_some(bytes)
}

pub(super) fn kv(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..KeyValue::default()
    }
}

pub(super) fn string(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// JSON as OTLP's `AnyValue`: integers stay integers, `null` is empty.
fn any(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(any_value::Value::IntValue(i)),
            None => n.as_f64().map(any_value::Value::DoubleValue),
        },
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(any).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map
                .into_iter()
                .map(|(key, value)| kv(key, any(value)))
                .collect(),
        })),
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn attribute<'a>(record: &'a LogRecord, key: &str) -> &'a any_value::Value {
        let kv = record.attributes.iter().find(|kv| kv.key == key).unwrap();
        kv.value.as_ref().unwrap().value.as_ref().unwrap()
    }

    #[test]
    fn a_record_line_keeps_every_field() {
        let line = r#"{"ts":"2026-12-06T10:00:00.000000001Z","correlation_id":"c-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","status":403,"duration_ms":1.5,"mtls":true,"decision":"deny","redactions":{"EMAIL":2},"anomaly_score":null}"#;
        let record = log_record(line, 7);
        assert_eq!(record.time_unix_nano, 1_796_551_200_000_000_001);
        assert_eq!(record.observed_time_unix_nano, 7);
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(
            record.body.unwrap().value,
            Some(any_value::Value::StringValue(line.to_owned()))
        );
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.trace_id[0], 0x4b);
        let record = log_record(line, 7);
        assert_eq!(
            attribute(&record, KIND),
            &any_value::Value::StringValue("record".into())
        );
        assert_eq!(
            attribute(&record, "status"),
            &any_value::Value::IntValue(403)
        );
        assert_eq!(
            attribute(&record, "duration_ms"),
            &any_value::Value::DoubleValue(1.5)
        );
        assert_eq!(
            attribute(&record, "mtls"),
            &any_value::Value::BoolValue(true)
        );
        let any_value::Value::KvlistValue(redactions) = attribute(&record, "redactions") else {
            panic!("redactions not a list");
        };
        assert_eq!(redactions.values[0].key, "EMAIL");
        let null = record
            .attributes
            .iter()
            .find(|kv| kv.key == "anomaly_score")
            .unwrap();
        assert_eq!(null.value.as_ref().unwrap().value, None);
    }

    #[test]
    fn notices_are_named_and_warn() {
        let gap = r#"{"ts":"2026-12-06T10:00:00Z","proxy_id":"p","audit_gap":{"seq":3}}"#;
        let record = log_record(gap, 0);
        assert_eq!(
            attribute(&record, KIND),
            &any_value::Value::StringValue("audit_gap".into())
        );
        assert_eq!(record.severity_text, "WARN");
        let allowed = r#"{"ts":"2026-12-06T10:00:00Z","decision":"allow","trace_id":"00000000000000000000000000000000"}"#;
        let record = log_record(allowed, 0);
        assert_eq!(record.severity_text, "INFO");
        assert!(record.trace_id.is_empty());
        let odd = log_record("not json", 0);
        assert_eq!(
            attribute(&odd, KIND),
            &any_value::Value::StringValue("unparsable".into())
        );
    }
}
