//! `observatory-collector verify`: reads a stored trail back — a JSON-lines
//! sink file, or Loki through `query_range` — and checks its chains and
//! checkpoints ([`crate::chain::verify`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::chain::{self, CheckpointKey, Report};

/// Entries asked for per `query_range` request (Loki's default maximum).
const PAGE: usize = 5000;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--{flag}: not an RFC 3339 time: {value}")]
    Time { flag: &'static str, value: String },
    #[error("Loki query failed: {0}")]
    Loki(String),
}

/// Checks a JSON-lines trail; positions are line numbers.
pub fn jsonl(
    path: &Path,
    key: Option<&CheckpointKey>,
    proxy: Option<&str>,
) -> Result<Report, VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|error| VerifyError::Read {
        path: path.to_owned(),
        error,
    })?;
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (format!("line {}", i + 1), line));
    Ok(chain::verify(lines, key, proxy))
}

/// What to read from Loki.
pub struct LokiQuery<'a> {
    pub url: &'a Url,
    pub from: &'a str,
    pub to: &'a str,
    pub proxy: Option<&'a str>,
    pub tenant: Option<&'a str>,
}

/// Checks what Loki returns for `{job="observatory"}` between `from` and
/// `to`; positions are entry timestamps. Loki orders entries by time, so
/// reordering shows only as what it breaks (chains, seq order).
pub async fn loki(
    query: &LokiQuery<'_>,
    key: Option<&CheckpointKey>,
) -> Result<Report, VerifyError> {
    let entries = query_range(query).await?;
    let lines = entries
        .iter()
        .map(|(ts, line)| (format!("ts {ts}"), line.as_str()));
    Ok(chain::verify(lines, key, query.proxy))
}

#[derive(Deserialize)]
struct QueryResponse {
    data: QueryData,
}

#[derive(Deserialize)]
struct QueryData {
    result: Vec<StreamResult>,
}

#[derive(Deserialize)]
struct StreamResult {
    values: Vec<(String, String)>,
}

/// Every entry in the range, oldest first, page by page.
async fn query_range(query: &LokiQuery<'_>) -> Result<Vec<(i128, String)>, VerifyError> {
    let mut start = nanos("from", query.from)?;
    let end = nanos("to", query.to)?;
    let logql = match query.proxy {
        Some(proxy) => format!(
            "{{job=\"observatory\"}} | proxy_id=\"{}\"",
            proxy.replace('\\', "\\\\").replace('"', "\\\"")
        ),
        None => "{job=\"observatory\"}".to_owned(),
    };
    let mut url = query.url.clone();
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/loki/api/v1/query_range"));
    // Err only means a provider is installed already, which reqwest then uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| VerifyError::Loki(e.to_string()))?;
    let mut all = Vec::new();
    loop {
        let mut page_url = url.clone();
        page_url
            .query_pairs_mut()
            .append_pair("query", &logql)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("limit", &PAGE.to_string())
            .append_pair("direction", "forward");
        let mut request = http.get(page_url);
        if let Some(tenant) = query.tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        let response = request
            .send()
            .await
            .map_err(|e| VerifyError::Loki(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| VerifyError::Loki(e.to_string()))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&body);
            return Err(VerifyError::Loki(format!("{status}: {}", body.trim_end())));
        }
        let page: QueryResponse =
            serde_json::from_slice(&body).map_err(|e| VerifyError::Loki(e.to_string()))?;
        let mut entries: Vec<(i128, String)> = page
            .data
            .result
            .into_iter()
            .flat_map(|s| s.values)
            .filter_map(|(ts, line)| Some((ts.parse().ok()?, line)))
            .collect();
        entries.sort();
        let full = entries.len() >= PAGE;
        let last = entries.last().map(|(ts, _)| *ts);
        all.extend(entries);
        match last {
            // The next page starts after the last entry seen.
            Some(ts) if full && ts < end => start = ts + 1,
            _ => break,
        }
    }
    Ok(all)
}

fn nanos(flag: &'static str, value: &str) -> Result<i128, VerifyError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| t.unix_timestamp_nanos())
        .map_err(|_| VerifyError::Time {
            flag,
            value: value.to_owned(),
        })
}
