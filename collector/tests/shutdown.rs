//! Graceful stop: open streams end with UNAVAILABLE after their current
//! batch, `serve` returns, and the binary exits 0 on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::process::Process;
use common::{batch, record, start, Stream};
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use tonic::Code;

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
    let collector = Process::spawn(dir.path(), &[]).await;
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
