//! Shared harness: an in-process collector on 127.0.0.1:0 with a temporary
//! data directory, and a typed client; the rest (fixtures, the Loki
//! stand-in, the OTLP receiver, the binary as a process) is the test kit's.
// Each test uses some of it.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod loki;
pub mod process;
pub mod signed;

pub use observatory_testkit::admin::{get, metric_until};
pub use observatory_testkit::otlp;
pub use observatory_testkit::record::{batch, record, INSTANCE, PROXY};
pub use observatory_testkit::stream::Stream;
pub use observatory_testkit::wait::eventually;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use observatory_collector::auth::config::AuthMode;
use observatory_collector::commands::verify::args::Params;
use observatory_collector::commands::verify::check;
use observatory_collector::commands::verify::memory::Memory;
use observatory_collector::commands::verify::report::Report;
use observatory_collector::commands::verify::source::Source;
use observatory_collector::config::ServeConfig;
use observatory_collector::server::{self, ServeError, Stats};
use observatory_collector::wal::Wal;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::AuditRecord;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

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
/// Scoring is off and senders are not authenticated unless `tweak` says
/// otherwise: these tests compare stored records with the records sent.
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
    // Anyone may send, as these tests do; the authenticated modes have tests of their own.
    config.ingest.auth = AuthMode::None;
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

/// `verify` of a whole JSON-lines file, as the library checks it (no key).
pub async fn check_file(path: &std::path::Path) -> Report {
    let mut source = Source::Memory(Memory::file(path).unwrap());
    let now = observatory_proto::json::unix_nanos(std::time::SystemTime::now());
    check(&mut source, &Params::whole_file(None, now), "a file".into())
        .await
        .unwrap()
        .report
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
        eventually("audit.jsonl to catch up with the WAL", move || {
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
        eventually("sinks to catch up with the WAL", move || {
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
