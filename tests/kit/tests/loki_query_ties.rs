//! Entries with one timestamp, as Loki orders and cuts them: by result
//! stream labels, within a stream in push order (reversed backward), and
//! `limit` cuts wherever it falls, so a page that ends inside a timestamp
//! leaves the rest of that timestamp for a query that starts at it again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{now, push_protobuf, query, values, Entry, HOUR};
use observatory_testkit::loki::FakeLoki;

async fn lines(loki: &FakeLoki, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let (status, answer) = query(loki, params).await;
    assert_eq!(status, 200, "{answer}");
    values(&answer)
}

/// An entry of `proxy`; its line is `name` (the proxy is only metadata:
/// both proxies write to one stream, where Loki drops a repeated line).
fn at(ts: i64, proxy: &str, name: &str) -> Entry {
    (ts, name.into(), vec![("proxy_id".into(), proxy.into())])
}

#[tokio::test]
async fn a_limit_cuts_one_timestamp_by_stream_then_push_order() {
    let loki = FakeLoki::start().await;
    let t = now();
    // Pushed interleaved and out of line order: "p2" first, lines z..w.
    let mut entries = Vec::new();
    for (i, name) in ["z", "y", "x", "w"].iter().enumerate() {
        entries.push(at(t, "p2", &format!("{name}{i}.")));
        entries.push(at(t, "p1", &format!("{name}{i}")));
    }
    entries.push(at(t + 1, "p1", "later"));
    push_protobuf(&loki, &[("{job=\"observatory\"}", entries)]).await;
    let (start, end) = ((t - HOUR).to_string(), (t + HOUR).to_string());
    let base = [
        ("query", "{job=\"observatory\"}"),
        ("start", start.as_str()),
        ("end", end.as_str()),
    ];
    let owned = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(p, l)| ((*p).to_owned(), (*l).to_owned()))
            .collect()
    };

    let forward = [&base[..], &[("direction", "forward"), ("limit", "5")]].concat();
    assert_eq!(
        lines(&loki, &forward).await,
        owned(&[
            ("p1", "z0"),
            ("p1", "y1"),
            ("p1", "x2"),
            ("p1", "w3"),
            ("p2", "z0.")
        ])
    );
    // Starting again at the cut timestamp finds the rest of it; starting
    // one nanosecond after it would skip three entries.
    let from_t = t.to_string();
    let again = [
        base[0],
        ("start", from_t.as_str()),
        base[2],
        ("direction", "forward"),
        ("limit", "5000"),
    ];
    assert_eq!(lines(&loki, &again).await.len(), 9);
    let after = (t + 1).to_string();
    let skipping = [
        base[0],
        ("start", after.as_str()),
        base[2],
        ("direction", "forward"),
    ];
    assert_eq!(lines(&loki, &skipping).await, owned(&[("p1", "later")]));

    // Backward: the newest timestamp first, then the tie by stream labels,
    // each stream's entries newest pushed first.
    let backward = [&base[..], &[("limit", "4")]].concat();
    assert_eq!(
        lines(&loki, &backward).await,
        owned(&[("p1", "later"), ("p1", "w3"), ("p1", "x2"), ("p1", "y1")])
    );
}
