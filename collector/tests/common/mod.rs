//! Shared harness: an in-process collector on 127.0.0.1:0 with a temporary
//! data directory, and a typed client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod loki;
pub mod otlp;
pub mod process;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use observatory_collector::config::ServeConfig;
use observatory_collector::server::{self, ServeError, Stats};
use observatory_collector::wal::Wal;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::{Ack, AuditBatch, AuditRecord};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

pub const PROXY: &str = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local";
pub const INSTANCE: &str = "vm-7f3a";
/// A test waiting longer for an answer fails instead of hanging.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Running {
    pub addr: std::net::SocketAddr,
    /// The admin server: `/metrics`, `/healthz`, `/readyz`.
    pub admin: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub stats: Arc<Stats>,
    pub wal: Arc<Wal>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServeError>>,
}

/// Starts a collector; `tweak` adjusts the config (limits) before binding.
/// Scoring is off unless `tweak` turns it on: these tests compare stored
/// records with the records sent.
pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    start_in(tempfile::tempdir().unwrap(), tweak).await
}

/// Starts a collector whose data directory is `<dir>/data`.
pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    let mut config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        // Stopping with Loki down gives up on it after this long.
        drain_timeout: std::time::Duration::from_secs(1),
        data_dir: dir.path().join("data"),
        ..ServeConfig::default()
    };
    config.score.enabled = false;
    tweak(&mut config);
    let collector = server::bind(&config, Default::default()).await.unwrap();
    let addr = collector.local_addr();
    let admin = collector.admin_addr();
    let stats = collector.stats();
    let wal = collector.wal();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(collector.serve(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        admin,
        dir,
        stats,
        wal,
        stop: Some(stop),
        handle,
    }
}

pub async fn start() -> Running {
    start_with(|_| {}).await
}

/// A stored line without its chain fields (unchanged if it has none).
pub fn canonical(line: &str) -> String {
    match observatory_collector::chain::split(line) {
        Some((canonical, _, _)) => canonical,
        None => line.to_owned(),
    }
}

/// `GET http://{addr}{path}` (the admin server): status and body.
pub async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Polls `/metrics` (bounded) until the sample `series` (name and labels,
/// e.g. `observatory_wal_segments`) satisfies `condition`; returns it.
pub async fn metric_until(
    admin: std::net::SocketAddr,
    series: &str,
    condition: impl Fn(f64) -> bool,
) -> f64 {
    let mut last = None;
    for _ in 0..250 {
        let (_, text) = get(admin, "/metrics").await;
        last = text.lines().find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        });
        if let Some(value) = last.filter(|v| condition(*v)) {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {series} (last {last:?})");
}

pub fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

impl Running {
    pub async fn client(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    /// Opens a stream on a new connection.
    pub async fn open(&self) -> Stream {
        Stream::open(&mut self.client().await).await
    }

    /// Sends `records` as batch 1 on a new stream; returns its ack.
    pub async fn deliver(&self, records: Vec<AuditRecord>) -> u64 {
        self.open().await.send(batch(1, records)).await.unwrap()
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("data").join("audit.jsonl")
    }

    /// The lines of `audit.jsonl`, raw, once that sink has caught up.
    /// Without the chain fields (`seq`, `chain`), as the entries were
    /// accepted; see [`Running::chained_lines`].
    pub async fn lines(&self) -> Vec<String> {
        self.chained_lines()
            .await
            .iter()
            .map(|l| canonical(l))
            .collect()
    }

    /// The lines of `audit.jsonl` as stored, once that sink has caught up.
    pub async fn chained_lines(&self) -> Vec<String> {
        let wal = self.wal.clone();
        loki::eventually("audit.jsonl to catch up with the WAL", move || {
            wal.unconfirmed_by(observatory_collector::sink::jsonl::SINK_NAME) == 0
        })
        .await;
        std::fs::read_to_string(self.audit_path())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines of `audit.jsonl`, parsed, once that sink has caught up.
    pub async fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .await
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The entries of the Loki sink's dead-letter file, parsed.
    pub fn dead_letters(&self) -> Vec<serde_json::Value> {
        let path = self.dir.path().join("data").join("loki-dead-letter.jsonl");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded) until every sink has confirmed everything in the
    /// WAL: acks only mean the WAL has a batch, sinks follow on their own.
    pub async fn settled(&self) {
        let wal = self.wal.clone();
        loki::eventually("sinks to catch up with the WAL", move || {
            wal.unconfirmed() == 0
        })
        .await;
    }

    /// Stops this collector and starts another on the same data directory.
    pub async fn restart(self, tweak: impl FnOnce(&mut ServeConfig)) -> Running {
        start_in(self.into_dir().await, tweak).await
    }

    /// Stops this collector and hands over its directory (data in `data/`).
    pub async fn into_dir(mut self) -> tempfile::TempDir {
        self.stop().await.unwrap();
        self.dir
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await.unwrap()
    }
}

/// One bidirectional stream, driven step by step.
pub struct Stream {
    batches: mpsc::Sender<AuditBatch>,
    pub acks: Streaming<Ack>,
}

impl Stream {
    pub async fn open(client: &mut AuditServiceClient<Channel>) -> Self {
        let (batches, rx) = mpsc::channel(16);
        let acks = client
            .stream(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Stream { batches, acks }
    }

    /// Sends a batch and returns what came back: an ack or the status that
    /// ended the stream.
    pub async fn send(&mut self, batch: AuditBatch) -> Result<u64, tonic::Status> {
        if self.batches.send(batch).await.is_err() {
            return Err(tonic::Status::unavailable("the stream is closed"));
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.acks.message())
            .await
            .expect("neither an ack nor a status within the answer timeout");
        match answer? {
            Some(ack) => Ok(ack.seq),
            None => Err(tonic::Status::unknown("stream ended without a status")),
        }
    }

    pub async fn heartbeat(&mut self) -> Result<u64, tonic::Status> {
        self.send(batch(0, vec![])).await
    }
}

/// Record `n`, stamped `n` ns after a start time shared by the test process
/// (recent, as live traffic is: Loki's stream windows apply).
pub fn record(n: u32) -> AuditRecord {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let now = observatory_proto::json::unix_nanos(std::time::SystemTime::now());
        now - now % 1_000_000_000 + 123_456_789
    });
    AuditRecord {
        ts_unix_nanos: start + i64::from(n),
        correlation_id: format!("corr-{n}"),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        source_principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
        source_ip: "10.0.0.9".into(),
        mtls: true,
        destination_workload: "orders".into(),
        destination_namespace: "shop".into(),
        method: "POST".into(),
        path: format!("/orders/{n}"),
        status: 201,
        duration_ms: 12.5,
        request_bytes: 321,
        response_bytes: 54,
        user_agent: "curl/8.5.0".into(),
        decision: "allow".into(),
        shadow_decision: "deny".into(),
        rule: "orders-write/allow-web".into(),
        redactions: [("email".to_owned(), 2)].into_iter().collect(),
        proxy_id: PROXY.into(),
        audit_policy: "pci".into(),
        ..AuditRecord::default()
    }
}

pub fn batch(seq: u64, records: Vec<AuditRecord>) -> AuditBatch {
    AuditBatch {
        proxy_id: PROXY.into(),
        instance_id: INSTANCE.into(),
        seq,
        records,
        gap: None,
    }
}
