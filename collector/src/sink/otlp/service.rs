//! Delivery of one export request: each attempt over gRPC or HTTP
//! ([`Transport`]), what the receiver's answer means for it, and the retries
//! until it has answered for good ([`Delivery`]).
//!
//! Answers: success confirms, also a partial success (the receiver kept
//! the rest; what it refused is counted and logged, it cannot be told
//! which records those were); gRPC `INVALID_ARGUMENT` and HTTP 400 or 413
//! mean resending cannot help, so the request's lines go to the dead-letter
//! file; everything else — other gRPC codes (including `UNAUTHENTICATED`:
//! credentials get fixed, records must not be lost meanwhile), HTTP 429,
//! 5xx, no answer — is retried with jittered exponential backoff (at least
//! `Retry-After`) until the receiver takes it or the collector stops.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use observatory_proto::json::{format_ts, unix_nanos};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Certificate;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tracing::field::Empty;
use tracing::{debug_span, warn, Instrument as _};
use url::Url;

use super::config::{OtlpLogsConfig, Protocol, HTTP_LOGS_PATH};
use super::error::OtlpLogsError;
use crate::sink::jsonl::JsonlFile;
use crate::sink::metrics::SinkMetrics;
use crate::sink::net::{with_causes, Backoff};
use crate::sink::SinkError;
use crate::telemetry::DATA_PATH;

/// Most of an error answer kept in a log line or dead letter.
const MAX_MESSAGE_CHARS: usize = 1024;

/// One export attempt's way to the receiver.
pub enum Transport {
    Grpc {
        client: LogsServiceClient<Channel>,
        metadata: MetadataMap,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        url: Url,
        headers: HeaderMap,
    },
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Taken; `refused` of its records were not (partial success).
    Stored { refused: i64, message: String },
    /// Sending the request again cannot help.
    Rejected { reason: String },
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl Transport {
    /// Connects lazily: a receiver that is down at start is retried like
    /// any failed export.
    pub fn new(config: &OtlpLogsConfig, endpoint: &Url) -> Result<Self, OtlpLogsError> {
        let bad = |key, message: String| OtlpLogsError::Config { key, message };
        match config.protocol {
            Protocol::Grpc => {
                let channel = Endpoint::from_shared(endpoint.to_string())
                    .map_err(|e| bad("endpoint", e.to_string()))?
                    .connect_timeout(config.timeout())
                    .connect_lazy();
                let mut metadata = MetadataMap::new();
                for (name, value) in &config.headers {
                    let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|e| bad("headers", format!("{name:?}: {e}")))?;
                    let value = MetadataValue::try_from(value.as_str())
                        .map_err(|e| bad("headers", format!("value of {name:?}: {e}")))?;
                    metadata.insert(key, value);
                }
                Ok(Transport::Grpc {
                    client: LogsServiceClient::new(channel),
                    metadata,
                    timeout: config.timeout(),
                })
            }
            Protocol::Http => {
                // Err only means a provider is installed already, which reqwest then uses.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut http = reqwest::Client::builder()
                    .timeout(config.timeout())
                    .user_agent(concat!("observatory-collector/", env!("CARGO_PKG_VERSION")));
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| bad("ca_file", format!("{}: {e}", path.display())))?;
                    let certs = Certificate::from_pem_bundle(&pem)
                        .map_err(|e| bad("ca_file", format!("{}: {e}", path.display())))?;
                    http = http.tls_certs_only(certs);
                }
                let mut headers = HeaderMap::new();
                for (name, value) in &config.headers {
                    let key = HeaderName::try_from(name.as_str())
                        .map_err(|e| bad("headers", format!("{name:?}: {e}")))?;
                    let value = HeaderValue::try_from(value.as_str())
                        .map_err(|e| bad("headers", format!("value of {name:?}: {e}")))?;
                    headers.insert(key, value);
                }
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                );
                let mut url = endpoint.clone();
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                let url = url
                    .join(HTTP_LOGS_PATH)
                    .map_err(|e| bad("endpoint", e.to_string()))?;
                Ok(Transport::Http {
                    client: http.build().map_err(OtlpLogsError::Client)?,
                    url,
                    headers,
                })
            }
        }
    }

    /// Where exports go, for logs and dead letters.
    pub fn target(&self, endpoint: &Url) -> String {
        match self {
            Transport::Grpc { .. } => endpoint.to_string(),
            Transport::Http { url, .. } => url.to_string(),
        }
    }

    async fn export(&self, request: &ExportLogsServiceRequest, body: &Bytes) -> Answer {
        match self {
            Transport::Grpc {
                client,
                metadata,
                timeout,
            } => {
                let mut call = tonic::Request::new(request.clone());
                *call.metadata_mut() = metadata.clone();
                call.set_timeout(*timeout);
                match client.clone().export(call).await {
                    Ok(response) => stored(response.into_inner()),
                    Err(status) => grpc_answer(&status),
                }
            }
            Transport::Http {
                client,
                url,
                headers,
            } => {
                let sent = client
                    .post(url.clone())
                    .headers(headers.clone())
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = retry_after(response.headers());
                        let bytes = response.bytes().await.unwrap_or_default();
                        http_answer(status, &bytes, retry_after)
                    }
                    Err(e) => Answer::Retry {
                        reason: with_causes(&e),
                        retry_after: None,
                    },
                }
            }
        }
    }
}

fn stored(response: ExportLogsServiceResponse) -> Answer {
    let partial = response.partial_success.unwrap_or_default();
    Answer::Stored {
        refused: partial.rejected_log_records,
        message: shorten(&partial.error_message),
    }
}

fn grpc_answer(status: &tonic::Status) -> Answer {
    let reason = shorten(&format!("{}: {}", status.code(), status.message()));
    match status.code() {
        Code::InvalidArgument => Answer::Rejected { reason },
        _ => Answer::Retry {
            reason,
            retry_after: None,
        },
    }
}

fn http_answer(status: u16, body: &[u8], retry_after: Option<Duration>) -> Answer {
    let text = || shorten(&String::from_utf8_lossy(body));
    match status {
        200..=299 => match ExportLogsServiceResponse::decode(body) {
            Ok(response) => stored(response),
            // An empty or JSON body (some receivers answer so) still confirms.
            Err(_) => Answer::Stored {
                refused: 0,
                message: String::new(),
            },
        },
        400 | 413 => Answer::Rejected {
            reason: format!("HTTP {status}: {}", text()),
        },
        _ => Answer::Retry {
            reason: format!("HTTP {status}: {}", text()),
            retry_after,
        },
    }
}

/// `Retry-After` in seconds (the form OTLP receivers send).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// One refused line as the dead-letter file keeps it.
#[derive(Serialize)]
struct DeadLetterLine<'a> {
    dead_lettered_at: &'a str,
    endpoint: &'a str,
    reason: &'a str,
    line: &'a str,
}

/// Exports one request until the receiver has answered for good; once
/// `shutdown` is cancelled, a failed export is no longer retried.
pub struct Delivery {
    pub transport: Transport,
    /// Where exports go, for logs and dead letters.
    pub target: String,
    pub dead_letters: JsonlFile,
    pub backoff: Backoff,
    pub metrics: SinkMetrics,
    pub shutdown: CancellationToken,
}

impl Delivery {
    /// Exports `request`, whose records are `lines`, in order.
    pub async fn deliver(
        &self,
        request: &ExportLogsServiceRequest,
        lines: &[&str],
    ) -> Result<(), SinkError> {
        let body = match &self.transport {
            Transport::Http { .. } => Bytes::from(request.encode_to_vec()),
            Transport::Grpc { .. } => Bytes::new(),
        };
        let mut attempt = 0u32;
        loop {
            let span = debug_span!(
                target: DATA_PATH,
                "otlp_logs_export",
                attempt = i64::from(attempt),
                records = lines.len() as i64,
                outcome = Empty,
                otel.status_code = Empty,
            );
            let started = Instant::now();
            let answer = self
                .transport
                .export(request, &body)
                .instrument(span.clone())
                .await;
            self.metrics
                .push_latency
                .observe(started.elapsed().as_secs_f64());
            let (reason, retry_after) = match answer {
                Answer::Stored { refused, message } => {
                    span.record("outcome", "stored");
                    if refused > 0 {
                        warn!(endpoint = %self.target, refused, "OTLP receiver refused some log records: {message}");
                    }
                    self.metrics.confirmed.add(lines.len() as u64);
                    return Ok(());
                }
                Answer::Rejected { reason } => {
                    span.record("outcome", "rejected")
                        .record("otel.status_code", "ERROR");
                    return self.dead_letter(lines, &reason).await;
                }
                Answer::Retry {
                    reason,
                    retry_after,
                } => {
                    span.record("outcome", "retry")
                        .record("otel.status_code", "ERROR");
                    (reason, retry_after)
                }
            };
            let unconfirmed = || -> SinkError {
                OtlpLogsError::Unconfirmed {
                    endpoint: self.target.clone(),
                }
                .into()
            };
            if self.shutdown.is_cancelled() {
                warn!(endpoint = %self.target, records = lines.len(), "OTLP logs export failed at shutdown, giving up: {reason}");
                return Err(unconfirmed());
            }
            self.metrics.retried.add(lines.len() as u64);
            let delay = self
                .backoff
                .delay(attempt)
                .max(retry_after.unwrap_or_default());
            warn!(endpoint = %self.target, attempt, records = lines.len(), retry_in = ?delay, "OTLP logs export failed: {reason}");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.cancelled() => return Err(unconfirmed()),
            }
            attempt = attempt.saturating_add(1);
        }
    }

    async fn dead_letter(&self, lines: &[&str], reason: &str) -> Result<(), SinkError> {
        let at = format_ts(unix_nanos(SystemTime::now()));
        let mut out = Vec::new();
        for line in lines {
            let letter = DeadLetterLine {
                dead_lettered_at: &at,
                endpoint: &self.target,
                reason,
                line,
            };
            serde_json::to_writer(&mut out, &letter).map_err(|e| SinkError::Encode(Arc::new(e)))?;
            out.push(b'\n');
        }
        self.dead_letters.append(out).await?;
        self.metrics.dead_lettered.add(lines.len() as u64);
        warn!(endpoint = %self.target, records = lines.len(), "OTLP receiver refused an export for good; its records are in the dead-letter file: {reason}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    #[test]
    fn http_answers() {
        let partial = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            http_answer(200, &partial, None),
            Answer::Stored {
                refused: 2,
                message: "too old".into()
            }
        );
        assert!(matches!(
            http_answer(200, b"{}", None),
            Answer::Stored { refused: 0, .. }
        ));
        assert!(
            matches!(http_answer(400, b"bad", None), Answer::Rejected { reason } if reason == "HTTP 400: bad")
        );
        assert!(matches!(
            http_answer(413, b"", None),
            Answer::Rejected { .. }
        ));
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            http_answer(429, b"slow down", wait),
            Answer::Retry {
                reason: "HTTP 429: slow down".into(),
                retry_after: wait
            }
        );
        assert!(matches!(http_answer(503, b"", None), Answer::Retry { .. }));
        assert!(matches!(http_answer(401, b"", None), Answer::Retry { .. }));
    }

    #[test]
    fn grpc_answers() {
        let bad = tonic::Status::invalid_argument("no");
        assert!(matches!(grpc_answer(&bad), Answer::Rejected { .. }));
        for status in [
            tonic::Status::unavailable("down"),
            tonic::Status::resource_exhausted("full"),
            tonic::Status::unauthenticated("who"),
            tonic::Status::internal("oops"),
        ] {
            assert!(
                matches!(grpc_answer(&status), Answer::Retry { .. }),
                "{status:?}"
            );
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(5000);
        assert_eq!(shorten(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(shorten("short"), "short");
    }
}
