//! Right after an outage Loki does not show old entries it has just taken
//! until it flushes them. Lines whose checkpoint was written within
//! `--settle` (3 h by default with Loki) and that cannot be found are "not
//! yet visible": `verify` cannot tell yet (exit 2), rather than calling them
//! missing (exit 1) as it does once they should show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::record;
use common::signed::{run, signed, time, KEY_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_lines_loki_does_not_show_yet_are_not_yet_visible() {
    let mut trail = signed(|_| {}).await;
    // Requests of two hours ago, kept by the proxy through an outage.
    let two_hours_ago = record(0).ts_unix_nanos - 7_200_000_000_000;
    trail
        .store(
            (1..=8)
                .map(|n| observatory_proto::audit::AuditRecord {
                    ts_unix_nanos: two_hours_ago + i64::from(n),
                    ..record(n)
                })
                .collect(),
        )
        .await;
    trail
        .loki
        .hide_unflushed(Duration::from_secs(3600), Duration::from_secs(3600));

    let args = |settle: Option<&str>| {
        let mut args = vec![
            "verify".to_owned(),
            "--loki".to_owned(),
            trail.loki.url().to_string(),
        ];
        args.extend([
            "--from".to_owned(),
            time(-3 * 3600),
            "--to".to_owned(),
            time(3600),
        ]);
        args.extend(trail.key_args());
        args.extend(["--format".to_owned(), "json".to_owned()]);
        if let Some(settle) = settle {
            args.extend(["--settle".to_owned(), settle.to_owned()]);
        }
        args
    };
    // The checkpoints are there (written now), the lines they sign not yet.
    let outcome = run(args(None)).await;
    assert_eq!(outcome.code, 2, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.findings(), vec![]);
    assert_eq!(
        outcome.notices(),
        vec![("not_yet_visible".to_owned(), Some(4))]
    );
    assert_eq!(outcome.report()["notices"][0]["seq_to"], 8);
    assert_eq!(outcome.report()["key_id"], KEY_ID);

    let outcome = run(args(Some("0s"))).await;
    assert_eq!(outcome.code, 1, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.findings(), vec![("missing".to_owned(), Some(4))]);

    // Flushed: there after all.
    trail
        .loki
        .hide_unflushed(Duration::from_secs(3600), Duration::ZERO);
    let outcome = run(args(None)).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.report()["summary"]["proven"], 8);
}
