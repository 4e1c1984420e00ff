//! 10,000 records with one timestamp: Loki answers at most 5,000 entries a
//! query and cuts that timestamp wherever the limit falls; `verify` reads
//! all of them, each once, and finds nothing missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::signed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_entries_at_one_timestamp_verify_clean() {
    let mut trail = signed(|c| c.checkpoint_every = 1000.try_into().unwrap()).await;
    let ts = record(0).ts_unix_nanos;
    trail
        .store(
            (1..=10_000)
                .map(|n| observatory_proto::audit::AuditRecord {
                    ts_unix_nanos: ts,
                    ..record(n)
                })
                .collect(),
        )
        .await;
    let at_one_ts = trail
        .loki
        .stored_lines()
        .iter()
        .filter(|l| l.contains("\"correlation_id\""))
        .count();
    assert_eq!(at_one_ts, 10_000);

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    let report = outcome.report();
    assert_eq!(outcome.findings(), vec![]);
    let summary = &report["summary"];
    assert_eq!(summary["records"], 10_000);
    assert_eq!(summary["proven"], 10_000);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["checkpoints_verified"], 10);
}
