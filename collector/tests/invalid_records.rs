//! A record the collector cannot accept costs only itself: the batch is acked, its valid
//! records are stored, and the invalid one is kept as an `invalid` line in its place (in the
//! sender's chain) and named in the ack (`Ack.quarantined`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{batch, record, start, PROXY};
use observatory_proto::audit::{Ack, AuditBatch, Quarantined};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Sends `batch` on a new stream; the whole ack, not only its seq.
async fn ack_of(collector: &common::Running, batch: AuditBatch) -> Ack {
    let (batches, rx) = mpsc::channel(1);
    let mut acks = collector
        .client()
        .await
        .stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    batches.send(batch).await.unwrap();
    acks.message().await.unwrap().expect("an ack")
}

#[tokio::test]
async fn one_invalid_record_is_quarantined_and_the_rest_of_its_batch_stored() {
    let collector = start().await;
    let mut invalid = record(3);
    invalid.ts_unix_nanos = 0;
    invalid.method.clear();
    let records = vec![record(1), record(2), invalid, record(4)];
    let ack = ack_of(&collector, batch(1, records)).await;
    assert_eq!(ack.seq, 1);
    assert_eq!(
        ack.quarantined,
        [Quarantined {
            index: 2,
            reason: "ts_unix_nanos must be > 0, got 0".into()
        }]
    );

    let lines = collector.json_lines().await;
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["correlation_id"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(ids, ["corr-1", "corr-2", "-", "corr-4"]);
    let kept = &lines[2];
    assert_eq!(kept["proxy_id"], PROXY);
    let detail = &kept["invalid"];
    assert_eq!(
        (detail["seq"].as_u64(), detail["index"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(detail["reason"], "ts_unix_nanos must be > 0, got 0");
    // What could be read of it, its own time left out.
    assert_eq!(detail["record"]["correlation_id"], "corr-3");
    assert_eq!(detail["record"]["path"], "/orders/3");
    assert_eq!(detail["record"]["ts"], "");

    // The invalid line is a link of the sender's chain like the records.
    collector.chained_lines().await;
    let report = common::check_file(&collector.audit_path()).await;
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!((report.summary.records, report.summary.invalid), (3, 1));

    let stats = collector.stats.snapshot();
    assert_eq!(
        (
            stats.records_written,
            stats.records_quarantined,
            stats.batches_rejected
        ),
        (3, 1, 0)
    );
}
