//! After an outage, Loki does not show the old entries it just took until
//! their chunk is flushed: its queriers ask the ingesters only about recent
//! times. The stand-in hides them on request, and only them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{entry, now, push_protobuf, query, values, HOUR};
use observatory_testkit::loki::FakeLoki;

async fn count(loki: &FakeLoki, start: i64, end: i64) -> usize {
    let (start, end) = (start.to_string(), end.to_string());
    let params = [
        ("query", "{job=\"observatory\"}"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("limit", "5000"),
    ];
    let (status, answer) = query(loki, &params).await;
    assert_eq!(status, 200, "{answer}");
    values(&answer).len()
}

#[tokio::test]
async fn old_entries_stored_recently_are_hidden_until_flushed() {
    let loki = FakeLoki::start().await;
    let t = now();
    let old = t - 4 * HOUR;
    push_protobuf(
        &loki,
        &[(
            "{job=\"observatory\"}",
            vec![entry(old, "old"), entry(t, "recent")],
        )],
    )
    .await;
    assert_eq!(count(&loki, old - HOUR, t + HOUR).await, 2);

    loki.hide_unflushed(Duration::from_secs(3 * 3600), Duration::from_secs(3600));
    // The recent entry is in an ingester's window; the old one is not.
    assert_eq!(count(&loki, old - HOUR, t + HOUR).await, 1);
    assert_eq!(count(&loki, old - HOUR, old + HOUR).await, 0);

    // Flushed (stored longer ago than flush_after): found again.
    loki.hide_unflushed(Duration::from_secs(3 * 3600), Duration::ZERO);
    assert_eq!(count(&loki, old - HOUR, old + HOUR).await, 1);
}
