//! The stand-in reads every body Loki reads, as Loki reads it: protobuf in
//! a raw snappy block (whatever the Content-Type but JSON's), JSON plain,
//! gzipped or raw-deflated, and answers 204 with an empty body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;

use common::{entry, gzip, now, protobuf, push};
use observatory_testkit::loki::{FakeLoki, LokiLine};

fn json(line: &str, ts: i64) -> Vec<u8> {
    serde_json::json!({"streams": [{
        "stream": {"job": "observatory", "namespace": "shop"},
        "values": [[ts.to_string(), line, {"proxy_id": "p1"}]],
    }]})
    .to_string()
    .into_bytes()
}

fn raw_deflate(body: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn every_body_loki_reads_is_stored_alike() {
    let loki = FakeLoki::start().await;
    let t = now();
    let labels = r#"{namespace="shop", job="observatory"}"#;
    let proto = |line: &str, ts| {
        let mut e = entry(ts, line);
        e.2.push(("proxy_id".into(), "p1".into()));
        protobuf(&[(labels, vec![e])])
    };
    let pushes = [
        ("application/x-protobuf", "", proto("protobuf", t)),
        ("", "", proto("no content type", t + 1)),
        (
            "application/x-protobuf",
            "snappy",
            proto("snappy named", t + 2),
        ),
        ("application/json", "", json("json", t + 3)),
        (
            "application/json; charset=utf-8",
            "",
            json("json with a charset", t + 4),
        ),
        (
            "application/json",
            "gzip",
            gzip(&json("gzipped json", t + 5)),
        ),
        (
            "application/json",
            "deflate",
            raw_deflate(&json("deflated json", t + 6)),
        ),
        (
            "application/x-protobuf",
            "gzip",
            gzip(&proto("gzipped protobuf", t + 7)),
        ),
    ];
    for (content_type, encoding, body) in pushes {
        assert_eq!(
            push(&loki, content_type, encoding, body).await,
            (204, String::new()),
            "{content_type} {encoding}"
        );
    }
    let stored = loki.stored();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (labels, lines) = stored.into_iter().next().unwrap();
    assert_eq!(
        labels,
        [("job", "observatory"), ("namespace", "shop")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );
    let lines: Vec<(i64, String)> = lines
        .into_iter()
        .map(
            |LokiLine {
                 ts_nanos,
                 line,
                 metadata,
             }| {
                assert_eq!(metadata["proxy_id"], "p1");
                (ts_nanos - t, line)
            },
        )
        .collect();
    assert_eq!(
        lines,
        [
            "protobuf",
            "no content type",
            "snappy named",
            "json",
            "json with a charset",
            "gzipped json",
            "deflated json",
            "gzipped protobuf"
        ]
        .into_iter()
        .enumerate()
        .map(|(i, line)| (i as i64, line.to_owned()))
        .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn bodies_loki_cannot_read_are_refused_whole() {
    let loki = FakeLoki::start().await;
    let t = now();
    let numeric_ts = serde_json::json!({"streams": [{
        "stream": {"job": "x"}, "values": [[t, "line"]],
    }]})
    .to_string()
    .into_bytes();
    let zlib = {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&json("zlib", t)).unwrap();
        encoder.finish().unwrap()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "application/x-protobuf",
            "",
            b"not snappy".to_vec(),
            400,
            "snappy: corrupt input\n",
        ),
        (
            "application/x-protobuf",
            "",
            snap::raw::Encoder::new().compress_vec(&[0xff; 8]).unwrap(),
            400,
            "proto: ",
        ),
        ("application/json", "", numeric_ts, 400, ""),
        (
            "application/json",
            "br",
            json("br", t),
            400,
            "Content-Encoding \"br\" not supported\n",
        ),
        // Loki's deflate is raw: a zlib header is corrupt input to it.
        ("application/json", "deflate", zlib, 400, ""),
        (
            "application/json",
            "",
            br#"{"streams":[]}"#.to_vec(),
            422,
            "error at least one valid stream is required for ingestion\n",
        ),
        (
            "application/x-protobuf",
            "",
            protobuf(&[
                ("{job=\"x\"}", vec![entry(t, "fine")]),
                ("{job-name=\"x\"}", vec![entry(t, "bad label name")]),
            ]),
            400,
            "couldn't parse labels: 1:",
        ),
    ];
    for (content_type, encoding, body, status, message) in cases {
        let (got, body) = push(&loki, content_type, encoding, body).await;
        assert_eq!(got, status, "{content_type} {encoding}: {body}");
        assert!(
            body.starts_with(message),
            "{content_type} {encoding}: {body}"
        );
    }
    assert!(loki.stored().is_empty());
    assert_eq!(loki.requests().len(), 7);
}

#[tokio::test]
async fn streams_without_entries_store_nothing_and_succeed() {
    let loki = FakeLoki::start().await;
    let (status, _) = push(
        &loki,
        "application/x-protobuf",
        "",
        protobuf(&[("{job=\"x\"}", vec![])]),
    )
    .await;
    assert_eq!(status, 204);
    assert!(loki.stored().is_empty());
}
