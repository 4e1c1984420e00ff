//! Loki's ingester: an entry more than an hour behind the newest entry of
//! its stream is ignored with the ingester's message, which wins over the
//! distributor's and speaks of the last stream of the push only; exact
//! duplicates are dropped silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{entry, now, push_protobuf, HOUR};
use observatory_testkit::loki::FakeLoki;

const STREAM: &str = "{job=\"api\"}";

#[tokio::test]
async fn entries_an_hour_behind_their_stream_are_ignored_and_listed() {
    let loki = FakeLoki::start().await;
    let t = now();
    assert_eq!(
        push_protobuf(&loki, &[(STREAM, vec![entry(t, "newest")])])
            .await
            .0,
        204
    );
    // Half an hour behind is fine, two hours is not; twelve such.
    let mut entries = vec![entry(t - HOUR / 2, "in the window")];
    entries.extend((0..12).map(|i| entry(t - 2 * HOUR + i, &format!("behind {i}"))));
    let (status, body) = push_protobuf(&loki, &[(STREAM, entries)]).await;
    assert_eq!(status, 400);
    let lines: Vec<&str> = body.lines().collect();
    // Ten entries listed, then the total.
    assert_eq!(lines.len(), 11, "{body}");
    assert!(lines[0].starts_with("entry with timestamp "), "{body}");
    assert!(
        lines[0]
            .contains(" +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: "),
        "{body}"
    );
    assert_eq!(
        lines[10],
        "user 'fake', total ignored: 12 out of 13 for stream: {job=\"api\", service_name=\"api\"}"
    );
    assert_eq!(loki.stored_lines(), ["in the window", "newest"]);
}

#[tokio::test]
async fn the_answer_is_about_the_last_stream_and_wins_over_the_distributors() {
    let loki = FakeLoki::start().await;
    let t = now();
    let (a, b) = ("{job=\"a\"}", "{job=\"b\"}");
    push_protobuf(
        &loki,
        &[
            (a, vec![entry(t, "a newest")]),
            (b, vec![entry(t, "b newest")]),
        ],
    )
    .await;

    // A stream behind, then one in order: Loki answers for the last one.
    let (status, _) = push_protobuf(
        &loki,
        &[
            (a, vec![entry(t - 2 * HOUR, "a behind")]),
            (b, vec![entry(t + 1, "b next")]),
        ],
    )
    .await;
    assert_eq!(status, 204);

    // An entry too new and an entry behind: the ingester's message only.
    let (status, body) = push_protobuf(
        &loki,
        &[
            (a, vec![entry(t + 2 * HOUR, "a too new")]),
            (b, vec![entry(t - 2 * HOUR, "b behind")]),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("total ignored: 1 out of 1 for stream: {job=\"b\""),
        "{body}"
    );
    assert!(!body.contains("too new"), "{body}");
    assert_eq!(loki.stored_lines(), ["a newest", "b newest", "b next"]);
}

#[tokio::test]
async fn exact_duplicates_are_dropped_silently() {
    let loki = FakeLoki::start().await;
    let t = now();
    let entries = vec![
        entry(t, "once"),
        entry(t, "once"),
        entry(t, "same time, other line"),
    ];
    for _ in 0..2 {
        assert_eq!(
            push_protobuf(&loki, &[(STREAM, entries.clone())]).await,
            (204, String::new())
        );
    }
    assert_eq!(loki.stored_lines(), ["once", "same time, other line"]);
}
