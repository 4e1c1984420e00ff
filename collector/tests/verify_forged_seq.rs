//! A forged record that takes the next seq after a genuine one and carries
//! a chain computed from it, as anyone who knows how chains are made can
//! forge: the genuine record with that seq is on the signed chain, so the
//! forged one is blamed — not the genuine one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::{forge, signed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_with_a_valid_seq_and_chain_is_blamed_alone() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=8).map(record).collect()).await;
    let (_, fourth) = trail.stored(4);
    let (_, fifth) = trail.stored(5);
    let body = common::canonical(&fifth.line).replace("/orders/5", "/api/admin/export-all");
    let forged = forge(&body, 5, &fourth.line);
    let at = fifth.ts_nanos + 1;
    trail.push(at, &forged).await;

    let outcome = trail.verify_loki(&[]).await;
    assert_eq!(outcome.code, 1, "{}{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.findings(), vec![("forged".to_owned(), Some(5))]);
    let finding = &outcome.report()["findings"][0];
    assert_eq!(finding["loki_ts"], at.to_string());
    assert_eq!(
        finding["logql"],
        format!(
            "{{job=\"observatory\"}} | proxy_id=\"{}\" |= `\"seq\":5,\"chain\":\"`",
            common::PROXY
        )
    );
    assert_eq!(outcome.report()["summary"]["proven"], 8);
}
