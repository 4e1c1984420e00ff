//! `query_range` answers as Loki 3 does: newest first unless asked
//! otherwise, at most `limit` entries, a result stream per stream label
//! set and structured metadata, filters over both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{now, push_protobuf, query, values, with_proxy, HOUR};
use observatory_testkit::loki::FakeLoki;
use serde_json::Value;

/// The (proxy, line) pairs of a 200 answer, sorted.
fn sorted((status, answer): (u16, Value)) -> Vec<(String, String)> {
    assert_eq!(status, 200, "{answer}");
    let mut values = values(&answer);
    values.sort();
    values
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn answers_newest_first_by_default_and_forward_on_request() {
    let loki = FakeLoki::start().await;
    let t = now();
    let entries = vec![
        with_proxy(t, "first", "p1"),
        with_proxy(t + 1, "second", "p2"),
        with_proxy(t + 2, "third", "p1"),
    ];
    push_protobuf(&loki, &[("{job=\"observatory\"}", entries)]).await;
    let (start, end) = ((t - HOUR).to_string(), (t + HOUR).to_string());
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let selector = ("query", "{job=\"observatory\"}");

    let newest = query(&loki, &[selector, range[0], range[1], ("limit", "2")]).await;
    // The two newest, one result stream per proxy (its metadata).
    assert_eq!(sorted(newest), pairs(&[("p1", "third"), ("p2", "second")]));
    let direction = ("direction", "forward");
    let oldest = query(
        &loki,
        &[selector, range[0], range[1], direction, ("limit", "2")],
    )
    .await;
    assert_eq!(sorted(oldest), pairs(&[("p1", "first"), ("p2", "second")]));

    let filter = "{job=\"observatory\"} | proxy_id=\"p1\" != \"first\"";
    let filtered = query(&loki, &[("query", filter), range[0], range[1]]).await;
    assert_eq!(sorted(filtered), pairs(&[("p1", "third")]));

    // [start, end): an entry at `end` is not in the range.
    let end = (t + 1).to_string();
    let until_second = query(&loki, &[selector, range[0], ("end", end.as_str())]).await;
    assert_eq!(sorted(until_second), pairs(&[("p1", "first")]));
}

#[tokio::test]
async fn refuses_what_loki_refuses() {
    let loki = FakeLoki::start().await;
    let selector = ("query", "{job=\"observatory\"}");
    for (params, message) in [
        (
            vec![selector, ("limit", "5001")],
            "max entries limit per query exceeded",
        ),
        (
            vec![selector, ("start", "2000"), ("end", "1000")],
            "end timestamp must not be before",
        ),
        (
            vec![selector, ("start", "0"), ("end", "2596000")],
            "the query time range exceeds the limit (query length: 721h6m40s, limit: 721h)",
        ),
        (vec![("query", "{job=~\".+\"} | json")], "parse error"),
        (vec![], "parse error"),
    ] {
        let (status, answer) = query(&loki, &params).await;
        assert_eq!(status, 400, "{params:?}");
        assert!(answer.as_str().unwrap().contains(message), "{answer}");
    }
}
