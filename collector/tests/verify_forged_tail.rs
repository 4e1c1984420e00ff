//! A record appended after a proxy's last one, with the next seq and a
//! valid chain: the collector covers every line with a signed checkpoint
//! within seconds, so a line after the last checkpoint that is older than
//! that is uncovered — reported once, as itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::{forge, signed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_appended_after_the_last_checkpoint_is_uncovered() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=6).map(record).collect()).await;
    let (_, last) = trail.stored(6);
    // Dated among the genuine ones, ten minutes ago.
    let ts = last.ts_nanos - 600_000_000_000;
    let body = common::canonical(&last.line)
        .replace("/orders/6", "/api/admin/export-all")
        .replace(
            &observatory_proto::json::format_ts(last.ts_nanos),
            &observatory_proto::json::format_ts(ts),
        );
    trail.push(ts, &forge(&body, 7, &last.line)).await;

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.findings(), vec![("uncovered".to_owned(), Some(7))]);
    assert_eq!(outcome.report()["findings"][0]["loki_ts"], ts.to_string());
    assert_eq!(outcome.report()["summary"]["proven"], 6);
}
