//! A batch the collector refuses (here: more records than it takes in one batch) is kept,
//! counted (`observatory_batches_refused`) and retried with backoff, never dropped: once the
//! collector accepts it, every record in it is stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

const LIMIT: (&str, &str) = ("OBSERVATORY_MAX_RECORDS_PER_BATCH", "2");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_kept_and_delivered_once_accepted() {
    let collector = Collector::start_with(None, &[LIMIT]).await;
    let mut cfg = plugin_config();
    // Four records seal a batch, which this collector refuses.
    cfg["batch"] = json!({"maxRecords": 4, "maxAgeMs": 10000, "maxBufferedBytes": 1048576});
    let mut stack = Stack::start_with(&cfg, collector).await;
    let client = stack.plain();
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = unique_id(&format!("refused-{i}"));
        assert_eq!(
            get_with_id(&client, &stack.http_url("/public/r"), &id)
                .await
                .status,
            200
        );
        ids.push(id);
    }
    let (n, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_batches_refused", WAIT, |n| n >= 1)
        .await;
    assert!(ok, "batches_refused = {n}; log:\n{}", stack.collector.log());
    assert!(ids.iter().all(|id| stack.collector.record(id).is_none()));

    stack.collector.restart_with_env(&[]).await;
    for id in &ids {
        stack.collector.wait_for_record(id).await;
    }
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.observatory_records_dropped")
            .await,
        0
    );
}
