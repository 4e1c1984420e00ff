//! Binds the collector and serves until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use observatory_proto::audit::audit_service_server::AuditServiceServer;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::server::{Connected, TcpIncoming};
use tonic::transport::Server;
use tracing::{info, warn};

use crate::alert::{self, AlertError, AlertStats};
use crate::auth::config::AuthMode;
use crate::auth::tls::{self, TlsError};
use crate::chain::{ChainSettings, CheckpointKey};
use crate::config::ServeConfig;
use crate::ingest::{Ingest, IngestStats};
use crate::redact::{self, LoadError, RecordRedactor, RedactStats};
use crate::score::live::LiveScorer;
use crate::sink::jsonl::{self, JsonlSink};
use crate::sink::loki::{self, LokiError, LokiSink, LokiStats};
use crate::sink::metrics::{SinkFamilies, SinkMetrics};
use crate::sink::otlp::{self, OtlpLogsError, OtlpLogsSink};
use crate::sink::{Sink, SinkError};
use crate::telemetry::admin::Admin;
use crate::telemetry::health::{DirWritable, ReadyCheck};
use crate::telemetry::Telemetry;
use crate::wal::{self, Consumers, Wal, WalError};

/// Finds connections to vanished senders (streams live for hours).
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Causes are part of each message (and so not `source`s, which would
/// repeat them), except tonic's, whose own message is just "transport error".
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot create data directory {path}: {error}")]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot open the audit store: {0}")]
    Sink(SinkError),
    #[error("{0}")]
    Wal(WalError),
    #[error("cannot set up the Loki sink: {0}")]
    Loki(LokiError),
    #[error("cannot set up the OTLP logs sink: {0}")]
    OtlpLogs(OtlpLogsError),
    #[error(transparent)]
    Redaction(#[from] LoadError),
    #[error("cannot set up alerting: {0}")]
    Alert(AlertError),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot serve telemetry on {addr}: {error}")]
    AdminBind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot set up TLS for mtls ingest: {0}")]
    Tls(TlsError),
    #[error("cannot read the checkpoint key {path}: {error}")]
    CheckpointKey {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

/// A collector with its store open and its port bound, not yet serving.
/// Binding first lets callers learn the port when listening on port 0.
pub struct Collector {
    listener: TcpListener,
    addr: SocketAddr,
    service: AuditServiceServer<Ingest>,
    /// The TLS settings of the audit port in mode `mtls`.
    tls: Option<Arc<rustls::ServerConfig>>,
    admin: Admin,
    telemetry: Arc<Telemetry>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
    /// The stream tasks, which may outlive their connections.
    tasks: TaskTracker,
    scorer: Option<Arc<LiveScorer>>,
    /// The alerter's counters, and its task (ends once its state is saved).
    alerts: Option<(Arc<AlertStats>, JoinHandle<()>)>,
    wal: Arc<Wal>,
    /// The sinks reading from the WAL.
    consumers: Consumers,
    /// Ends the sinks' own retries once the drain deadline has passed.
    sinks_stop: CancellationToken,
    drain_timeout: Duration,
}

/// The counters of the ingest, re-redaction, the Loki sink and every
/// sink's deliveries, each kept by its component: for `/metrics`, the
/// shutdown summary and tests ([`Stats::snapshot`]).
#[derive(Debug, Default)]
pub struct Stats {
    pub ingest: Arc<IngestStats>,
    pub redact: Arc<RedactStats>,
    /// Registered even without a Loki sink, so `/metrics` has one shape.
    pub loki: Arc<LokiStats>,
    pub sinks: SinkFamilies,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub batches_received: u64,
    pub batches_written: u64,
    pub records_written: u64,
    pub records_quarantined: u64,
    pub batches_duplicate: u64,
    pub batches_rejected: u64,
    pub seq_jumps: u64,
    pub gaps_written: u64,
    pub senders_evicted: u64,
    pub streams_unauthenticated: u64,
    pub batches_forbidden: u64,
    pub tls_handshakes_failed: u64,
    pub loki_entries_confirmed: u64,
    pub loki_push_retries: u64,
    pub loki_entries_dead_lettered: u64,
    pub loki_label_overflows: u64,
    pub loki_late_entries: u64,
    pub records_redacted: u64,
    pub redactions_added: u64,
}

impl Stats {
    /// Puts every counter on `telemetry`'s `/metrics`.
    pub fn register(&self, telemetry: &Telemetry) {
        self.ingest.register(telemetry);
        self.loki.register(telemetry);
        self.redact.register(telemetry);
        self.sinks.register(telemetry);
    }

    pub fn snapshot(&self) -> Snapshot {
        let (ingest, loki) = (&self.ingest, &self.loki);
        Snapshot {
            batches_received: ingest.batches_received.get(),
            batches_written: ingest.batches_written.get(),
            records_written: ingest.records_written.get(),
            records_quarantined: ingest.records_quarantined.get(),
            batches_duplicate: ingest.batches_duplicate.get(),
            batches_rejected: ingest.batches_rejected.get(),
            seq_jumps: ingest.seq_jumps.get(),
            gaps_written: ingest.gaps_written.get(),
            senders_evicted: ingest.senders_evicted.get(),
            streams_unauthenticated: ingest.streams_unauthenticated.get(),
            batches_forbidden: ingest.batches_forbidden.get(),
            tls_handshakes_failed: ingest.tls_handshakes_failed.get(),
            loki_entries_confirmed: self.sinks.confirmed_by(loki::SINK_NAME),
            loki_push_retries: loki.push_retries.get(),
            loki_entries_dead_lettered: self.sinks.dead_lettered_by(loki::SINK_NAME),
            loki_label_overflows: loki.label_overflows.get(),
            loki_late_entries: loki.late_entries.get(),
            records_redacted: self.redact.records_redacted.get(),
            redactions_added: self.redact.redactions_added.get(),
        }
    }
}

/// Serves `service` on the connections of `incoming` until `stop`. One
/// service, so no router: it answers UNIMPLEMENTED to other paths.
async fn serve_on<IO>(
    service: AuditServiceServer<Ingest>,
    incoming: impl Stream<Item = std::io::Result<IO>>,
    stop: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error>
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    Server::builder()
        .serve_with_incoming_shutdown(service, incoming, stop)
        .await
}

/// Checkpoint signing as configured; the key file is read once, here.
fn chain_settings(config: &ServeConfig) -> Result<ChainSettings, ServeError> {
    let key = match &config.checkpoint_key_file {
        Some(path) => {
            let secret = std::fs::read(path).map_err(|error| ServeError::CheckpointKey {
                path: path.clone(),
                error,
            })?;
            // Editors and Kubernetes secrets leave a trailing newline.
            let secret = secret.trim_ascii_end().to_vec();
            Some(CheckpointKey {
                id: config.checkpoint_key_id.clone(),
                secret,
            })
        }
        None => {
            warn!("no checkpoint_key_file: records are chained, but no signed checkpoints are written");
            None
        }
    };
    Ok(ChainSettings {
        key,
        every: config.checkpoint_every.get(),
        within: config.checkpoint_within,
    })
}

/// Creates the data directory, opens the sinks and binds `config.listen`
/// and the admin server on `config.admin_listen`. Every metric goes on
/// `telemetry` (made by the caller, so that an OTLP export can read it
/// from the start).
pub async fn bind(
    config: &ServeConfig,
    telemetry: Arc<Telemetry>,
) -> Result<Collector, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|error| ServeError::DataDir {
        path: config.data_dir.clone(),
        error,
    })?;
    let stats = Arc::new(Stats::default());
    stats.register(&telemetry);
    let redactor = if config.redact {
        let redactor = redact::load(config.redaction_config.as_deref())?;
        Some(RecordRedactor::new(redactor, stats.redact.clone()))
    } else {
        None
    };
    let shutdown = CancellationToken::new();
    let sinks_stop = CancellationToken::new();
    let wal = Arc::new(
        Wal::open(
            &config.data_dir,
            config.wal,
            chain_settings(config)?,
            &telemetry,
        )
        .map_err(ServeError::Wal)?,
    );
    let mut checks: Vec<Arc<dyn ReadyCheck>> = vec![
        Arc::new(DirWritable {
            dir: config.data_dir.join(wal::DIR_NAME),
        }),
        wal.ready_check(),
    ];
    let mut sinks: Vec<(String, Arc<dyn Sink>, SinkMetrics)> = Vec::new();
    if config.file_sink {
        let metrics = stats.sinks.sink(jsonl::SINK_NAME);
        let jsonl = JsonlSink::open(&config.data_dir, metrics.clone()).map_err(ServeError::Sink)?;
        sinks.push((jsonl::SINK_NAME.to_owned(), Arc::new(jsonl), metrics));
    }
    if let Some(loki) = &config.loki {
        let metrics = stats.sinks.sink(loki::SINK_NAME);
        let loki = LokiSink::open(
            loki,
            &config.data_dir,
            stats.loki.clone(),
            metrics.clone(),
            sinks_stop.clone(),
        )
        .map_err(ServeError::Loki)?;
        checks.push(loki.ready_check());
        sinks.push((loki::SINK_NAME.to_owned(), Arc::new(loki), metrics));
    }
    if let Some(otlp_logs) = &config.otlp_logs {
        let metrics = stats.sinks.sink(otlp::SINK_NAME);
        let sink = OtlpLogsSink::open(
            otlp_logs,
            &config.data_dir,
            metrics.clone(),
            sinks_stop.clone(),
        )
        .map_err(ServeError::OtlpLogs)?;
        sinks.push((otlp::SINK_NAME.to_owned(), Arc::new(sink), metrics));
    }
    let admin = Admin::bind(config.admin_listen, telemetry.clone(), checks)
        .await
        .map_err(|error| ServeError::AdminBind {
            addr: config.admin_listen,
            error,
        })?;
    let bind_error = |error| ServeError::Bind {
        addr: config.listen,
        error,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let consumers = wal.start(sinks).map_err(ServeError::Wal)?;
    let tasks = TaskTracker::new();
    let (scorer, alerts) = scoring(config, &shutdown)?;
    if let Some(scorer) = &scorer {
        scorer.stats().register(&telemetry);
    }
    if let Some((alerts, _)) = &alerts {
        alerts.register(&telemetry);
    }
    let tls = match &config.ingest.tls {
        Some(files) => Some(tls::server_config(files).map_err(ServeError::Tls)?),
        None => None,
    };
    log_auth(config);
    let ingest = Ingest::new(
        config,
        wal.clone(),
        redactor,
        stats.ingest.clone(),
        scorer.clone(),
        shutdown.clone(),
        tasks.clone(),
    );
    // Larger batches are refused while decoding, before they are buffered.
    let service =
        AuditServiceServer::new(ingest).max_decoding_message_size(config.max_batch_bytes.get());
    Ok(Collector {
        listener,
        addr,
        service,
        tls,
        admin,
        telemetry,
        stats,
        shutdown,
        tasks,
        scorer,
        alerts,
        wal,
        consumers,
        sinks_stop,
        drain_timeout: config.drain_timeout,
    })
}

/// Says at start how senders are authenticated; loudly when they are not.
fn log_auth(config: &ServeConfig) {
    let ingest = &config.ingest;
    match ingest.auth {
        AuthMode::None => warn!(
            "ingest auth is none: anyone who reaches {} can write records for any proxy_id; \
             use xfcc behind a sidecar or mtls",
            config.listen
        ),
        AuthMode::Xfcc => {
            let peers: Vec<String> = ingest
                .trusted_peers
                .iter()
                .map(ToString::to_string)
                .collect();
            info!(
                "ingest auth is xfcc: the sender is the URI of x-forwarded-client-cert's last element, \
                 from peers {}",
                peers.join(", ")
            );
        }
        AuthMode::Mtls => info!(
            "ingest auth is mtls: TLS 1.3, the sender is the client certificate's URI or DNS name"
        ),
    }
}

/// The live scorer and the alerter, each when configured.
type Scoring = (
    Option<Arc<LiveScorer>>,
    Option<(Arc<AlertStats>, JoinHandle<()>)>,
);

/// The live scorer, and the alerter it feeds when webhooks are configured.
fn scoring(config: &ServeConfig, shutdown: &CancellationToken) -> Result<Scoring, ServeError> {
    if !config.score.enabled {
        if !config.alert.webhooks.is_empty() {
            warn!("alert webhooks are configured but scoring is off: nothing will alert");
        }
        return Ok((None, None));
    }
    let scorer = LiveScorer::open(&config.score, &config.data_dir);
    if config.alert.webhooks.is_empty() {
        return Ok((Some(Arc::new(scorer)), None));
    }
    let alerting =
        alert::start(&config.alert, &config.data_dir, shutdown).map_err(ServeError::Alert)?;
    Ok((
        Some(Arc::new(scorer.with_alerts(alerting.events))),
        Some((alerting.stats, alerting.done)),
    ))
}

impl Collector {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    pub fn wal(&self) -> Arc<Wal> {
        self.wal.clone()
    }

    /// The registry behind `/metrics`, for metrics added after binding.
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }

    /// Serves until `signal` resolves; then stops accepting, ends every
    /// stream after its current batch (UNAVAILABLE, so senders reconnect
    /// elsewhere or later), waits for every started append, and lets the
    /// sinks drain the WAL for at most `drain_timeout`.
    pub async fn serve(self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        let incoming = TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(TCP_KEEPALIVE));
        let shutdown = self.shutdown;
        // Stopped last, so that metrics and health answer during the drain.
        let admin_stop = CancellationToken::new();
        let admin = tokio::spawn(self.admin.serve(admin_stop.clone()));
        let admin_stop = admin_stop.drop_guard();
        if let Some(scorer) = &self.scorer {
            tokio::spawn(scorer.clone().checkpoint_periodically(shutdown.clone()));
        }
        info!("listening on {}", self.addr);
        let stop = async move {
            signal.await;
            shutdown.cancel();
        };
        match self.tls {
            Some(config) => {
                let failed = self.stats.ingest.tls_handshakes_failed.clone();
                serve_on(self.service, tls::accept(incoming, config, failed), stop).await?;
            }
            None => serve_on(self.service, incoming, stop).await?,
        }
        // A stream whose client vanished mid-batch still finishes its write.
        self.tasks.close();
        self.tasks.wait().await;
        if let Some(scorer) = &self.scorer {
            // Every batch is scored by now: the checkpoint has all of them.
            match scorer.checkpoint().await {
                Ok(()) => info!(score = ?scorer.stats(), "scorer checkpoint written"),
                Err(e) => warn!("scorer checkpoint at shutdown failed: {e}"),
            }
        }
        // Nothing is appended any more: the sinks get until the deadline to
        // catch up; the rest stays in the WAL for the next start.
        self.consumers
            .drain(self.drain_timeout, &self.sinks_stop)
            .await;
        drop(admin_stop);
        // The admin task only ends by the token; a panic in it is not ours to report.
        let _ = admin.await;
        if let Some((alerts, done)) = self.alerts {
            // It stopped at the signal; wait for its state to be saved.
            let _ = done.await;
            info!(?alerts, "alerting stopped");
        }
        info!(stats = ?self.stats.snapshot(), "collector stopped");
        Ok(())
    }
}
