//! Pushes to the stand-in as a client would, byte for byte.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use observatory_proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use observatory_testkit::loki::FakeLoki;
use prost::Message as _;
use serde_json::Value;

pub const SECOND: i64 = 1_000_000_000;
pub const HOUR: i64 = 3600 * SECOND;

/// Now, to the second, plus a quarter second: recent, as Loki wants.
pub fn now() -> i64 {
    let now = observatory_proto::json::unix_nanos(std::time::SystemTime::now());
    now - now % SECOND + SECOND / 4
}

/// One entry: timestamp, line, structured metadata.
pub type Entry = (i64, String, Vec<(String, String)>);

pub fn entry(ts: i64, line: &str) -> Entry {
    (ts, line.to_owned(), Vec::new())
}

/// A `logproto.PushRequest` of `streams` (labels as written), in a raw
/// snappy block.
pub fn protobuf(streams: &[(&str, Vec<Entry>)]) -> Vec<u8> {
    let request = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: (*labels).to_owned(),
                entries: entries
                    .iter()
                    .map(|(ts, line, metadata)| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: ts.div_euclid(SECOND),
                            nanos: ts.rem_euclid(SECOND) as i32,
                        }),
                        line: line.clone(),
                        structured_metadata: metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// POSTs `body` to the push endpoint; the status and body of the answer.
pub async fn push(
    loki: &FakeLoki,
    content_type: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = client()
        .post(loki.url().join("/loki/api/v1/push").unwrap())
        .body(body);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if !encoding.is_empty() {
        request = request.header("content-encoding", encoding);
    }
    answer(request).await
}

pub async fn push_protobuf(loki: &FakeLoki, streams: &[(&str, Vec<Entry>)]) -> (u16, String) {
    push(loki, "application/x-protobuf", "", protobuf(streams)).await
}

pub async fn get(loki: &FakeLoki, path_and_query: &str) -> (u16, String) {
    answer(client().get(loki.url().join(path_and_query).unwrap())).await
}

pub fn client() -> reqwest::Client {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// An entry with `proxy` as its `proxy_id` metadata.
pub fn with_proxy(ts: i64, line: &str, proxy: &str) -> Entry {
    (ts, line.into(), vec![("proxy_id".into(), proxy.into())])
}

/// `GET /loki/api/v1/query_range` with `params`: the status and the JSON
/// answer (or the body as a string).
pub async fn query(loki: &FakeLoki, params: &[(&str, &str)]) -> (u16, Value) {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let (status, body) = get(loki, &format!("/loki/api/v1/query_range?{query}")).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Every (proxy, line) of an answer, in answer order (streams sorted by
/// their labels, entries in direction order).
pub fn values(answer: &Value) -> Vec<(String, String)> {
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["data"]["resultType"], "streams");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let proxy = s["stream"]["proxy_id"].as_str().unwrap_or("").to_owned();
            assert_eq!(s["stream"]["service_name"], "observatory");
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (proxy.clone(), v[1].as_str().unwrap().to_owned()))
        })
        .collect()
}
