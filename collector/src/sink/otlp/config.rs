//! The `[otlp_logs]` table of the collector config file (snake_case keys).
//! Every key has a default except `endpoint`, which may also come from
//! `--otlp-logs-endpoint` / `OBSERVATORY_OTLP_LOGS_ENDPOINT`.

use std::collections::BTreeMap;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::error::OtlpLogsError;

/// The `sink` label of this sink's metrics.
pub const SINK_NAME: &str = "otlp_logs";

/// File name of the dead-letter file inside the data directory, unless
/// `dead_letter_file` says otherwise.
pub const DEAD_LETTER_FILE_NAME: &str = "otlp-logs-dead-letter.jsonl";

/// Where OTLP/HTTP log exports go, below the endpoint (the OTLP spec's
/// signal path).
pub const HTTP_LOGS_PATH: &str = "v1/logs";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpLogsConfig {
    /// An OTLP receiver: `http://otel-collector:4317` (gRPC) or
    /// `http://otel-collector:4318` (HTTP; the sink posts to
    /// `<endpoint>/v1/logs`). Required.
    pub endpoint: Option<Url>,
    pub protocol: Protocol,
    /// Sent with every export (an API key of the SIEM's receiver, …).
    pub headers: BTreeMap<String, String>,
    /// PEM bundle of the CAs trusted for an `https` endpoint (HTTP only),
    /// instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Log records in one export request.
    pub batch_max_records: NonZeroUsize,
    /// Default: `<data_dir>/otlp-logs-dead-letter.jsonl`.
    pub dead_letter_file: Option<PathBuf>,
    pub min_backoff_ms: NonZeroU64,
    pub max_backoff_ms: NonZeroU64,
    /// Limit of one export attempt, answer included.
    pub timeout_ms: NonZeroU64,
    /// `service.name` of the resource the records come with.
    pub service_name: String,
}

/// OTLP's two transports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `LogsService/Export` over gRPC (plaintext HTTP/2: in a mesh the
    /// sidecar adds mTLS).
    #[default]
    Grpc,
    /// `POST /v1/logs` with a protobuf body, over HTTP or HTTPS.
    Http,
}

impl Default for OtlpLogsConfig {
    fn default() -> Self {
        OtlpLogsConfig {
            endpoint: None,
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            ca_file: None,
            batch_max_records: NonZeroUsize::new(1000).unwrap_or(NonZeroUsize::MIN),
            dead_letter_file: None,
            min_backoff_ms: NonZeroU64::new(100).unwrap_or(NonZeroU64::MIN),
            max_backoff_ms: NonZeroU64::new(30_000).unwrap_or(NonZeroU64::MIN),
            timeout_ms: NonZeroU64::new(10_000).unwrap_or(NonZeroU64::MIN),
            service_name: "observatory-collector".to_owned(),
        }
    }
}

impl OtlpLogsConfig {
    /// The endpoint, checked: set, `http` or `https` (`https` only with
    /// the HTTP protocol), and the header names and values valid.
    pub fn validate(&self) -> Result<Url, OtlpLogsError> {
        let config = |key, message: String| OtlpLogsError::Config { key, message };
        let endpoint = self.endpoint.clone().ok_or_else(|| {
            config(
                "endpoint",
                "required (--otlp-logs-endpoint or endpoint in [otlp_logs])".to_owned(),
            )
        })?;
        match (endpoint.scheme(), self.protocol) {
            ("http", _) | ("https", Protocol::Http) => {}
            ("https", Protocol::Grpc) => {
                return Err(config(
                    "endpoint",
                    format!("{endpoint}: TLS is supported with protocol = \"http\"; over gRPC use http:// and the mesh's mTLS"),
                ))
            }
            (scheme, _) => {
                return Err(config(
                    "endpoint",
                    format!("{endpoint}: scheme {scheme:?} is not http or https"),
                ))
            }
        }
        if self.ca_file.is_some() && self.protocol == Protocol::Grpc {
            return Err(config(
                "ca_file",
                "only with protocol = \"http\"".to_owned(),
            ));
        }
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|e| config("headers", format!("{name:?}: {e}")))?;
            reqwest::header::HeaderValue::try_from(value.as_str())
                .map_err(|e| config("headers", format!("value of {name:?}: {e}")))?;
        }
        if self.min_backoff_ms > self.max_backoff_ms {
            return Err(config(
                "min_backoff_ms",
                format!(
                    "{} is above max_backoff_ms ({})",
                    self.min_backoff_ms, self.max_backoff_ms
                ),
            ));
        }
        Ok(endpoint)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.get())
    }

    pub fn min_backoff(&self) -> Duration {
        Duration::from_millis(self.min_backoff_ms.get())
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms.get())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(endpoint: &str, protocol: Protocol) -> OtlpLogsConfig {
        OtlpLogsConfig {
            endpoint: Some(Url::parse(endpoint).unwrap()),
            protocol,
            ..OtlpLogsConfig::default()
        }
    }

    #[test]
    fn endpoints_and_protocols() {
        assert!(with("http://otel:4317", Protocol::Grpc).validate().is_ok());
        assert!(with("https://otel:4318", Protocol::Http).validate().is_ok());
        let err = with("https://otel:4317", Protocol::Grpc)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("protocol = \"http\""), "{err}");
        let err = with("ftp://otel", Protocol::Http).validate().unwrap_err();
        assert!(err.to_string().contains("\"ftp\""), "{err}");
        let err = OtlpLogsConfig::default().validate().unwrap_err();
        assert!(err.to_string().contains("--otlp-logs-endpoint"), "{err}");
    }

    #[test]
    fn headers_must_be_sendable() {
        let mut config = with("http://otel:4317", Protocol::Grpc);
        config.headers.insert("x-api-key".into(), "k".into());
        assert!(config.validate().is_ok());
        config.headers.insert("bad name".into(), "k".into());
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("bad name"));
    }

    #[test]
    fn the_table_reads_snake_case_keys() {
        let config: OtlpLogsConfig = toml::from_str(
            "endpoint = \"http://otel:4318\"\nprotocol = \"http\"\nbatch_max_records = 10\n[headers]\nx-api-key = \"k\"\n",
        )
        .unwrap();
        assert_eq!(config.protocol, Protocol::Http);
        assert_eq!(config.batch_max_records.get(), 10);
        assert_eq!(
            config.headers.get("x-api-key").map(String::as_str),
            Some("k")
        );
        assert!(toml::from_str::<OtlpLogsConfig>("endpont = \"x\"").is_err());
    }
}
