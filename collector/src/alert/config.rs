//! The `[alert]` table: webhooks and how often they may be called.
//!
//! Webhook URLs are secrets (a Slack incoming-webhook URL is its own
//! credential): they come from an environment variable (`url_env`) or a
//! file (`url_file`), never from the config itself, and are never logged —
//! at most their host.

use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// After a notification for (principal, reason), another one for the
    /// same pair waits at least this long.
    pub cooldown_secs: u64,
    /// A firing alert resolves once its principal has had no anomalous
    /// minute for this long.
    pub resolve_after_secs: NonZeroU64,
    /// Most firing notifications per minute over all principals; the rest
    /// are counted and dropped.
    pub max_per_minute: NonZeroU32,
    /// Attempts per notification and webhook (exponential backoff between).
    pub max_attempts: NonZeroU32,
    /// First backoff, doubled per attempt.
    pub backoff_ms: NonZeroU64,
    /// Per attempt.
    pub timeout_secs: NonZeroU64,
    /// Link added to every notification; `{principal}`, `{correlation_id}`,
    /// `{from}` and `{to}` (Unix ms) are replaced, URL-encoded. For example
    /// `https://grafana.example/explore?left={"queries":[{"expr":"{job=\"observatory\"} | source_principal=\"{principal}\""}],"range":{"from":"{from}","to":"{to}"}}`.
    pub grafana_explore_url: Option<String>,
    /// Where open episodes and cooldowns are kept across restarts
    /// [default: `<data_dir>/alert-state.json`].
    pub state_path: Option<PathBuf>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        let n64 = |n: u64| NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN);
        let n32 = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        AlertConfig {
            webhooks: Vec::new(),
            cooldown_secs: 900,
            resolve_after_secs: n64(300),
            max_per_minute: n32(10),
            max_attempts: n32(5),
            backoff_ms: n64(1000),
            timeout_secs: n64(10),
            grafana_explore_url: None,
            state_path: None,
        }
    }
}

impl AlertConfig {
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_secs)
    }

    pub fn resolve_after(&self) -> Duration {
        Duration::from_secs(self.resolve_after_secs.get())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// Slack incoming webhook: `{"text", "blocks"}`.
    Slack,
    /// Alertmanager's `POST /api/v2/alerts` (the URL names the full path).
    Alertmanager,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub kind: WebhookKind,
    /// Environment variable holding the URL.
    pub url_env: Option<String>,
    /// File holding the URL (surrounding white space ignored).
    pub url_file: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("webhook: set exactly one of url_env and url_file")]
    Source,
    #[error("webhook: environment variable {0} is not set")]
    Env(String),
    #[error("webhook: cannot read url_file {path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The URL itself is not repeated: it is the secret.
    #[error("webhook from {from}: not an http(s) URL")]
    Url { from: String },
}

impl WebhookConfig {
    /// The URL, read from its env var or file.
    pub fn url(&self) -> Result<Url, SecretError> {
        let (text, from) = match (&self.url_env, &self.url_file) {
            (Some(var), None) => (
                std::env::var(var).map_err(|_| SecretError::Env(var.clone()))?,
                format!("${var}"),
            ),
            (None, Some(path)) => (
                std::fs::read_to_string(path).map_err(|error| SecretError::File {
                    path: path.clone(),
                    error,
                })?,
                path.display().to_string(),
            ),
            _ => return Err(SecretError::Source),
        };
        Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or(SecretError::Url { from })
    }
}

/// What may be logged of a webhook URL: its host.
pub fn redacted(url: &Url) -> String {
    format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn url_from_file_or_env_and_errors_do_not_repeat_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook");
        std::fs::write(&path, "https://hooks.slack.com/services/T/B/secret\n").unwrap();
        let hook = WebhookConfig {
            kind: WebhookKind::Slack,
            url_env: None,
            url_file: Some(path.clone()),
        };
        let url = hook.url().unwrap();
        assert_eq!(url.path(), "/services/T/B/secret");
        assert_eq!(redacted(&url), "https://hooks.slack.com/…");

        std::fs::write(&path, "ftp://secret-host/x").unwrap();
        let err = hook.url().unwrap_err().to_string();
        assert!(!err.contains("secret-host"), "{err}");

        let env = WebhookConfig {
            url_env: Some("OBSERVATORY_TEST_UNSET_HOOK".into()),
            url_file: None,
            ..hook.clone()
        };
        assert!(matches!(env.url(), Err(SecretError::Env(_))));
        let both = WebhookConfig {
            url_env: Some("X".into()),
            ..hook
        };
        assert!(matches!(both.url(), Err(SecretError::Source)));
    }

    #[test]
    fn table_parses_with_defaults() {
        let c: AlertConfig = toml::from_str(
            "cooldown_secs = 60\n[[webhooks]]\nkind = \"alertmanager\"\nurl_env = \"AM\"\n",
        )
        .unwrap();
        assert_eq!(c.cooldown(), Duration::from_secs(60));
        assert_eq!(c.webhooks[0].kind, WebhookKind::Alertmanager);
        assert_eq!(c.max_per_minute.get(), 10);
        assert!(toml::from_str::<AlertConfig>("[[webhooks]]\nkind = \"pager\"\n").is_err());
    }
}
