//! Settings of `serve`, layered: flag > `OBSERVATORY_*` env var > TOML file
//! (`--config`, snake_case keys) > default.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use url::Url;

use crate::alert::config::AlertConfig;
use crate::auth::config::{AuthMode, IngestConfig, IngestConfigError, IngestTable};
use crate::score::live::ScoreSettings;
use crate::score::MeshMode;
use crate::sink::loki::config::LokiConfig;
use crate::sink::otlp::config::OtlpLogsConfig;
use crate::telemetry::otlp::OtlpConfig;
use crate::wal::WalConfig;

/// Loopback by default, so a bare `serve` exposes nothing; 4317 is the port
/// the Istio manifests use (they pass `--listen 0.0.0.0:4317`).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4317));
/// The admin HTTP server (`/metrics`, `/healthz`, `/readyz`); loopback by
/// default, 9464 being the usual port of a Prometheus exporter.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));
/// Relative to the working directory, for local runs; deployments pass `--data-dir`.
pub const DEFAULT_DATA_DIR: &str = "./observatory-data";
/// The largest encoded batch accepted (4 MiB, tonic's own default).
pub const DEFAULT_MAX_BATCH_BYTES: NonZeroUsize = nonzero(4 * 1024 * 1024);
pub const DEFAULT_MAX_RECORDS_PER_BATCH: NonZeroUsize = nonzero(10_000);
pub const DEFAULT_MAX_SENDERS: NonZeroUsize = nonzero(100_000);
/// Key name written in checkpoints when none is configured.
pub const DEFAULT_CHECKPOINT_KEY_ID: &str = "default";
/// Time the sinks get at shutdown to catch up with the WAL.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;
/// `service.name` of the collector's own traces and metrics.
pub const DEFAULT_OTLP_SERVICE_NAME: &str = "observatory-collector";
/// OpenTelemetry's default metric export interval.
pub const DEFAULT_OTLP_METRICS_INTERVAL_MS: u64 = 60_000;
/// OpenTelemetry's default export timeout.
pub const DEFAULT_OTLP_TIMEOUT_MS: u64 = 10_000;

/// The resolved configuration of `serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_batch_bytes: NonZeroUsize,
    pub max_records_per_batch: NonZeroUsize,
    pub max_senders: NonZeroUsize,
    pub wal: WalConfig,
    pub drain_timeout: Duration,
    /// Signs chain checkpoints (HMAC-SHA256); none are written without it.
    pub checkpoint_key_file: Option<PathBuf>,
    pub checkpoint_key_id: String,
    pub checkpoint_every: NonZeroU64,
    /// A proxy's line gets a checkpoint at the latest this long after it
    /// is stored.
    pub checkpoint_within: Duration,
    /// Push to Grafana Loki too (beside `audit.jsonl`).
    pub loki: Option<LokiConfig>,
    /// Export every entry as an OTLP log record too (for a SIEM).
    pub otlp_logs: Option<OtlpLogsConfig>,
    /// Keep the JSON-lines audit store (`audit.jsonl`); off only with
    /// another sink.
    pub file_sink: bool,
    /// Re-redact every incoming record before it is stored.
    pub redact: bool,
    /// JSON file with the `redaction` object (the filter's format); the
    /// engine's defaults without one.
    pub redaction_config: Option<PathBuf>,
    /// Live anomaly scoring.
    pub score: ScoreSettings,
    /// Webhooks notified of anomalies.
    pub alert: AlertConfig,
    /// Export of the collector's own traces and metrics over OTLP.
    pub otlp: Option<OtlpConfig>,
    /// Who may send streams, and which proxy ids each may write.
    pub ingest: IngestConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: DEFAULT_LISTEN,
            admin_listen: DEFAULT_ADMIN_LISTEN,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_records_per_batch: DEFAULT_MAX_RECORDS_PER_BATCH,
            max_senders: DEFAULT_MAX_SENDERS,
            wal: WalConfig::default(),
            drain_timeout: Duration::from_millis(DEFAULT_DRAIN_TIMEOUT_MS),
            checkpoint_key_file: None,
            checkpoint_key_id: DEFAULT_CHECKPOINT_KEY_ID.to_owned(),
            checkpoint_every: NonZeroU64::new(crate::chain::DEFAULT_CHECKPOINT_EVERY)
                .unwrap_or(NonZeroU64::MIN),
            checkpoint_within: Duration::from_secs(crate::chain::DEFAULT_CHECKPOINT_WITHIN_SECS),
            loki: None,
            otlp_logs: None,
            file_sink: true,
            redact: true,
            redaction_config: None,
            score: ScoreSettings::default(),
            alert: AlertConfig::default(),
            otlp: None,
            ingest: IngestConfig::default(),
        }
    }
}

/// One layer of serve settings (flags and env vars, or the TOML file); an
/// unset field falls through to the layer below.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address (IP:PORT) to accept audit streams on [default: 127.0.0.1:4317]
    #[arg(long, env = "OBSERVATORY_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address (IP:PORT) of the admin HTTP server: /metrics, /healthz, /readyz [default: 127.0.0.1:9464]
    #[arg(long, env = "OBSERVATORY_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Directory of the audit store (audit.jsonl) [default: ./observatory-data]
    #[arg(long, env = "OBSERVATORY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest encoded batch; a larger one ends its stream with RESOURCE_EXHAUSTED [default: 4194304]
    #[arg(long, env = "OBSERVATORY_MAX_BATCH_BYTES", value_name = "BYTES")]
    pub max_batch_bytes: Option<NonZeroUsize>,
    /// Most records in one batch [default: 10000]
    #[arg(long, env = "OBSERVATORY_MAX_RECORDS_PER_BATCH", value_name = "N")]
    pub max_records_per_batch: Option<NonZeroUsize>,
    /// Sender instances whose sequence numbers are remembered for dedupe; the least recently seen is forgotten first [default: 100000]
    #[arg(long, env = "OBSERVATORY_MAX_SENDERS", value_name = "N")]
    pub max_senders: Option<NonZeroUsize>,
    /// Disk the WAL may use; when full, batches are not acked (senders keep and resend them) [default: 1073741824]
    #[arg(long, env = "OBSERVATORY_WAL_MAX_BYTES", value_name = "BYTES")]
    pub wal_max_bytes: Option<NonZeroU64>,
    /// Size at which a WAL segment is closed and a new one started [default: 67108864]
    #[arg(long, env = "OBSERVATORY_WAL_SEGMENT_BYTES", value_name = "BYTES")]
    pub wal_segment_bytes: Option<NonZeroU64>,
    /// fsync the WAL before acking; `false` only for benchmarks (an OS crash then loses acked batches) [default: true]
    #[arg(long, env = "OBSERVATORY_WAL_FSYNC", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub wal_fsync: Option<bool>,
    /// At shutdown, how long the sinks may take to catch up with the WAL; the rest stays in the WAL [default: 10000]
    #[arg(long, env = "OBSERVATORY_DRAIN_TIMEOUT_MS", value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,
    /// File holding the secret that signs chain checkpoints (HMAC-SHA256); without it no checkpoints are written
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_FILE", value_name = "FILE")]
    pub checkpoint_key_file: Option<PathBuf>,
    /// Name of that key, written in every checkpoint [default: default]
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_ID", value_name = "ID")]
    pub checkpoint_key_id: Option<String>,
    /// Records of a proxy between two signed checkpoints [default: 1000]
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_EVERY", value_name = "N")]
    pub checkpoint_every: Option<NonZeroU64>,
    /// Longest a proxy's stored line waits for a signed checkpoint, busy or idle [default: 10]
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_WITHIN_SECS", value_name = "SECS")]
    pub checkpoint_within_secs: Option<NonZeroU64>,
    /// Also push every entry to this Grafana Loki (base URL); overrides `url` of the file's [loki] table
    #[arg(long, env = "OBSERVATORY_LOKI_URL", value_name = "URL")]
    #[serde(skip)]
    pub loki_url: Option<Url>,
    /// The file's `[loki]` table (no flags: it has too many keys).
    #[arg(skip)]
    pub loki: Option<LokiConfig>,
    /// Also export every entry as an OTLP log record to this receiver (gRPC unless the file's [otlp_logs] table says `protocol = "http"`); overrides its `endpoint`
    #[arg(long, env = "OBSERVATORY_OTLP_LOGS_ENDPOINT", value_name = "URL")]
    #[serde(skip)]
    pub otlp_logs_endpoint: Option<Url>,
    /// The file's `[otlp_logs]` table.
    #[arg(skip)]
    pub otlp_logs: Option<OtlpLogsConfig>,
    /// Keep the audit store audit.jsonl in the data directory, a sink of its own; `false` needs Loki or OTLP logs [default: true]
    #[arg(long, env = "OBSERVATORY_FILE_SINK", value_name = "BOOL")]
    pub file_sink: Option<bool>,
    /// Re-redact every incoming record (defence in depth against proxies without redaction) [default: true]
    #[arg(long, env = "OBSERVATORY_REDACT", value_name = "BOOL")]
    pub redact: Option<bool>,
    /// JSON file holding the `redaction` object of the filter configuration, used for re-redaction [default: every built-in type, mask]
    #[arg(long, env = "OBSERVATORY_REDACTION_CONFIG", value_name = "FILE")]
    pub redaction_config: Option<PathBuf>,
    /// Score records for anomalies as they are stored; overrides `enabled` of the file's [score] table [default: true]
    #[arg(long, env = "OBSERVATORY_SCORE", value_name = "BOOL")]
    #[serde(skip)]
    pub score_enabled: Option<bool>,
    /// Seconds of record time before anything counts as an anomaly; overrides `warmup_secs` of [score] [default: 1800]
    #[arg(long, env = "OBSERVATORY_SCORE_WARMUP_SECS", value_name = "SECS")]
    #[serde(skip)]
    pub score_warmup_secs: Option<u64>,
    /// The file's `[score]` table.
    #[arg(skip)]
    pub score: Option<ScoreSettings>,
    /// The mesh's mTLS mode: under `strict` every plaintext request is an anomaly by itself; overrides `mtls` of the file's [mesh] table [default: permissive]
    #[arg(long, env = "OBSERVATORY_MESH_MTLS", value_name = "MODE", value_enum)]
    #[serde(skip)]
    pub mesh_mtls: Option<MeshMode>,
    /// The file's `[mesh]` table.
    #[arg(skip)]
    pub mesh: Option<MeshSettings>,
    /// The file's `[alert]` table (webhook URLs come from env vars or files).
    #[arg(skip)]
    pub alert: Option<AlertConfig>,
    /// How senders are authenticated: xfcc (the SPIFFE id the local sidecar forwards), mtls (TLS 1.3 client certificates) or none (anyone may write anything); overrides `auth` of the file's [ingest] table [default: xfcc]
    #[arg(long, env = "OBSERVATORY_INGEST_AUTH", value_name = "MODE")]
    #[serde(skip)]
    pub ingest_auth: Option<AuthMode>,
    /// The file's `[ingest]` table (trusted peers, TLS files, allow-list).
    #[arg(skip)]
    pub ingest: Option<IngestTable>,
    /// Export the collector's own traces and metrics over OTLP/gRPC to this endpoint (e.g. http://otel-collector:4317); off without one
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<Url>,
    /// `service.name` of the exported traces and metrics [default: observatory-collector]
    #[arg(long, env = "OTEL_SERVICE_NAME", value_name = "NAME")]
    pub otlp_service_name: Option<String>,
    /// More resource attributes of the exported traces and metrics: `key=value,key=value`
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", value_name = "LIST")]
    pub otlp_resource_attributes: Option<String>,
    /// How often metrics are exported over OTLP [default: 60000]
    #[arg(long, env = "OTEL_METRIC_EXPORT_INTERVAL", value_name = "MS")]
    pub otlp_metrics_interval_ms: Option<NonZeroU64>,
    /// Longest one OTLP export may take before it counts as failed [default: 10000]
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT", value_name = "MS")]
    pub otlp_timeout_ms: Option<NonZeroU64>,
}

/// The `[mesh]` table: what the mesh promises, which decides what some
/// traffic means to the scorer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshSettings {
    /// Istio's PeerAuthentication mode across the mesh.
    pub mtls: MeshMode,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config file {path}, line {line}: key `{key}`: {message}")]
    Key {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("otlp_resource_attributes: {entry:?} is not key=value")]
    ResourceAttribute { entry: String },
    #[error("file_sink = false leaves no sink: configure Loki (--loki-url or [loki]), OTLP logs (--otlp-logs-endpoint or [otlp_logs]) or keep the file sink")]
    NoSink,
    #[error(transparent)]
    Ingest(#[from] IngestConfigError),
}

impl ServeConfig {
    /// `settings` (flags and env vars) over the TOML file `file` over the defaults.
    pub fn resolve(settings: Settings, file: Option<&Path>) -> Result<Self, ConfigError> {
        let settings = match file {
            Some(path) => settings.or(Settings::from_file(path)?),
            None => settings,
        };
        let default = ServeConfig::default();
        let config = ServeConfig {
            listen: settings.listen.unwrap_or(default.listen),
            admin_listen: settings.admin_listen.unwrap_or(default.admin_listen),
            data_dir: settings.data_dir.unwrap_or(default.data_dir),
            max_batch_bytes: settings.max_batch_bytes.unwrap_or(default.max_batch_bytes),
            max_records_per_batch: settings
                .max_records_per_batch
                .unwrap_or(default.max_records_per_batch),
            max_senders: settings.max_senders.unwrap_or(default.max_senders),
            wal: WalConfig {
                max_bytes: settings
                    .wal_max_bytes
                    .map_or(default.wal.max_bytes, NonZeroU64::get),
                segment_bytes: settings
                    .wal_segment_bytes
                    .map_or(default.wal.segment_bytes, NonZeroU64::get),
                fsync: settings.wal_fsync.unwrap_or(default.wal.fsync),
            },
            drain_timeout: settings
                .drain_timeout_ms
                .map_or(default.drain_timeout, Duration::from_millis),
            checkpoint_key_file: settings.checkpoint_key_file,
            checkpoint_key_id: settings
                .checkpoint_key_id
                .unwrap_or(default.checkpoint_key_id),
            checkpoint_every: settings
                .checkpoint_every
                .unwrap_or(default.checkpoint_every),
            checkpoint_within: settings
                .checkpoint_within_secs
                .map_or(default.checkpoint_within, |s| Duration::from_secs(s.get())),
            // A URL flag alone enables Loki with the defaults.
            loki: match (settings.loki, settings.loki_url) {
                (None, None) => None,
                (table, url) => {
                    let mut loki = table.unwrap_or_default();
                    loki.url = url.or(loki.url);
                    Some(loki)
                }
            },
            otlp_logs: match (settings.otlp_logs, settings.otlp_logs_endpoint) {
                (None, None) => None,
                (table, endpoint) => {
                    let mut otlp_logs = table.unwrap_or_default();
                    otlp_logs.endpoint = endpoint.or(otlp_logs.endpoint);
                    Some(otlp_logs)
                }
            },
            file_sink: settings.file_sink.unwrap_or(default.file_sink),
            redact: settings.redact.unwrap_or(default.redact),
            redaction_config: settings.redaction_config,
            score: {
                let mut score = settings.score.unwrap_or_default();
                score.enabled = settings.score_enabled.unwrap_or(score.enabled);
                score.warmup_secs = settings.score_warmup_secs.unwrap_or(score.warmup_secs);
                score.mesh = settings
                    .mesh_mtls
                    .or(settings.mesh.map(|m| m.mtls))
                    .unwrap_or_default();
                score
            },
            alert: settings.alert.unwrap_or_default(),
            otlp: match settings.otlp_endpoint {
                None => None,
                Some(endpoint) => Some(OtlpConfig {
                    endpoint,
                    service_name: settings
                        .otlp_service_name
                        .unwrap_or_else(|| DEFAULT_OTLP_SERVICE_NAME.to_owned()),
                    resource_attributes: resource_attributes(
                        settings.otlp_resource_attributes.as_deref(),
                    )?,
                    metrics_interval: Duration::from_millis(
                        settings
                            .otlp_metrics_interval_ms
                            .map_or(DEFAULT_OTLP_METRICS_INTERVAL_MS, NonZeroU64::get),
                    ),
                    timeout: Duration::from_millis(
                        settings
                            .otlp_timeout_ms
                            .map_or(DEFAULT_OTLP_TIMEOUT_MS, NonZeroU64::get),
                    ),
                }),
            },
            ingest: IngestConfig::resolve(
                settings.ingest_auth,
                settings.ingest.unwrap_or_default(),
            )?,
        };
        match config.file_sink || config.loki.is_some() || config.otlp_logs.is_some() {
            true => Ok(config),
            false => Err(ConfigError::NoSink),
        }
    }
}

/// `key=value,key=value` (the format of `OTEL_RESOURCE_ATTRIBUTES`; values
/// may be percent-encoded there, which is not decoded here).
fn resource_attributes(list: Option<&str>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(ConfigError::ResourceAttribute {
                entry: entry.to_owned(),
            }),
        })
        .collect()
}

impl Settings {
    /// Fills the unset fields of `self` from `lower`.
    fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            admin_listen: self.admin_listen.or(lower.admin_listen),
            data_dir: self.data_dir.or(lower.data_dir),
            max_batch_bytes: self.max_batch_bytes.or(lower.max_batch_bytes),
            max_records_per_batch: self.max_records_per_batch.or(lower.max_records_per_batch),
            max_senders: self.max_senders.or(lower.max_senders),
            wal_max_bytes: self.wal_max_bytes.or(lower.wal_max_bytes),
            wal_segment_bytes: self.wal_segment_bytes.or(lower.wal_segment_bytes),
            wal_fsync: self.wal_fsync.or(lower.wal_fsync),
            drain_timeout_ms: self.drain_timeout_ms.or(lower.drain_timeout_ms),
            checkpoint_key_file: self.checkpoint_key_file.or(lower.checkpoint_key_file),
            checkpoint_key_id: self.checkpoint_key_id.or(lower.checkpoint_key_id),
            checkpoint_every: self.checkpoint_every.or(lower.checkpoint_every),
            checkpoint_within_secs: self.checkpoint_within_secs.or(lower.checkpoint_within_secs),
            loki_url: self.loki_url.or(lower.loki_url),
            loki: self.loki.or(lower.loki),
            otlp_logs_endpoint: self.otlp_logs_endpoint.or(lower.otlp_logs_endpoint),
            otlp_logs: self.otlp_logs.or(lower.otlp_logs),
            file_sink: self.file_sink.or(lower.file_sink),
            redact: self.redact.or(lower.redact),
            redaction_config: self.redaction_config.or(lower.redaction_config),
            score_enabled: self.score_enabled.or(lower.score_enabled),
            score_warmup_secs: self.score_warmup_secs.or(lower.score_warmup_secs),
            score: self.score.or(lower.score),
            mesh_mtls: self.mesh_mtls.or(lower.mesh_mtls),
            mesh: self.mesh.or(lower.mesh),
            alert: self.alert.or(lower.alert),
            otlp_endpoint: self.otlp_endpoint.or(lower.otlp_endpoint),
            otlp_service_name: self.otlp_service_name.or(lower.otlp_service_name),
            otlp_resource_attributes: self
                .otlp_resource_attributes
                .or(lower.otlp_resource_attributes),
            otlp_metrics_interval_ms: self
                .otlp_metrics_interval_ms
                .or(lower.otlp_metrics_interval_ms),
            otlp_timeout_ms: self.otlp_timeout_ms.or(lower.otlp_timeout_ms),
            ingest_auth: self.ingest_auth.or(lower.ingest_auth),
            ingest: self.ingest.or(lower.ingest),
        }
    }

    fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Settings::from_toml(&text).map_err(|e| match e {
            TomlError::Syntax(message) => ConfigError::Syntax {
                path: path.to_owned(),
                message,
            },
            TomlError::Key { line, key, message } => ConfigError::Key {
                path: path.to_owned(),
                line,
                key,
                message,
            },
        })
    }

    fn from_toml(text: &str) -> Result<Settings, TomlError> {
        let de = toml::Deserializer::parse(text).map_err(|e| TomlError::Syntax(e.to_string()))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            if key == "." {
                return TomlError::Syntax(inner.to_string());
            }
            let offset = inner.span().map_or(0, |s| s.start);
            let line = text.as_bytes()[..offset.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            TomlError::Key {
                line,
                key,
                message: inner.message().to_owned(),
            }
        })
    }
}

/// A TOML error before the file path is attached.
#[derive(Debug, PartialEq)]
enum TomlError {
    Syntax(String),
    Key {
        line: usize,
        key: String,
        message: String,
    },
}

const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

#[cfg(test)]
mod tests;
