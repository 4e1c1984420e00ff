//! Records over Loki's 256 KiB line limit are split by the sink into
//! pieces; `verify` joins them again and checks them like any line, and a
//! piece that is gone is named as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::signed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_records_are_joined_and_checked() {
    let mut trail = signed(|c| c.redact = false).await;
    let big = |n| observatory_proto::audit::AuditRecord {
        request_body: "x".repeat(300 * 1024),
        ..record(n)
    };
    trail
        .store(vec![record(1), big(2), record(3), big(4)])
        .await;
    let pieces = trail
        .loki
        .stored_lines()
        .iter()
        .filter(|l| !l.starts_with('{'))
        .count();
    assert_eq!(pieces, 2, "the second piece of each big record");

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.report()["summary"]["records"], 4);
    assert_eq!(outcome.report()["summary"]["proven"], 4);

    // The first piece of record 4 is gone: its line is incomplete, not
    // missing, and nothing else is wrong.
    let removed = trail.loki.remove_where(|_, e| {
        e.metadata.get("chunk").map(String::as_str) == Some("1")
            && e.metadata.get("correlation_id").map(String::as_str) == Some("corr-4")
    });
    assert_eq!(removed, 1);
    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(
        outcome.findings(),
        vec![("incomplete_split".to_owned(), Some(4))]
    );
}
