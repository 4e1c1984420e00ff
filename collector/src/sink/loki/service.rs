//! Delivery of one push request: each attempt over HTTP(S) ([`Client`]),
//! what Loki's answer means for it, and the retries until Loki has
//! answered for good ([`Delivery`]; the answers are in [`super`]'s docs).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Certificate;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{debug_span, warn, Instrument as _};
use url::Url;

use super::config::{Encoding, LokiConfig};
use super::error::{shorten, LokiError};
use super::line::LokiEntry;
use super::reject::DeadLetters;
use super::stats::LokiStats;
use super::wire;
use crate::sink::metrics::SinkMetrics;
use crate::sink::net::{with_causes, Backoff};
use crate::sink::SinkError;
use crate::telemetry::DATA_PATH;

/// Most of an error answer kept (Loki's messages are far shorter).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub struct Client {
    http: reqwest::Client,
    push_url: Url,
    content_type: &'static str,
    gzip: bool,
    tenant: Option<HeaderValue>,
    auth: Option<Auth>,
}

/// Secrets, read once at start (restart the collector to rotate them).
enum Auth {
    Basic { username: String, password: String },
    Bearer(String),
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// 2xx (Loki answers 204).
    Stored,
    /// 400 (partial: the valid entries are stored), 413, 422: sending the
    /// request again cannot help.
    Rejected { status: u16, message: String },
    /// 429, 5xx, any other status, or no answer: try again later.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl Client {
    pub fn new(config: &LokiConfig, push_url: Url) -> Result<Self, LokiError> {
        // Err only means a provider is installed already, which reqwest then uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout())
            .user_agent(concat!("observatory-collector/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(config.insecure_skip_verify);
        if let Some(path) = &config.ca_file {
            let certs = Certificate::from_pem_bundle(read(path)?.as_bytes()).map_err(|e| {
                LokiError::Config {
                    key: "ca_file",
                    message: format!("{}: {e}", path.display()),
                }
            })?;
            http = http.tls_certs_only(certs);
        }
        let tenant = config
            .tenant
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()
            .map_err(|e| LokiError::Config {
                key: "tenant",
                message: e.to_string(),
            })?;
        let auth = match (&config.basic_auth, &config.bearer_token_file) {
            (Some(basic), _) => Some(Auth::Basic {
                username: basic.username.clone(),
                password: read(&basic.password_file)?,
            }),
            (None, Some(path)) => Some(Auth::Bearer(read(path)?)),
            (None, None) => None,
        };
        Ok(Client {
            http: http.build().map_err(LokiError::Client)?,
            push_url,
            content_type: match config.encoding {
                Encoding::Protobuf => "application/x-protobuf",
                Encoding::Json => "application/json",
            },
            gzip: config.gzip,
            tenant,
            auth,
        })
    }

    pub fn push_url(&self) -> &Url {
        &self.push_url
    }

    /// Adds the tenant and credentials every request to Loki carries.
    fn authorize(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(tenant) = &self.tenant {
            request = request.header("X-Scope-OrgID", tenant.clone());
        }
        match &self.auth {
            Some(Auth::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A GET of `url` with the tenant and credentials.
    pub fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.authorize(self.http.get(url))
    }

    pub async fn push(&self, body: Bytes) -> Answer {
        let mut request = self
            .http
            .post(self.push_url.clone())
            .header(CONTENT_TYPE, self.content_type)
            .body(body);
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = match self.authorize(request).send().await {
            Ok(response) => response,
            Err(e) => {
                return Answer::Retry {
                    reason: with_causes(&e),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Stored;
        }
        let retry_after = retry_after(response.headers());
        let message = message(response).await;
        match status.as_u16() {
            status @ (400 | 413 | 422) => Answer::Rejected { status, message },
            _ => Answer::Retry {
                reason: format!("{status}: {message}"),
                retry_after,
            },
        }
    }
}

/// A secret or CA file, without the trailing newline editors and
/// Kubernetes secrets leave.
fn read(path: &Path) -> Result<String, LokiError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|error| LokiError::Read {
            path: path.to_owned(),
            error,
        })
}

/// `Retry-After` as seconds or an HTTP date (Loki sends none; a proxy in
/// front of it may).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The body of an error answer (plain text from Loki), cut to
/// [`MAX_MESSAGE_BYTES`]; a body that breaks off keeps what arrived.
pub async fn message(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_MESSAGE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_MESSAGE_BYTES);
    String::from_utf8_lossy(&body).trim_end().to_owned()
}

/// Pushes one request until Loki has answered for good.
pub struct Delivery {
    client: Arc<Client>,
    dead_letters: DeadLetters,
    body: Body,
    backoff: Backoff,
    metrics: SinkMetrics,
    stats: Arc<LokiStats>,
    shutdown: CancellationToken,
}

enum Body {
    Protobuf,
    Json { gzip: bool },
}

impl Delivery {
    /// Once `shutdown` is cancelled, a failed push is no longer retried.
    pub fn new(
        config: &LokiConfig,
        client: Arc<Client>,
        dead_letters: DeadLetters,
        metrics: SinkMetrics,
        stats: Arc<LokiStats>,
        shutdown: CancellationToken,
    ) -> Self {
        Delivery {
            client,
            dead_letters,
            body: match config.encoding {
                Encoding::Protobuf => Body::Protobuf,
                Encoding::Json => Body::Json { gzip: config.gzip },
            },
            backoff: Backoff {
                min: config.min_backoff(),
                max: config.max_backoff(),
            },
            metrics,
            stats,
            shutdown,
        }
    }

    pub async fn deliver(&self, entries: &[LokiEntry]) -> Result<(), SinkError> {
        let body = match self.body {
            Body::Protobuf => wire::protobuf_body(entries),
            Body::Json { gzip } => wire::json_body(entries, gzip),
        }
        .map_err(LokiError::Compress)?;
        let body = Bytes::from(body);
        let mut attempt = 0u32;
        loop {
            let span = debug_span!(
                target: DATA_PATH,
                "loki_push",
                attempt = i64::from(attempt),
                entries = entries.len() as i64,
                outcome = Empty,
                otel.status_code = Empty,
            );
            let started = Instant::now();
            let answer = self
                .client
                .push(body.clone())
                .instrument(span.clone())
                .await;
            self.metrics
                .push_latency
                .observe(started.elapsed().as_secs_f64());
            match &answer {
                Answer::Stored => span.record("outcome", "stored"),
                Answer::Rejected { .. } => span
                    .record("outcome", "rejected")
                    .record("otel.status_code", "ERROR"),
                Answer::Retry { .. } => span
                    .record("outcome", "retry")
                    .record("otel.status_code", "ERROR"),
            };
            let (reason, retry_after) = match answer {
                Answer::Stored => {
                    self.metrics.confirmed.add(entries.len() as u64);
                    return Ok(());
                }
                Answer::Rejected { status, message } => {
                    let url = self.client.push_url();
                    return self.dead_letters.keep(url, entries, status, &message).await;
                }
                Answer::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            let url = self.client.push_url();
            if self.shutdown.is_cancelled() {
                warn!(%url, entries = entries.len(), "Loki push failed at shutdown, giving up: {}", shorten(&reason));
                return Err(LokiError::Unconfirmed {
                    url: url.to_string(),
                }
                .into());
            }
            self.stats.push_retries.add(1);
            self.metrics.retried.add(entries.len() as u64);
            let delay = self
                .backoff
                .delay(attempt)
                .max(retry_after.unwrap_or_default());
            warn!(%url, attempt, entries = entries.len(), retry_in = ?delay, "Loki push failed: {}", shorten(&reason));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.cancelled() => {
                    return Err(LokiError::Unconfirmed { url: url.to_string() }.into());
                }
            }
            attempt = attempt.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_seconds_or_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn secrets_lose_their_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(read(&path).unwrap(), "s3cret");
        let err = read(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
