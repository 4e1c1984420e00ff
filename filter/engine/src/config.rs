//! Plugin configuration: the JSON of Envoy's plugin `configuration` (Istio
//! WasmPlugin `pluginConfig`) → a validated, compiled [`FilterConfig`].
//!
//! All checking happens here, once, at configure time, so a bad
//! configuration is rejected with an error naming the JSON field instead of
//! misbehaving on traffic. Unknown fields are errors: a typo such as
//! `notPath` must not silently drop a rule condition.

use observatory_redact::{RedactionConfig, Redactor};
use serde::Deserialize;

mod collector;

pub use collector::CollectorConfig;
use collector::RawCollector;

use crate::capture::{Capture, RawBodies};
use crate::dlp::{DlpRules, RawDlpRule};
use crate::error::{in_range, is_token_char, ConfigError};
use crate::policy::{PolicySet, PolicySpec};

const DEFAULT_CORRELATION_HEADER: &str = "x-correlation-id";
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// How long records may wait for an ack before `auditFailureMode: closed`
/// refuses requests: longer than a batch's age plus a collector's fsync,
/// shorter than an operator's patience.
const DEFAULT_AUDIT_FAILURE_TIMEOUT_MS: u64 = 5_000;
/// Longest client `x-request-id` taken as the correlation id.
const DEFAULT_REQUEST_ID_MAX_BYTES: usize = 128;

#[derive(Debug)]
pub struct FilterConfig {
    pub collector: CollectorConfig,
    pub policies: PolicySet,
    /// Lowercased, a valid HTTP header name.
    pub correlation_header: String,
    pub batch: BatchConfig,
    pub audit_failure_mode: FailureMode,
    /// `closed` mode refuses requests once records have waited this long
    /// for the collector's ack.
    pub audit_failure_timeout_ms: u64,
    pub path_normalization: PathNormalization,
    /// Longest client `x-request-id` accepted as the correlation id.
    pub request_id_max_bytes: usize,
    pub destination: DestinationOverride,
    pub proxy_id: Option<String>,
    /// PII redaction; `None` when the `redaction` section is absent.
    pub redaction: Option<Redactor>,
    /// Headers and body excerpts kept in records (needs `redaction`).
    pub capture: Capture,
    /// In-flight response rewriting and request denial (needs `redaction`).
    pub dlp: DlpRules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    pub max_records: usize,
    pub max_age_ms: u64,
    pub max_buffered_bytes: usize,
}

/// What happens to requests while records cannot reach the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Requests continue; lost records are counted and reported as a gap.
    #[default]
    Open,
    /// Requests are rejected rather than served unaudited.
    Closed,
}

/// What happens to a request whose path is not in normal form (see
/// [`crate::policy::normalize_path`]): the policy always decides on the
/// normalised path; this says what the upstream receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathNormalization {
    /// The normalised path (and the original query) is forwarded.
    #[default]
    Rewrite,
    /// The request is answered 400.
    Reject,
    /// The path is forwarded as received: the upstream must normalise the
    /// same way, or a path can be decided as one resource and served as another.
    DecideOnly,
}

/// Overrides for the destination identity recorded when the proxy's own
/// metadata does not carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationOverride {
    pub workload: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct RawConfig {
    collector: RawCollector,
    #[serde(default)]
    require_mtls: bool,
    #[serde(default)]
    policies: Vec<PolicySpec>,
    correlation_header: Option<String>,
    #[serde(default)]
    batch: RawBatch,
    #[serde(default)]
    audit_failure_mode: FailureMode,
    audit_failure_timeout_ms: Option<u64>,
    #[serde(default)]
    path_normalization: PathNormalization,
    request_id_max_bytes: Option<usize>,
    #[serde(default)]
    destination: RawDestination,
    proxy_id: Option<String>,
    redaction: Option<RedactionConfig>,
    #[serde(default)]
    record_headers: Vec<String>,
    record_bodies: Option<RawBodies>,
    #[serde(default)]
    dlp: Vec<RawDlpRule>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct RawBatch {
    max_records: Option<usize>,
    max_age_ms: Option<u64>,
    max_buffered_bytes: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawDestination {
    workload: Option<String>,
    namespace: Option<String>,
}

impl FilterConfig {
    /// Without an environment: `redaction.hmacKeyEnv` stays unresolved.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::from_json_with_env(bytes, |_| None)
    }

    /// `redaction.hmacKeyEnv` is looked up with `env` (the VM's
    /// environment in the filter).
    pub fn from_json_with_env(
        bytes: &[u8],
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if bytes.trim_ascii().is_empty() {
            return Err(ConfigError::new(
                "configuration",
                "empty (expected JSON with at least collector.cluster)",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(serde_error)?;
        de.end().map_err(|e| not_json(&e))?;
        let mut raw = raw;
        if let Some(redaction) = &mut raw.redaction {
            redaction.resolve_hmac_key_env(env)?;
        }
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<FilterConfig, ConfigError> {
        let collector = self.collector.validate()?;
        let correlation_header = self
            .correlation_header
            .as_deref()
            .unwrap_or(DEFAULT_CORRELATION_HEADER)
            .to_ascii_lowercase();
        if correlation_header.is_empty() || !correlation_header.bytes().all(is_token_char) {
            return Err(ConfigError::new(
                "correlationHeader",
                format!("not a valid HTTP header name: `{correlation_header}`"),
            ));
        }
        let batch = self.batch.validate()?;
        let destination = DestinationOverride {
            workload: non_empty("destination.workload", self.destination.workload)?,
            namespace: non_empty("destination.namespace", self.destination.namespace)?,
        };
        let proxy_id = non_empty("proxyId", self.proxy_id)?;
        let policies = PolicySet::compile(self.require_mtls, &self.policies)?;
        let redaction = self.redaction.as_ref().map(Redactor::new).transpose()?;
        let capture = Capture::compile(self.record_headers, self.record_bodies)?;
        if redaction.is_none() && !capture.is_empty() {
            let field = if capture.headers.is_empty() {
                "recordBodies"
            } else {
                "recordHeaders"
            };
            return Err(ConfigError::new(
                field,
                "needs the `redaction` section (nothing is recorded unredacted)",
            ));
        }
        let dlp = DlpRules::compile(&self.dlp, redaction.as_ref())?;
        Ok(FilterConfig {
            collector,
            policies,
            correlation_header,
            batch,
            audit_failure_mode: self.audit_failure_mode,
            audit_failure_timeout_ms: in_range(
                "auditFailureTimeoutMs",
                self.audit_failure_timeout_ms
                    .unwrap_or(DEFAULT_AUDIT_FAILURE_TIMEOUT_MS),
                100,
                600_000,
            )?,
            path_normalization: self.path_normalization,
            request_id_max_bytes: in_range(
                "requestIdMaxBytes",
                self.request_id_max_bytes
                    .unwrap_or(DEFAULT_REQUEST_ID_MAX_BYTES),
                16,
                1024,
            )?,
            destination,
            proxy_id,
            redaction,
            capture,
            dlp,
        })
    }
}

/// Records per batch unless configured. Each batch costs Envoy a stream
/// message and an ack; a batch is sent as soon as it seals, so larger
/// batches do not bunch work up (their size: README, Benchmark).
const DEFAULT_MAX_RECORDS: usize = 256;

impl RawBatch {
    fn validate(self) -> Result<BatchConfig, ConfigError> {
        Ok(BatchConfig {
            max_records: in_range(
                "batch.maxRecords",
                self.max_records.unwrap_or(DEFAULT_MAX_RECORDS),
                1,
                10_000,
            )?,
            max_age_ms: in_range(
                "batch.maxAgeMs",
                self.max_age_ms.unwrap_or(1000),
                10,
                60_000,
            )?,
            max_buffered_bytes: in_range(
                "batch.maxBufferedBytes",
                self.max_buffered_bytes.unwrap_or(4 * MIB),
                64 * KIB,
                256 * MIB,
            )?,
        })
    }
}

/// Optional strings may be omitted but not empty: `""` is almost always a
/// templating mistake that would otherwise record blank identities.
fn non_empty(field: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.is_empty() => Err(ConfigError::new(
            field,
            "must not be empty (omit it instead)",
        )),
        other => Ok(other),
    }
}

fn not_json(err: &serde_json::Error) -> ConfigError {
    ConfigError::new("configuration", format!("not valid JSON: {err}"))
}

/// Turns a serde error into `<path>: <problem>`; a missing field is
/// reported at the field itself (`collector.cluster: missing field`).
fn serde_error(err: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return not_json(&inner);
    }
    let message = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let problem = message.strip_suffix(&position).unwrap_or(&message);
    let parent = (path != ".").then_some(path);
    if let Some(name) = problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let field = match parent {
            Some(parent) => format!("{parent}.{name}"),
            None => name.to_owned(),
        };
        return ConfigError::new(field, "missing field");
    }
    ConfigError::new(parent.as_deref().unwrap_or("configuration"), problem)
}

#[cfg(test)]
mod tests;
