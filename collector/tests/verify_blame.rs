//! Tampering with what Loki stores, one record at a time: a deleted, an
//! edited and a moved record are each reported once, naming that record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::loki::LokiLine;
use common::record;
use common::signed::{signed, Signed};

async fn stored() -> Signed {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=10).map(record).collect()).await;
    trail
}

fn of_seq(seq: u64) -> impl Fn(&str) -> bool {
    let text = format!(",\"seq\":{seq},\"chain\":\"");
    move |line| line.contains(&text)
}

/// Changes the entry of seq `seq` where Loki stores it.
fn rewrite(trail: &Signed, seq: u64, change: impl Fn(&mut LokiLine)) {
    let of_seq = of_seq(seq);
    let changed = trail.loki.rewrite_where(|_, e| {
        of_seq(&e.line).then(|| {
            let mut e = e.clone();
            change(&mut e);
            Some(e)
        })
    });
    assert_eq!(changed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_is_missing() {
    let trail = stored().await;
    let seq_3 = of_seq(3);
    assert_eq!(trail.loki.remove_where(|_, e| seq_3(&e.line)), 1);
    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert_eq!(outcome.findings(), vec![("missing".to_owned(), Some(3))]);
    // Between the lines of seq 2 and 4.
    let finding = &outcome.report()["findings"][0];
    assert_eq!(finding["loki_ts"], trail.stored(2).1.ts_nanos.to_string());
    assert_eq!(
        finding["also"][0]["loki_ts"],
        trail.stored(4).1.ts_nanos.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_is_altered() {
    let trail = stored().await;
    rewrite(&trail, 6, |e| {
        e.line = e.line.replace("\"status\":201", "\"status\":200")
    });
    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert_eq!(outcome.findings(), vec![("altered".to_owned(), Some(6))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_moved_to_another_time_is_reordered() {
    let trail = stored().await;
    rewrite(&trail, 7, |e| e.ts_nanos -= 5_000_000_000);
    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert_eq!(outcome.findings(), vec![("reordered".to_owned(), Some(7))]);
}
