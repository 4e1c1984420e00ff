//! Lines after a proxy's last checkpoint cannot be proven yet: while a
//! checkpoint may still be on its way they are the unverifiable tail — a
//! notice, not a finding (exit 0; `--strict` makes it 2) — and once one is
//! overdue (`--tail-grace`) they are uncovered (exit 1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::signed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_after_the_last_checkpoint_are_unverifiable_until_overdue() {
    // A checkpoint every 4 lines, none by time for an hour.
    let mut trail = signed(|c| c.checkpoint_within = std::time::Duration::from_secs(3600)).await;
    // Requests of a minute ago.
    let minute_ago = |n| observatory_proto::audit::AuditRecord {
        ts_unix_nanos: record(n).ts_unix_nanos - 60_000_000_000,
        ..record(n)
    };
    trail
        .store_unsealed((1..=6).map(minute_ago).collect())
        .await;

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.findings(), vec![]);
    assert_eq!(
        outcome.notices(),
        vec![("unverifiable_tail".to_owned(), Some(5))]
    );
    let notice = &outcome.report()["notices"][0];
    assert_eq!(notice["seq_to"], 6);
    let summary = &outcome.report()["summary"];
    assert_eq!(
        (summary["proven"].as_u64(), summary["tail"].as_u64()),
        (Some(4), Some(2))
    );

    let strict = trail.verify_loki(&["--strict"]).await;
    assert_eq!(strict.code, 2, "{}", strict.stdout);
    assert_eq!(strict.report()["verdict"], "unchecked");

    let overdue = trail.verify_loki(&["--tail-grace", "30s"]).await;
    assert_eq!(overdue.code, 1, "{}", overdue.stdout);
    assert_eq!(
        overdue.findings(),
        vec![
            ("uncovered".to_owned(), Some(5)),
            ("uncovered".to_owned(), Some(6))
        ]
    );
}
