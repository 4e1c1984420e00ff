//! What `verify` and `evidence` are told: where the trail is, which part of
//! it, the key, and how long Loki and the collector may take before what
//! is missing or uncovered counts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use url::Url;

use super::error::VerifyError;
use super::line::parse_ts;
use super::logql::LogQl;
use super::loki::Loki;
use super::memory::Memory;
use super::source::Source;
use crate::chain::CheckpointKey;

/// Every stream of the collector's.
pub const DEFAULT_SELECTOR: &str = "{job=\"observatory\"}";

#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// A JSON-lines trail (audit.jsonl)
    #[arg(long, value_name = "FILE", conflicts_with = "loki")]
    pub jsonl: Option<PathBuf>,
    /// Loki's base URL (user:password@ for basic auth): the trail is read with query_range
    #[arg(long, value_name = "URL", requires = "from")]
    pub loki: Option<Url>,
    /// Start of the time range to check (RFC 3339, now, or now-DURATION such as now-25h); a file without it is checked whole
    #[arg(long, value_name = "TIME", requires = "to")]
    pub from: Option<String>,
    /// End of the time range to check (exclusive; as --from)
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// Only this proxy's chain
    #[arg(long, value_name = "ID")]
    pub proxy: Option<String>,
    /// X-Scope-OrgID for Loki
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Loki stream selector of the trail, e.g. '{job="observatory", cluster="eu1"}'
    #[arg(long, value_name = "LOGQL", default_value = DEFAULT_SELECTOR)]
    pub selector: String,
    /// The checkpoint key: only with it are checkpoints proof
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Name of that key
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_ID", value_name = "ID", default_value = crate::config::DEFAULT_CHECKPOINT_KEY_ID)]
    pub key_id: String,
    /// Read this much before and after the range too: the lines and checkpoints around it
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = humantime::parse_duration)]
    pub margin: Duration,
    /// How far outside what was read a line missing from it is looked for
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub lookback: Duration,
    /// Lines missing whose checkpoint is younger than this may just not be visible in Loki yet [default: 3h with --loki, else 0s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub settle: Option<Duration>,
    /// Lines after the last checkpoint older than this should be covered by one
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub tail_grace: Duration,
}

/// `--tail-grace`.
const DEFAULT_TAIL_GRACE: Duration = Duration::from_secs(300);

/// Loki's `query_ingesters_within`: older entries it took recently may not
/// show until flushed.
const LOKI_SETTLE: Duration = Duration::from_secs(3 * 3600);

/// What a check depends on, resolved.
#[derive(Clone)]
pub struct Params {
    /// The range asked about: [from, to) unix ns; a whole file without.
    pub window: Option<(i64, i64)>,
    pub margin: i64,
    pub lookback: i64,
    pub settle: i64,
    pub tail_grace: i64,
    pub proxy: Option<String>,
    pub selector: String,
    /// Read from Loki (findings then come with LogQL).
    pub loki: bool,
    pub key: Option<CheckpointKey>,
    /// When the trail is read (unix ns).
    pub now: i64,
}

impl Params {
    /// A whole file, as `verify --jsonl FILE` checks it with the defaults.
    pub fn whole_file(key: Option<CheckpointKey>, now: i64) -> Params {
        Params {
            window: None,
            margin: 0,
            lookback: 0,
            settle: 0,
            tail_grace: nanos(DEFAULT_TAIL_GRACE),
            proxy: None,
            selector: DEFAULT_SELECTOR.to_owned(),
            loki: false,
            key,
            now,
        }
    }

    /// What is read: the window and the margins around it.
    pub fn read_range(&self) -> Option<(i64, i64)> {
        self.window.map(|(from, to)| {
            (
                from.saturating_sub(self.margin),
                to.saturating_add(self.margin),
            )
        })
    }
}

pub fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// RFC 3339, `now` or `now-DURATION` (`now-25h`: for a periodic run).
fn time(flag: &'static str, value: &str, now: i64) -> Result<i64, VerifyError> {
    let ago = match value.strip_prefix("now") {
        Some("") => Some(Ok(0)),
        Some(rest) => rest
            .strip_prefix('-')
            .map(|d| humantime::parse_duration(d.trim()).map(nanos)),
        None => None,
    };
    match ago {
        Some(Ok(ago)) => Ok(now.saturating_sub(ago)),
        _ => parse_ts(value).ok_or_else(|| VerifyError::Flag {
            flag,
            value: value.to_owned(),
            why: "not an RFC 3339 time, now or now-DURATION",
        }),
    }
}

impl ReadArgs {
    pub fn key(&self) -> Result<Option<CheckpointKey>, VerifyError> {
        let Some(path) = &self.key_file else {
            return Ok(None);
        };
        let secret = std::fs::read(path).map_err(|error| VerifyError::Read {
            path: path.clone(),
            error,
        })?;
        Ok(Some(CheckpointKey {
            id: self.key_id.clone(),
            // Editors and Kubernetes secrets leave a trailing newline.
            secret: secret.trim_ascii_end().to_vec(),
        }))
    }

    pub fn params(&self, now: i64) -> Result<Params, VerifyError> {
        let window = match (&self.from, &self.to) {
            (Some(from), Some(to)) => {
                let (from, to) = (time("from", from, now)?, time("to", to, now)?);
                if to <= from {
                    return Err(VerifyError::Flag {
                        flag: "to",
                        value: self.to.clone().unwrap_or_default(),
                        why: "not after --from",
                    });
                }
                Some((from, to))
            }
            _ => None,
        };
        let settle = match (self.settle, &self.loki) {
            (Some(settle), _) => settle,
            (None, Some(_)) => LOKI_SETTLE,
            (None, None) => Duration::ZERO,
        };
        Ok(Params {
            window,
            margin: nanos(self.margin),
            lookback: nanos(self.lookback),
            settle: nanos(settle),
            tail_grace: nanos(self.tail_grace),
            proxy: self.proxy.clone(),
            selector: self.selector.clone(),
            loki: self.loki.is_some(),
            key: self.key()?,
            now,
        })
    }

    /// The store to read, or `None` when neither is given.
    pub fn source(&self) -> Result<Option<Source>, VerifyError> {
        match (&self.jsonl, &self.loki) {
            (Some(path), _) => Ok(Some(Source::Memory(Memory::file(path)?))),
            (None, Some(url)) => {
                let logql = LogQl {
                    selector: self.selector.clone(),
                };
                let loki = Loki::new(url, self.tenant.clone(), logql, self.proxy.clone())?;
                Ok(Some(Source::Loki(Box::new(loki))))
            }
            (None, None) => Ok(None),
        }
    }

    /// Where, for the report.
    pub fn describe(&self) -> String {
        let range = match (&self.from, &self.to) {
            (Some(from), Some(to)) => format!(" from {from} to {to}"),
            _ => String::new(),
        };
        let proxy = self
            .proxy
            .as_ref()
            .map(|p| format!(", proxy {p}"))
            .unwrap_or_default();
        match (&self.jsonl, &self.loki) {
            (Some(path), _) => format!("file {}{range}{proxy}", path.display()),
            (None, Some(url)) => {
                // A password in the URL stays out of reports and evidence.
                let mut url = url.clone();
                if url.password().is_some() {
                    let _ = url.set_password(Some("…"));
                }
                format!("Loki {url} {}{range}{proxy}", self.selector)
            }
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_absolute_or_before_now() {
        const HOUR: i64 = 3_600_000_000_000;
        let now = 1_800_000_000_000_000_000;
        assert_eq!(time("from", "now", now).ok(), Some(now));
        assert_eq!(time("from", "now-25h", now).ok(), Some(now - 25 * HOUR));
        assert_eq!(
            time("from", "2027-01-15T07:00:00Z", now).ok(),
            Some(now - HOUR)
        );
        assert!(time("from", "now+1h", now).is_err());
        assert!(time("from", "yesterday", now).is_err());
    }
}
