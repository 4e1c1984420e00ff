//! Push bodies as Loki's `ParseLokiRequest` reads them: a
//! `Content-Encoding` of gzip, deflate (raw, Go's `compress/flate`) or
//! none/snappy (passed on); then JSON for `application/json` (parameters
//! aside) and a raw snappy block of a `logproto.PushRequest` for anything
//! else. Labels are read as Loki reads them ([`super::labels`]).

use std::collections::BTreeMap;
use std::io::Read as _;

use observatory_proto::loki::PushRequest;
use prost::Message as _;

use super::labels;
use super::push::{Decoded, LokiLine, Pairs, Refusal};

/// Loki's `distributor.max_recv_msg_size`: the largest body it reads,
/// decompressed.
const MAX_BODY_BYTES: usize = 100 << 20;

/// The streams of a push body, or Loki's answer to it.
pub(crate) fn decode(
    content_type: &str,
    encoding: &str,
    body: &[u8],
) -> Result<Vec<Decoded>, Refusal> {
    let body = match encoding {
        "" | "snappy" => std::borrow::Cow::Borrowed(body),
        "gzip" => inflate(flate2::read::GzDecoder::new(body), "gzip: invalid header")?.into(),
        "deflate" => inflate(
            flate2::read::DeflateDecoder::new(body),
            "flate: corrupt input",
        )?
        .into(),
        other => {
            return Err(Refusal::bad_request(format!(
                "Content-Encoding {} not supported",
                labels::go_quote(other)
            )))
        }
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media_type == "application/json" {
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large(body.len()));
        }
        return decode_json(&body);
    }
    let corrupt = || Refusal::bad_request("snappy: corrupt input");
    let size = snap::raw::decompress_len(&body).map_err(|_| corrupt())?;
    if size > MAX_BODY_BYTES {
        return Err(too_large(size));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .map_err(|_| corrupt())?;
    let push = PushRequest::decode(raw.as_slice())
        .map_err(|e| Refusal::bad_request(format!("proto: {e}")))?;
    push.streams
        .into_iter()
        .map(|s| {
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e.timestamp.unwrap_or_default();
                    LokiLine {
                        ts_nanos: ts.seconds * 1_000_000_000 + i64::from(ts.nanos),
                        line: e.line,
                        metadata: e
                            .structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    }
                })
                .collect();
            stream(s.labels, entries)
        })
        .collect()
}

/// A stream whose labels Loki can read; a push with one it cannot is
/// refused whole.
fn stream(text: String, entries: Vec<LokiLine>) -> Result<Decoded, Refusal> {
    let pairs = labels::parse(&text).map_err(Refusal::bad_request)?;
    Ok(Decoded {
        text,
        pairs,
        entries,
    })
}

fn too_large(size: usize) -> Refusal {
    Refusal {
        status: 413,
        message: format!("request body too large: {size} bytes, limit: {MAX_BODY_BYTES} bytes"),
    }
}

/// Decompresses at most one byte more than Loki reads.
fn inflate(reader: impl std::io::Read, corrupt: &str) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    reader
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| Refusal::bad_request(corrupt))?;
    Ok(out)
}

/// `{"streams":[{"stream":{labels},"values":[["<ns>","line",{metadata}]]}]}`;
/// the labels are rendered and read again, as Loki does.
fn decode_json(json: &[u8]) -> Result<Vec<Decoded>, Refusal> {
    let bad = |message: &str| Refusal::bad_request(message);
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| Refusal::bad_request(e.to_string()))?;
    let streams = match &value["streams"] {
        serde_json::Value::Null => return Ok(Vec::new()),
        streams => streams
            .as_array()
            .ok_or_else(|| bad("streams must be an array"))?,
    };
    streams
        .iter()
        .map(|s| {
            let pairs = s["stream"]
                .as_object()
                .ok_or_else(|| bad("stream must be an object"))?
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .ok_or_else(|| bad("label values must be strings"))?;
                    Ok((k.clone(), v.to_owned()))
                })
                .collect::<Result<Pairs, Refusal>>()?;
            let entries = s["values"]
                .as_array()
                .ok_or_else(|| bad("values must be an array"))?
                .iter()
                .map(entry)
                .collect::<Result<_, Refusal>>()?;
            stream(labels::render(pairs.iter().map(|(k, v)| (k, v))), entries)
        })
        .collect()
}

/// `["<unix ns as a string>", "line"]`, optionally with a metadata object.
fn entry(value: &serde_json::Value) -> Result<LokiLine, Refusal> {
    let bad = |message: &str| Refusal::bad_request(message);
    let ts = value[0]
        .as_str()
        .ok_or_else(|| bad("timestamp must be a string of unix nanoseconds"))?;
    let line = value[1]
        .as_str()
        .ok_or_else(|| bad("line must be a string"))?;
    let mut metadata = BTreeMap::new();
    if let Some(m) = value.get(2) {
        for (k, v) in m
            .as_object()
            .ok_or_else(|| bad("structured metadata must be an object"))?
        {
            let v = v
                .as_str()
                .ok_or_else(|| bad("structured metadata values must be strings"))?;
            metadata.insert(k.clone(), v.to_owned());
        }
    }
    Ok(LokiLine {
        ts_nanos: ts
            .parse()
            .map_err(|_| Refusal::bad_request(format!("bad timestamp {ts}")))?,
        line: line.to_owned(),
        metadata,
    })
}
