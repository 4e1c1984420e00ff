//! `observatory-collector verify`: reads a stored trail back — a JSON-lines
//! sink file, or Loki through `query_range` — and checks its chains and
//! checkpoints ([`verify`], against what [`crate::chain`] stamped).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::chain::{hex, next, split, Checkpoint, CheckpointKey};

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

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A JSON-lines trail (audit.jsonl)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "loki",
        conflicts_with = "loki"
    )]
    pub jsonl: Option<PathBuf>,
    /// Loki's base URL; reads `{job="observatory"}` with query_range
    #[arg(long, value_name = "URL", requires_all = ["from", "to"])]
    pub loki: Option<url::Url>,
    /// Start of the time range (RFC 3339), with --loki
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time range (RFC 3339), with --loki
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this proxy's chain
    #[arg(long, value_name = "ID")]
    pub proxy: Option<String>,
    /// X-Scope-OrgID for Loki
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The checkpoint key: signatures are checked only with it
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Name of that key
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_ID", value_name = "ID", default_value = crate::config::DEFAULT_CHECKPOINT_KEY_ID)]
    pub key_id: String,
}

impl VerifyArgs {
    pub async fn run(&self) -> Result<Report, VerifyError> {
        let key = match &self.key_file {
            Some(path) => Some(CheckpointKey {
                id: self.key_id.clone(),
                secret: std::fs::read(path)
                    .map_err(|error| VerifyError::Read {
                        path: path.clone(),
                        error,
                    })?
                    .trim_ascii_end()
                    .to_vec(),
            }),
            None => None,
        };
        match (&self.jsonl, &self.loki) {
            (Some(path), _) => jsonl(path, key.as_ref(), self.proxy.as_deref()),
            (None, Some(url)) => {
                let query = LokiQuery {
                    url,
                    from: self.from.as_deref().unwrap_or_default(),
                    to: self.to.as_deref().unwrap_or_default(),
                    proxy: self.proxy.as_deref(),
                    tenant: self.tenant.as_deref(),
                };
                loki(&query, key.as_ref()).await
            }
            // clap requires one of the two.
            (None, None) => Ok(Report::default()),
        }
    }
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
    Ok(verify(lines, key, proxy))
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
    Ok(verify(lines, key, query.proxy))
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

/// Something wrong in a trail, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub proxy: String,
    /// Where the offending line is in the input (line number or Loki
    /// timestamp), or the seq range for missing records.
    pub position: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Records `from..=to` are not in the trail.
    Missing { from: u64, to: u64 },
    /// The record with this seq does not hash to its chain: edited.
    Altered { seq: u64 },
    /// Stored after a record with a higher seq.
    Reordered { seq: u64, after: u64 },
    /// A record line without `seq`/`chain`, or a second, different record
    /// with a seq already seen.
    Injected { seq: Option<u64> },
    /// A checkpoint whose signature or chain does not match.
    BadCheckpoint { seq: u64, why: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (proxy, at) = (&self.proxy, &self.position);
        match &self.problem {
            Problem::Missing { from, to } => {
                write!(f, "{proxy}: missing seq {from}..={to} (before {at})")
            }
            Problem::Altered { seq } => write!(f, "{proxy}: altered record seq {seq} at {at}"),
            Problem::Reordered { seq, after } => {
                write!(
                    f,
                    "{proxy}: reordered: seq {seq} at {at} comes after seq {after}"
                )
            }
            Problem::Injected { seq: Some(seq) } => {
                write!(
                    f,
                    "{proxy}: injected record with duplicate seq {seq} at {at}"
                )
            }
            Problem::Injected { seq: None } => {
                write!(f, "{proxy}: injected unchained record at {at}")
            }
            Problem::BadCheckpoint { seq, why } => {
                write!(f, "{proxy}: checkpoint seq {seq} at {at}: {why}")
            }
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Report {
    pub records: u64,
    /// Exact copies of a record (at-least-once delivery), not a problem.
    pub duplicates: u64,
    pub checkpoints: u64,
    pub findings: Vec<Finding>,
}

/// One chained line as read back.
struct Seen {
    position: String,
    canonical: String,
    chain: [u8; 32],
}

/// Checks `lines` (position, line) of a trail, in the order the sink holds
/// them; only proxy `only` when given. Lines without `proxy_id` (anomaly
/// notices) are not chained and are skipped.
pub fn verify<'a>(
    lines: impl IntoIterator<Item = (String, &'a str)>,
    key: Option<&CheckpointKey>,
    only: Option<&str>,
) -> Report {
    let mut report = Report::default();
    let mut proxies: BTreeMap<String, BTreeMap<u64, Seen>> = BTreeMap::new();
    let mut highest: HashMap<String, u64> = HashMap::new();
    let mut checkpoints = Vec::new();
    for (position, line) in lines {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(proxy) = value.get("proxy_id").and_then(|p| p.as_str()) else {
            continue;
        };
        if only.is_some_and(|o| o != proxy) {
            continue;
        }
        if let Some(checkpoint) = value.get("checkpoint") {
            if let Ok(checkpoint) = serde_json::from_value::<Checkpoint>(checkpoint.clone()) {
                checkpoints.push((proxy.to_owned(), position, checkpoint));
            }
            continue;
        }
        let finding = |problem| Finding {
            proxy: proxy.to_owned(),
            position: position.clone(),
            problem,
        };
        let Some((canonical, seq, chain)) = split(line) else {
            report
                .findings
                .push(finding(Problem::Injected { seq: None }));
            continue;
        };
        report.records += 1;
        let top = highest.entry(proxy.to_owned()).or_default();
        let seen = proxies.entry(proxy.to_owned()).or_default();
        if let Some(earlier) = seen.get(&seq) {
            match earlier.canonical == canonical && earlier.chain == chain {
                true => report.duplicates += 1,
                false => report
                    .findings
                    .push(finding(Problem::Injected { seq: Some(seq) })),
            }
            continue;
        }
        if seq < *top {
            report
                .findings
                .push(finding(Problem::Reordered { seq, after: *top }));
        }
        *top = (*top).max(seq);
        seen.insert(
            seq,
            Seen {
                position,
                canonical,
                chain,
            },
        );
    }
    for (proxy, seen) in &proxies {
        let mut previous: Option<(u64, [u8; 32])> = None;
        for (seq, line) in seen {
            let expected_previous = match previous {
                None if *seq == 1 => Some([0u8; 32]),
                None => None,
                Some((p, chain)) if p + 1 == *seq => Some(chain),
                Some((p, _)) => {
                    report.findings.push(Finding {
                        proxy: proxy.clone(),
                        position: line.position.clone(),
                        problem: Problem::Missing {
                            from: p + 1,
                            to: seq - 1,
                        },
                    });
                    None
                }
            };
            if let Some(prev) = expected_previous {
                if next(&prev, line.canonical.as_bytes()) != line.chain {
                    report.findings.push(Finding {
                        proxy: proxy.clone(),
                        position: line.position.clone(),
                        problem: Problem::Altered { seq: *seq },
                    });
                }
            }
            previous = Some((*seq, line.chain));
        }
    }
    for (proxy, position, checkpoint) in checkpoints {
        report.checkpoints += 1;
        let bad = |why: String| Finding {
            proxy: proxy.clone(),
            position: position.clone(),
            problem: Problem::BadCheckpoint {
                seq: checkpoint.seq,
                why,
            },
        };
        if let Some(key) = key {
            if !checkpoint.signed_by(key, &proxy) {
                report.findings.push(bad("signature does not match".into()));
                continue;
            }
        }
        let seen = proxies.get(&proxy);
        match seen.and_then(|s| s.get(&checkpoint.seq)) {
            Some(line) if hex(&line.chain) == checkpoint.chain => {}
            Some(_) => report
                .findings
                .push(bad("chain differs from the record's".into())),
            None => {
                let last = seen
                    .and_then(|s| s.keys().next_back().copied())
                    .unwrap_or(0);
                if checkpoint.seq > last {
                    report.findings.push(Finding {
                        proxy: proxy.clone(),
                        position: position.clone(),
                        problem: Problem::Missing {
                            from: last + 1,
                            to: checkpoint.seq,
                        },
                    });
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::{last_link, ChainSettings, Chains};

    fn key() -> CheckpointKey {
        CheckpointKey {
            id: "k1".into(),
            secret: b"a secret of some length".to_vec(),
        }
    }

    /// Five records of proxy `p` (checkpoint after every two) as stored lines.
    fn trail() -> Vec<String> {
        let settings = ChainSettings {
            key: Some(key()),
            every: 2,
            ..ChainSettings::default()
        };
        let mut chains = Chains::new(HashMap::new(), settings);
        let mut out = Vec::new();
        for n in 1..=5 {
            let line = format!(r#"{{"ts":"t{n}","proxy_id":"p","path":"/{n}"}}"#);
            chains.stamp("p", line.as_bytes(), 0, "now", &mut out);
        }
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn check(lines: &[String]) -> Report {
        verify(
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("line {}", i + 1), l.as_str())),
            Some(&key()),
            None,
        )
    }

    #[test]
    fn stamped_lines_verify_and_split_back() {
        let lines = trail();
        // 5 records and 2 checkpoints.
        assert_eq!(lines.len(), 7);
        let (canonical, seq, _) = split(&lines[0]).unwrap();
        assert_eq!(
            (canonical.as_str(), seq),
            (r#"{"ts":"t1","proxy_id":"p","path":"/1"}"#, 1)
        );
        let report = check(&lines);
        assert_eq!((report.records, report.checkpoints), (5, 2));
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(last_link(lines.join("\n").as_bytes()).unwrap().seq, 5);
    }

    #[test]
    fn deleted_edited_reordered_and_injected_lines_are_found() {
        let mut lines = trail();
        let records: Vec<usize> = (0..lines.len())
            .filter(|&i| !lines[i].contains("checkpoint"))
            .collect();
        // Edit record 2, delete record 4, swap 1 and 3, add an unchained one.
        lines[records[1]] = lines[records[1]].replace("/2", "/x");
        let third = lines[records[2]].clone();
        lines[records[2]] = lines[records[0]].clone();
        lines[records[0]] = third;
        lines.remove(records[3]);
        lines.push(r#"{"ts":"t9","proxy_id":"p","path":"/9"}"#.into());
        lines.push(lines[records[1]].replace("/x", "/y"));
        let problems: Vec<Problem> = check(&lines)
            .findings
            .into_iter()
            .map(|f| f.problem)
            .collect();
        assert!(
            problems.contains(&Problem::Altered { seq: 2 }),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::Missing { from: 4, to: 4 }),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::Reordered { seq: 1, after: 3 }),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::Injected { seq: None }),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::Injected { seq: Some(2) }),
            "{problems:?}"
        );
    }

    #[test]
    fn duplicates_are_counted_and_a_forged_checkpoint_is_found() {
        let mut lines = trail();
        lines.push(lines[0].clone());
        let forged = lines.iter().position(|l| l.contains("checkpoint")).unwrap();
        lines[forged] = lines[forged].replace("\"hmac\":\"", "\"hmac\":\"00");
        let report = check(&lines);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        assert!(matches!(
            report.findings[0].problem,
            Problem::BadCheckpoint { seq: 2, .. }
        ));
        // The end of the trail cut off: the last checkpoint names a seq past it.
        let mut cut = trail();
        cut.truncate(4);
        cut.push(trail()[5].clone());
        let problems: Vec<Problem> = check(&cut)
            .findings
            .into_iter()
            .map(|f| f.problem)
            .collect();
        assert!(
            problems.contains(&Problem::Missing { from: 4, to: 4 }),
            "{problems:?}"
        );
    }
}
