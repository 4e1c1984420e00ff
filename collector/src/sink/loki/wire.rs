//! Loki entries → push request bodies: protobuf in a raw snappy block, or
//! JSON (optionally gzipped).

use std::collections::BTreeMap;
use std::io::{self, Write as _};

use flate2::write::GzEncoder;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use serde::ser::{SerializeSeq as _, Serializer};
use serde::Serialize;

use super::labels::Labels;
use super::line::LokiEntry;

/// The entries grouped into streams (by label set), each sorted by timestamp
/// (stable, so chunks of a line keep their order).
pub(super) fn streams(entries: &[LokiEntry]) -> BTreeMap<&str, (&Labels, Vec<&LokiEntry>)> {
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
