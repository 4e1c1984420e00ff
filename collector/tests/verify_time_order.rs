//! Records stored in seq order whose request start times are not (slow
//! requests start before fast ones stored after them) verify clean, from
//! Loki, which returns them by time, and from the file; and so does a
//! range that cuts through them, its edges read with a margin.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::{signed, time};

/// Record `n` started `n % 7` times 90 s before a shared moment: time
/// order and seq order differ throughout.
fn slow(n: u32) -> observatory_proto::audit::AuditRecord {
    let now = observatory_proto::json::unix_nanos(std::time::SystemTime::now());
    let start = now - i64::from(n % 7) * 90_000_000_000 + i64::from(n);
    observatory_proto::audit::AuditRecord {
        ts_unix_nanos: start,
        ..record(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_out_of_time_order_verify_clean() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=60).map(slow).collect()).await;

    for outcome in [trail.verify_loki(&[]).await, trail.verify_file(None).await] {
        assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
        let report = outcome.report();
        assert_eq!(outcome.findings(), vec![]);
        assert_eq!(outcome.notices(), vec![]);
        assert_eq!(report["summary"]["records"], 60);
        assert_eq!(report["summary"]["proven"], 60);
        assert_eq!(report["proxies"][0]["first_seq"], 1);
        assert_eq!(report["proxies"][0]["last_seq"], 60);
    }

    // A range that starts and ends among them: only what is in it counts,
    // the margins give the lines and checkpoints around it.
    let (from, to) = (time(-400), time(-150));
    let outcome = trail.verify_between(&from, &to, &[]).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    let report = outcome.report();
    let in_range = report["summary"]["in_range"].as_u64().unwrap();
    assert!(0 < in_range && in_range < 60, "{report}");
    assert_eq!(report["summary"]["proven"], in_range);

    // Without margins, what is missing around the range is looked up: the
    // seqs between, the one before, the lines up to the next checkpoint.
    let outcome = trail.verify_between(&from, &to, &["--margin", "0s"]).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    let report = outcome.report();
    assert_eq!(report["summary"]["in_range"], in_range);
    assert_eq!(report["summary"]["proven"], in_range);
    assert!(
        report["summary"]["queries"].as_u64().unwrap() > 3,
        "{report}"
    );
}
