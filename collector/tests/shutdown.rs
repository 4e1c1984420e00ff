//! Graceful stop: open streams end with UNAVAILABLE after their current
//! batch and no new ones are accepted; the sinks get until the drain
//! deadline to catch up, what they have not confirmed by then stays in the
//! WAL for the next start; `serve` returns, and the binary exits 0 on
//! SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::loki::FakeLoki;
use common::process;
use common::{batch, record, start, start_in, start_with, Stream};
use observatory_collector::sink::loki::SINK_NAME as LOKI;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use tonic::Code;

/// A hung stop fails the test instead of hanging it.
const STOP_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn stop_ends_open_streams_and_returns() {
    let mut collector = start().await;
    let mut stream = collector.open().await;
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    // The client keeps its stream open; stopping must not wait for it.
    let (received, stopped) = tokio::join!(stream.acks.message(), collector.stop());
    let status = received.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "collector is shutting down");
    stopped.unwrap();
    assert_eq!(collector.lines().await.len(), 1);
    // No longer accepting.
    assert!(
        AuditServiceClient::connect(format!("http://{}", collector.addr))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn binary_serves_until_sigterm_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let collector = process::spawn(dir.path(), &[]).await;
    let mut client = AuditServiceClient::connect(format!("http://{}", collector.addr))
        .await
        .unwrap();
    let mut stream = Stream::open(&mut client).await;
    assert_eq!(stream.heartbeat().await.unwrap(), 0);
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    collector.signal("TERM");
    let (status, log) = collector.wait().await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    // The sinks were drained before the exit.
    let written = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 1);
}

#[tokio::test]
async fn stop_refuses_new_streams_and_waits_for_a_slow_sink() {
    let mut loki = FakeLoki::start().await;
    let config = loki.config();
    let mut collector = start_with(|c| {
        c.loki = Some(config);
        c.drain_timeout = STOP_WITHIN;
    })
    .await;
    loki.pause();
    assert_eq!(collector.deliver(vec![record(1)]).await, 1);
    let (addr, wal) = (collector.addr, collector.wal.clone());
    let stopping = tokio::spawn(async move { collector.stop().await });

    // Draining: new streams are refused while the drain waits for Loki.
    let mut refused = false;
    for _ in 0..250 {
        let connect = AuditServiceClient::connect(format!("http://{addr}"));
        if matches!(tokio::time::timeout(STOP_WITHIN, connect).await, Ok(Err(_))) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after the stop");
    assert!(!stopping.is_finished());
    assert_eq!(wal.unconfirmed_by(LOKI), 1);

    loki.resume().await;
    tokio::time::timeout(STOP_WITHIN, stopping)
        .await
        .expect("the drain ends once Loki has everything")
        .unwrap()
        .unwrap();
    assert_eq!(loki.stored_lines().len(), 1);
    assert_eq!(wal.unconfirmed(), 0);
}

#[tokio::test]
async fn sigterm_with_loki_down_exits_zero_and_the_wal_keeps_the_rest() {
    let mut loki = FakeLoki::start().await;
    let url = loki.config().url.unwrap().to_string();
    loki.pause();
    let dir = tempfile::tempdir().unwrap();
    let collector = process::spawn(
        &dir.path().join("data"),
        &["--loki-url", &url, "--drain-timeout-ms", "300"],
    )
    .await;
    let mut client = AuditServiceClient::connect(format!("http://{}", collector.addr))
        .await
        .unwrap();
    let mut stream = Stream::open(&mut client).await;
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    collector.signal("TERM");
    let (status, log) = tokio::time::timeout(STOP_WITHIN, collector.wait())
        .await
        .expect("the deadline ends the drain");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("the rest stays in the WAL"), "{log}");

    // The next start pushes what Loki never confirmed, and only that.
    loki.resume().await;
    let config = loki.config();
    let restarted = start_in(dir, |c| c.loki = Some(config)).await;
    restarted.settled().await;
    assert_eq!(loki.stored_lines().len(), 1);
    assert_eq!(restarted.lines().await.len(), 1);
}
