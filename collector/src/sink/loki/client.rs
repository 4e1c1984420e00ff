//! One push attempt over HTTP(S) and what Loki's answer means for it.

use std::error::Error as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Certificate;
use url::Url;

use super::config::{Encoding, LokiConfig};
use super::LokiError;

/// Where pushes go, below Loki's base URL.
pub(super) const PUSH_PATH: &str = "loki/api/v1/push";
/// Most of an error answer kept (Loki's messages are far shorter).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub struct Client {
    http: reqwest::Client,
    push_url: Url,
    /// Loki's readiness endpoint (`<base>/ready`), for `/readyz`.
    ready_url: Url,
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
        let mut ready_url = push_url.clone();
        let base = push_url.path().strip_suffix(PUSH_PATH).unwrap_or("/");
        ready_url.set_path(&format!("{base}ready"));
        Ok(Client {
            http: http.build().map_err(LokiError::Client)?,
            push_url,
            ready_url,
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

    /// `GET <base>/ready`: Loki answers 200 once it accepts pushes.
    pub async fn ready(&self) -> Result<(), String> {
        let request = self.authorize(self.http.get(self.ready_url.clone()));
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                Err(format!(
                    "{}: {status}: {}",
                    self.ready_url,
                    message(response).await
                ))
            }
            Err(e) => Err(format!("{}: {}", self.ready_url, with_causes(&e))),
        }
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
async fn message(mut response: reqwest::Response) -> String {
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

/// reqwest's own message is only "error sending request"; the causes say why.
fn with_causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
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
