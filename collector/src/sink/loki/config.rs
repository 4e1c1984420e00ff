//! The `[loki]` table of the collector config file (snake_case keys), and
//! the names and limits the sink keeps to. Every key has a default except
//! `url`, which may also come from `--loki-url` / `OBSERVATORY_LOKI_URL`.

use std::collections::BTreeMap;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::error::LokiError;

/// The `sink` label of this sink's metrics.
pub const SINK_NAME: &str = "loki";

/// File name of the dead-letter file inside the data directory, unless
/// `dead_letter_file` says otherwise.
pub const DEAD_LETTER_FILE_NAME: &str = "loki-dead-letter.jsonl";

/// Where pushes go, below Loki's base URL.
pub const PUSH_PATH: &str = "loki/api/v1/push";

/// Loki's default `max_line_size`.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// How far ahead of the collector's clock Loki accepts entries (its
/// `creation_grace_period`): the newest entry it can hold in a stream.
pub const FUTURE_GRACE_NANOS: i64 = 600 * 1_000_000_000;

/// The static label of every stream.
pub const JOB: (&str, &str) = ("job", "observatory");
/// Label of the streams that hold late entries.
pub const LATE: &str = "late";
/// Label names the sink sets itself.
const RESERVED_LABELS: [&str; 3] = ["job", "cluster", LATE];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiConfig {
    /// Base URL of Loki (`https://loki.monitoring:3100`); the sink posts to
    /// `<url>/loki/api/v1/push`. Required.
    pub url: Option<Url>,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki).
    pub tenant: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    /// File holding a bearer token (read at start).
    pub bearer_token_file: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for Loki's certificate, instead of the
    /// system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. For tests only.
    pub insecure_skip_verify: bool,
    /// Value of the static `cluster` label; none when unset.
    pub cluster: Option<String>,
    /// Label name → record field. Only low-cardinality fields are allowed:
    /// identities and ids go to structured metadata.
    pub labels: BTreeMap<String, LabelField>,
    /// Distinct label sets before new ones collapse to `_overflow`.
    pub max_label_sets: NonZeroUsize,
    /// How far behind the newest entry of its stream Loki still takes an
    /// entry (`max_chunk_age / 2`, 1 h by default); older ones go to a
    /// `late` stream. 0: never (Loki may then refuse them).
    pub out_of_order_window_secs: u64,
    /// Uncompressed size at which a push request is sent without waiting.
    pub batch_max_bytes: NonZeroUsize,
    /// How long the first entry of a push request waits for more.
    pub batch_max_wait_ms: u64,
    pub max_concurrent_requests: NonZeroUsize,
    pub encoding: Encoding,
    /// Gzip the JSON body (`Content-Encoding: gzip`); JSON encoding only.
    pub gzip: bool,
    /// Default: `<data_dir>/loki-dead-letter.jsonl`.
    pub dead_letter_file: Option<PathBuf>,
    pub min_backoff_ms: NonZeroU64,
    pub max_backoff_ms: NonZeroU64,
    /// Limit of one push attempt, answer included.
    pub timeout_ms: NonZeroU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    /// File holding the password (read at start).
    pub password_file: PathBuf,
}

/// Body format of a push request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `PushRequest` protobuf in a raw snappy block (what Promtail and
    /// Alloy send).
    #[default]
    Protobuf,
    Json,
}

/// A record field that may become a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelField {
    DestinationNamespace,
    DestinationWorkload,
    Decision,
    ShadowDecision,
    Method,
    Status,
    Mtls,
    Rule,
    AuditPolicy,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            url: None,
            tenant: None,
            basic_auth: None,
            bearer_token_file: None,
            ca_file: None,
            insecure_skip_verify: false,
            cluster: None,
            labels: [
                ("namespace", LabelField::DestinationNamespace),
                ("workload", LabelField::DestinationWorkload),
                ("decision", LabelField::Decision),
            ]
            .into_iter()
            .map(|(name, field)| (name.to_owned(), field))
            .collect(),
            max_label_sets: NonZeroUsize::new(1000).unwrap_or(NonZeroUsize::MIN),
            out_of_order_window_secs: 3600,
            batch_max_bytes: NonZeroUsize::new(1024 * 1024).unwrap_or(NonZeroUsize::MIN),
            batch_max_wait_ms: 200,
            max_concurrent_requests: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
            encoding: Encoding::Protobuf,
            gzip: false,
            dead_letter_file: None,
            min_backoff_ms: NonZeroU64::new(500).unwrap_or(NonZeroU64::MIN),
            max_backoff_ms: NonZeroU64::new(30_000).unwrap_or(NonZeroU64::MIN),
            timeout_ms: NonZeroU64::new(10_000).unwrap_or(NonZeroU64::MIN),
        }
    }
}

impl LokiConfig {
    /// Checks what serde cannot and returns the push endpoint.
    pub(super) fn validate(&self) -> Result<Url, LokiError> {
        let invalid = |key, message: String| LokiError::Config { key, message };
        let Some(url) = &self.url else {
            return Err(invalid(
                "url",
                "required (or --loki-url / OBSERVATORY_LOKI_URL)".into(),
            ));
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url", format!("must be http or https: {url}")));
        }
        // It would end up in logs and errors; secrets belong in files.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "url",
                "must not hold credentials (use basic_auth)".into(),
            ));
        }
        for name in self.labels.keys() {
            check_label_name(name).map_err(|message| invalid("labels", message))?;
        }
        if self.cluster.as_deref() == Some("") {
            return Err(invalid("cluster", "must not be empty".into()));
        }
        if self.gzip && self.encoding != Encoding::Json {
            return Err(invalid(
                "gzip",
                "only with encoding = \"json\" (protobuf is snappy-compressed)".into(),
            ));
        }
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            return Err(invalid(
                "bearer_token_file",
                "set either basic_auth or bearer_token_file".into(),
            ));
        }
        if self.out_of_order_window_secs != 0
            && !(60..=7 * 86_400).contains(&self.out_of_order_window_secs)
        {
            return Err(invalid(
                "out_of_order_window_secs",
                format!(
                    "must be 0 (off) or between 60 and 604800, got {}",
                    self.out_of_order_window_secs
                ),
            ));
        }
        if self.min_backoff_ms > self.max_backoff_ms {
            return Err(invalid(
                "min_backoff_ms",
                format!("must not exceed max_backoff_ms ({})", self.max_backoff_ms),
            ));
        }
        let mut push = url.clone();
        let base = url.path().trim_end_matches('/');
        push.set_path(&format!("{base}/{PUSH_PATH}"));
        Ok(push)
    }

    pub(super) fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }

    pub(super) fn min_backoff(&self) -> Duration {
        Duration::from_millis(self.min_backoff_ms.get())
    }

    pub(super) fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms.get())
    }

    pub(super) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.get())
    }
}

/// Prometheus' legacy label name syntax, minus the reserved `__` prefix and
/// the names the sink sets itself.
fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{name}` is not a valid label name"));
    }
    if name.starts_with("__") || RESERVED_LABELS.contains(&name) {
        return Err(format!("`{name}` is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(toml: &str) -> LokiConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn defaults_and_push_path() {
        let c = config("url = \"http://loki:3100\"");
        assert_eq!(
            c.validate().unwrap().as_str(),
            "http://loki:3100/loki/api/v1/push"
        );
        assert_eq!(c.max_label_sets.get(), 1000);
        assert_eq!(c.batch_max_bytes.get(), 1 << 20);
        assert_eq!(
            (c.min_backoff(), c.max_backoff()),
            (Duration::from_millis(500), Duration::from_secs(30))
        );
        assert_eq!(c.labels.len(), 3);
        assert_eq!(c.labels["workload"], LabelField::DestinationWorkload);
        // A path prefix (a gateway) is kept.
        let c = config("url = \"https://gw/tenant-a/\"");
        assert_eq!(
            c.validate().unwrap().as_str(),
            "https://gw/tenant-a/loki/api/v1/push"
        );
    }

    #[test]
    fn full_table_parses() {
        let c = config(
            r#"
            url = "https://loki:3100"
            tenant = "mesh"
            cluster = "prod-eu1"
            basic_auth = { username = "obs", password_file = "/run/pw" }
            ca_file = "/etc/ca.pem"
            labels = { ns = "destination_namespace", verdict = "decision" }
            encoding = "json"
            gzip = true
            max_concurrent_requests = 2
            "#,
        );
        assert_eq!(c.encoding, Encoding::Json);
        assert_eq!(c.labels.len(), 2);
        c.validate().unwrap();
    }

    #[test]
    fn high_cardinality_field_is_refused_by_name() {
        let err = toml::from_str::<LokiConfig>("labels = { who = \"source_principal\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("source_principal"), "{err}");
    }

    #[test]
    fn checks_what_serde_cannot() {
        let err = |toml: &str| config(toml).validate().unwrap_err().to_string();
        assert!(err("").contains("loki.url: required"));
        assert!(err("url = \"ftp://x\"").contains("http or https"));
        assert!(err("url = \"http://u:p@x\"").contains("credentials"));
        assert!(err("url = \"http://x\"\nlabels = { job = \"decision\" }").contains("reserved"));
        assert!(
            err("url = \"http://x\"\nlabels = { \"a-b\" = \"decision\" }").contains("not a valid")
        );
        assert!(err("url = \"http://x\"\ngzip = true").contains("only with encoding"));
        assert!(err("url = \"http://x\"\nlabels = { late = \"decision\" }").contains("reserved"));
        assert!(err("url = \"http://x\"\nout_of_order_window_secs = 5")
            .contains("loki.out_of_order_window_secs: must be 0 (off) or between 60 and 604800"));
        assert!(
            err("url = \"http://x\"\nmin_backoff_ms = 5\nmax_backoff_ms = 4")
                .contains("max_backoff_ms")
        );
        assert!(err(
            "url = \"http://x\"\nbearer_token_file = \"/t\"\nbasic_auth = { username = \"u\", password_file = \"/p\" }"
        )
        .contains("either"));
    }
}
