//! Graceful stop: open streams end with UNAVAILABLE after their current
//! batch, `serve` returns, and the binary exits 0 on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

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
    assert_eq!(collector.lines().len(), 1);
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("OBSERVATORY_DATA_DIR", dir.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    // Reads stderr to the end (so the pipe never fills), reporting the address.
    let log = std::thread::spawn(move || {
        let mut addr_tx = Some(addr_tx);
        let mut log = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Some((_, addr)) = line.split_once("listening on ") {
                if let Some(tx) = addr_tx.take() {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let addr = addr_rx.await.expect("no 'listening on' line");

    let mut client = AuditServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut stream = Stream::open(&mut client).await;
    assert_eq!(stream.heartbeat().await.unwrap(), 0);
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = log.join().unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    let written = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 1);
}
