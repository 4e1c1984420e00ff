//! Loki over HTTPS (rustls): `ca_file` decides which certificate is
//! trusted; an untrusted one is a connection error, retried and never
//! confirmed; `insecure_skip_verify` trusts anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::loki::FakeLoki;
use common::{batch, eventually, record};
use observatory_collector::sink::loki::config::LokiConfig;

fn identity() -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap()
}

/// Writes `identity`'s certificate as a PEM CA file.
fn ca_file(dir: &tempfile::TempDir, identity: &rcgen::CertifiedKey<rcgen::KeyPair>) -> PathBuf {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, identity.cert.pem()).unwrap();
    path
}

#[tokio::test]
async fn ca_file_trusts_lokis_certificate() {
    let identity = identity();
    let loki = FakeLoki::start_tls(&identity).await;
    let dir = tempfile::tempdir().unwrap();
    let config = LokiConfig {
        ca_file: Some(ca_file(&dir, &identity)),
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    collector.deliver(vec![record(1)]).await;
    collector.settled().await;
    assert_eq!(loki.stored_lines().len(), 1);
}

#[tokio::test]
async fn certificate_of_another_ca_is_never_trusted() {
    let loki = FakeLoki::start_tls(&identity()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = LokiConfig {
        ca_file: Some(ca_file(&dir, &identity())),
        ..loki.config()
    };
    let mut collector = common::start_with(|c| c.loki = Some(config)).await;
    let mut stream = collector.open().await;
    let sending = tokio::spawn(async move { stream.send(batch(1, vec![record(1)])).await });
    let stats = collector.stats.clone();
    eventually("retries", || stats.snapshot().loki_push_retries >= 3).await;

    tokio::time::timeout(Duration::from_secs(10), collector.stop())
        .await
        .unwrap()
        .unwrap();
    // Acked from the WAL, where the record waits for a Loki it can trust.
    assert_eq!(sending.await.unwrap().unwrap(), 1);
    // Not a single request got through the handshake.
    assert!(loki.requests().is_empty());
}

#[tokio::test]
async fn insecure_skip_verify_trusts_any_certificate() {
    let loki = FakeLoki::start_tls(&identity()).await;
    let config = LokiConfig {
        insecure_skip_verify: true,
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    collector.deliver(vec![record(1)]).await;
    collector.settled().await;
    assert_eq!(loki.stored_lines().len(), 1);
}
