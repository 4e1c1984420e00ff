//! Lines pushed into the trail's streams that the collector never writes —
//! not JSON, or a record without `proxy_id` or without its chain — are
//! injections, each reported once where it is, with the LogQL to see it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::signed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_the_collector_never_writes_are_reported_once_each() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=8).map(record).collect()).await;
    let ts = record(4).ts_unix_nanos;
    let injected = [
        (ts + 11, "GET /api/admin/export-all 200 alice".to_owned()),
        (
            ts + 12,
            r#"{"correlation_id":"FORGED","path":"/api/admin/export-all"}"#.to_owned(),
        ),
        // A record as the filter sends it, but never stored by a collector.
        (
            ts + 13,
            common::canonical(&trail.stored(5).1.line).replace("/orders/5", "/orders/55"),
        ),
    ];
    for (ts, line) in &injected {
        trail.push(*ts, line).await;
    }

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}{}", outcome.stdout, outcome.stderr);
    let findings = outcome.report()["findings"].clone();
    let found: Vec<(&str, String, &str)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["loki_ts"].as_str().unwrap().to_owned(),
                f["logql"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found.len(), 3, "{findings}");
    for ((kind, at, logql), (ts, line)) in found.iter().zip(&injected) {
        assert_eq!((*kind, at.as_str()), ("injected", ts.to_string().as_str()));
        let text = logql
            .strip_prefix("{job=\"observatory\"} |= `")
            .and_then(|q| q.strip_suffix('`'))
            .unwrap();
        assert!(line.starts_with(text), "{logql}");
    }
    // The genuine trail is still whole and proven.
    assert_eq!(outcome.report()["summary"]["proven"], 8);
}
