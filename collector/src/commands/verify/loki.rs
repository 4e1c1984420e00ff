//! Reading the trail back from Loki (`GET /loki/api/v1/query_range`),
//! every entry of a range exactly once, as Loki 3 answers:
//!
//! - Oldest first (`direction=forward`), at most [`PAGE`] entries a query
//!   (`max_entries_limit_per_query`), in ranges under `max_query_length`.
//! - A full page is complete only before its last timestamp: Loki cuts at
//!   the limit in the middle of entries with one timestamp. The next query
//!   starts *at* that timestamp; when a whole page has one timestamp, that
//!   nanosecond is read in parts that each hold less than a page, split by
//!   the digits a line's seq ends with (`…7,"chain":"`: the last digit,
//!   then the last two, …) and the lines with no seq — together every line
//!   of the nanosecond.
//! - Structured metadata comes as labels of the result stream (without the
//!   `categorize-labels` flag), or as a third element of a value (with it).
//! - 429 and 5xx answers and connection errors are retried with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::entry::Entry;
use super::error::VerifyError;
use super::logql::{seq_text, LogQl};

/// Entries a query asks for: Loki's `max_entries_limit_per_query`.
pub const PAGE: usize = 5000;
const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;
/// The longest range one query covers: under Loki's `max_query_length`.
const MAX_RANGE: i64 = 720 * HOUR;
/// Entries of one seq a look-up asks for (the line, its copies, the
/// checkpoint of that seq).
const LOOKUP_LIMIT: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 5;

pub struct Loki {
    http: reqwest::Client,
    query_url: Url,
    tenant: Option<String>,
    logql: LogQl,
    proxy: Option<String>,
    /// Queries made so far.
    pub queries: u64,
    /// What could not be read whole, and why.
    pub unchecked: Vec<String>,
}

/// Which lines of one nanosecond a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    All,
    /// Lines whose seq ends in these digits.
    Suffix(String),
    /// Lines whose seq is exactly these digits.
    Exact(String),
    /// Lines with no seq.
    Unchained,
}

impl Part {
    /// Its line filters.
    fn filters(&self) -> String {
        let digits = |suffix: &str, keep: bool| -> String {
            (0..10)
                .map(|d| {
                    let op = if keep { "|=" } else { "!=" };
                    format!(" {op} `{d}{suffix},\"chain\":\"`")
                })
                .collect()
        };
        match self {
            Part::All => String::new(),
            Part::Suffix(s) => format!(" |= `{s},\"chain\":\"`"),
            Part::Exact(s) => format!(" |= `{s},\"chain\":\"`{}", digits(s, false)),
            Part::Unchained => digits("", false),
        }
    }

    /// Parts that together hold every line of this one; `None` when it
    /// cannot be split further.
    fn split(&self) -> Option<Vec<Part>> {
        let with_digit = |suffix: &str, last: Part| -> Vec<Part> {
            (0..10)
                .map(|d| Part::Suffix(format!("{d}{suffix}")))
                .chain([last])
                .collect()
        };
        match self {
            Part::All => Some(with_digit("", Part::Unchained)),
            // A u64 has at most 20 digits.
            Part::Suffix(s) if s.len() < 20 => Some(with_digit(s, Part::Exact(s.clone()))),
            _ => None,
        }
    }
}

/// One range still to read, under one part of its first nanosecond.
struct Slice {
    start: i64,
    end: i64,
    part: Part,
}

#[derive(Deserialize)]
struct Answer {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    values: Vec<Vec<Value>>,
}

impl Loki {
    pub fn new(
        url: &Url,
        tenant: Option<String>,
        logql: LogQl,
        proxy: Option<String>,
    ) -> Result<Loki, VerifyError> {
        let mut query_url = url.clone();
        let base = query_url.path().trim_end_matches('/').to_owned();
        query_url.set_path(&format!("{base}/loki/api/v1/query_range"));
        // Err only means a provider is installed already, which reqwest then uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| VerifyError::Loki(e.to_string()))?;
        Ok(Loki {
            http,
            query_url,
            tenant,
            logql,
            proxy,
            queries: 0,
            unchecked: Vec::new(),
        })
    }

    pub fn logql(&self) -> &LogQl {
        &self.logql
    }

    fn selection(&self) -> String {
        match &self.proxy {
            Some(proxy) => self.logql.proxy(proxy),
            None => self.logql.selector.clone(),
        }
    }

    /// Every entry in [start, end).
    pub async fn read(&mut self, start: i64, end: i64) -> Result<Vec<Entry>, VerifyError> {
        let query = self.selection();
        self.read_until(&query, start, end, |_| false).await
    }

    /// Every entry of `query` in [start, end), oldest first, up to the end
    /// of the page where `stop` says enough.
    pub async fn read_until(
        &mut self,
        query: &str,
        start: i64,
        end: i64,
        mut stop: impl FnMut(&Entry) -> bool,
    ) -> Result<Vec<Entry>, VerifyError> {
        let mut all = Vec::new();
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        let mut at = start;
        while at < end {
            ranges.push((at, end.min(at.saturating_add(MAX_RANGE))));
            at = at.saturating_add(MAX_RANGE);
        }
        let mut slices: Vec<Slice> = ranges
            .into_iter()
            .rev()
            .map(|(start, end)| Slice {
                start,
                end,
                part: Part::All,
            })
            .collect();
        while let Some(slice) = slices.pop() {
            let logql = format!("{query}{}", slice.part.filters());
            let page = self.page(&logql, slice.start, slice.end, PAGE).await?;
            let mut enough = false;
            if page.len() < PAGE {
                enough |= page.iter().any(&mut stop);
                all.extend(page);
            } else {
                let last = page
                    .iter()
                    .filter_map(|e| e.loki_ts)
                    .max()
                    .unwrap_or(slice.start);
                if last > slice.start {
                    // Complete before `last`; the rest from `last` on.
                    let (done, _): (Vec<Entry>, Vec<Entry>) =
                        page.into_iter().partition(|e| e.loki_ts < Some(last));
                    enough |= done.iter().any(&mut stop);
                    all.extend(done);
                    slices.push(Slice {
                        start: last,
                        ..slice
                    });
                } else {
                    // A page of one nanosecond: after it, then it in parts.
                    if slice.start + 1 < slice.end {
                        slices.push(Slice {
                            start: slice.start + 1,
                            end: slice.end,
                            part: slice.part.clone(),
                        });
                    }
                    match slice.part.split() {
                        Some(parts) => slices.extend(parts.into_iter().map(|part| Slice {
                            start: slice.start,
                            end: slice.start + 1,
                            part,
                        })),
                        None => {
                            self.unchecked.push(format!(
                                "Loki ts {}: more than {PAGE} entries of one kind at one timestamp; only {PAGE} read",
                                slice.start
                            ));
                            all.extend(page);
                        }
                    }
                }
            }
            if enough {
                break;
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The lines of `proxy` with seq `seq` in `ranges`; with the other
    /// pieces of a split line found.
    pub async fn find_seq(
        &mut self,
        proxy: &str,
        seq: u64,
        ranges: &[(i64, i64)],
    ) -> Result<Vec<Entry>, VerifyError> {
        let query = format!("{} |= `{}`", self.logql.proxy(proxy), seq_text(seq));
        let mut found = Vec::new();
        for &(start, end) in ranges {
            let mut at = start;
            while at < end {
                let until = end.min(at.saturating_add(MAX_RANGE));
                found.extend(self.page(&query, at, until, LOOKUP_LIMIT).await?);
                at = until;
            }
        }
        let pieced: Vec<i64> = found
            .iter()
            .filter(|e| e.labels.contains_key("chunk"))
            .filter_map(|e| e.loki_ts)
            .collect();
        let whole = self.logql.proxy(proxy);
        for ts in pieced {
            found.extend(self.read_until(&whole, ts, ts + 1, |_| false).await?);
        }
        Ok(found)
    }

    /// One query: its entries (oldest first per stream).
    async fn page(
        &mut self,
        logql: &str,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<Entry>, VerifyError> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut()
            .append_pair("query", logql)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("limit", &limit.to_string())
            .append_pair("direction", "forward");
        let mut attempt = 0;
        let body = loop {
            attempt += 1;
            self.queries += 1;
            let mut request = self.http.get(url.clone());
            if let Some(tenant) = &self.tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            let retry = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| VerifyError::Loki(e.to_string()))?;
                    if status.is_success() {
                        break body;
                    }
                    let message =
                        format!("{status}: {}", String::from_utf8_lossy(&body).trim_end());
                    if status.as_u16() != 429 && !status.is_server_error() {
                        return Err(VerifyError::Loki(message));
                    }
                    message
                }
                Err(e) => e.to_string(),
            };
            if attempt >= ATTEMPTS {
                return Err(VerifyError::Loki(format!(
                    "{retry} (after {attempt} attempts)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        };
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| VerifyError::Loki(format!("unreadable answer: {e}")))?;
        let mut entries = Vec::new();
        for stream in answer.data.result {
            for value in stream.values {
                entries.push(entry(&stream.stream, value)?);
            }
        }
        Ok(entries)
    }
}

/// One value of a result stream: `[ts, line]`, or `[ts, line, {…}]` with
/// the entry's structured metadata (`categorize-labels`).
fn entry(labels: &BTreeMap<String, String>, value: Vec<Value>) -> Result<Entry, VerifyError> {
    let bad =
        || VerifyError::Loki("unreadable answer: a value is not [\"<ns>\", \"<line>\", …]".into());
    let mut value = value.into_iter();
    let ts = value
        .next()
        .and_then(|ts| ts.as_str().and_then(|t| t.parse::<i64>().ok()))
        .ok_or_else(bad)?;
    let line = match value.next() {
        Some(Value::String(line)) => line,
        _ => return Err(bad()),
    };
    let mut labels = labels.clone();
    if let Some(Value::Object(categorized)) = value.next() {
        if let Some(Value::Object(metadata)) = categorized.get("structuredMetadata") {
            for (name, value) in metadata {
                if let Some(value) = value.as_str() {
                    labels.insert(name.clone(), value.to_owned());
                }
            }
        }
    }
    Ok(Entry {
        loki_ts: Some(ts),
        line_no: None,
        labels,
        line,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parts_of_a_nanosecond_cover_every_line() {
        // Each line is in some part of each split, whatever its seq.
        let lines = [
            r#"{"proxy_id":"p","seq":7,"chain":"x"}"#,
            r#"{"proxy_id":"p","seq":1234567,"chain":"x"}"#,
            r#"{"ts":"t","anomaly":{}}"#,
            "not json",
        ];
        let holds = |part: &Part, line: &str| {
            let filters = part.filters();
            filters.split(" |= ").skip(1).all(|f| {
                let text = f.split(" != ").next().unwrap().trim_matches('`');
                line.contains(text)
            }) && filters.split(" != ").skip(1).all(|f| {
                let text = f.split(" |= ").next().unwrap().trim_matches('`');
                !line.contains(text)
            })
        };
        for line in lines {
            let mut part = Part::All;
            // Down to a part that cannot be split: one holds the line at each level.
            while let Some(parts) = part.split() {
                let holding: Vec<&Part> = parts.iter().filter(|p| holds(p, line)).collect();
                assert_eq!(holding.len(), 1, "{line}: {parts:?}");
                part = holding[0].clone();
            }
            assert!(
                matches!(part, Part::Exact(_) | Part::Unchained),
                "{line}: {part:?}"
            );
        }
    }
}
