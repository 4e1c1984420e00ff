//! WAL segments stay until every sink has confirmed them; a full WAL stops
//! acking (backpressure) instead of deleting what a sink still needs, and
//! acks again once that sink catches up.
#![allow(clippy::unwrap_used)]

mod common;

use common::loki::FakeLoki;
use common::{batch, eventually, record, start_with, Running};

fn segments(collector: &Running) -> usize {
    std::fs::read_dir(collector.dir.path().join("data/wal"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wal")
        })
        .count()
}

#[tokio::test]
async fn segments_wait_for_the_slowest_sink_and_a_full_wal_pushes_back() {
    let mut loki = FakeLoki::start().await;
    let config = loki.config();
    let collector = start_with(|c| {
        c.loki = Some(config);
        // About two records per segment, room for about twelve.
        c.wal.segment_bytes = 1_500;
        c.wal.max_bytes = 8_000;
    })
    .await;
    loki.pause();

    let mut stream = collector.open().await;
    let mut seq = 0;
    let refused = loop {
        seq += 1;
        assert!(seq < 100, "the WAL never filled up");
        let n = u32::try_from(seq).unwrap();
        match stream.send(batch(seq, vec![record(n)])).await {
            Ok(ack) => assert_eq!(ack, seq),
            Err(status) => break status,
        }
    };
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("WAL full"), "{refused:?}");
    let acked = seq - 1;
    // audit.jsonl has everything, Loki nothing: every segment is kept.
    assert_eq!(collector.lines().await.len() as u64, acked);
    assert!(
        segments(&collector) > 3,
        "{} segments",
        segments(&collector)
    );

    loki.resume().await;
    collector.settled().await;
    assert_eq!(loki.stored_lines().len() as u64, acked);
    // Confirmed by both sinks: only the active segment is left.
    eventually("closed segments to be deleted", || {
        segments(&collector) == 1
    })
    .await;
    // And there is room again; the refused batch is taken now.
    let mut stream = collector.open().await;
    let n = u32::try_from(seq).unwrap();
    assert_eq!(stream.send(batch(seq, vec![record(n)])).await.unwrap(), seq);
}
