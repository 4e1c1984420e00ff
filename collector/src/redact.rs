//! The collector's uses of the redaction engine (`observatory_engine::redact`,
//! the same one the filter runs):
//!
//! - **re-redaction** of every incoming record before it is stored, as
//!   defence in depth: a proxy without (or with a weaker) `redaction`
//!   configuration must not leak PII into the audit store. What the
//!   collector had to redact is added to the record's `redactions` and
//!   counted separately (`records_redacted`, `redactions_added`);
//! - the `redact` command: JSON lines `{"id","text"}` in,
//!   `{"id","redacted","findings":[{"start","end","type"}]}` out, with byte
//!   offsets into `text`, so accuracy can be measured on any labelled corpus.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use observatory_engine::capture::redact_field;
use observatory_engine::redact::{Content, RedactionConfig, Redactor};
use observatory_proto::audit::AuditRecord;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::lines::{map_json_lines, LinesError};
use crate::telemetry::{Counter, Telemetry};

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read redaction config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("redaction config {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("redaction config: {0}")]
    Compile(#[from] observatory_engine::config::ConfigError),
}

/// Builds the engine from a JSON file holding the filter's `redaction`
/// object (so filter and collector can share one file), or with the
/// defaults (every built-in type, `mask`) without one. `hmacKeyEnv` is read
/// from this process's environment.
pub fn load(path: Option<&Path>) -> Result<Redactor, LoadError> {
    let mut config = match path {
        None => RedactionConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut de = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| LoadError::Invalid {
                path: path.to_owned(),
                message: format!("redaction{}: {}", field_suffix(e.path()), e.inner()),
            })?
        }
    };
    config.resolve_hmac_key_env(|name| std::env::var(name).ok())?;
    Ok(Redactor::new(&config)?)
}

/// `.types.EMAIL.mode` for a nested field, nothing for the document itself.
fn field_suffix(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." {
        String::new()
    } else {
        format!(".{path}")
    }
}

/// What re-redaction did; exported on `/metrics` by [`RedactStats::register`].
#[derive(Debug, Default)]
pub struct RedactStats {
    /// Records the collector's re-redaction had to change.
    pub records_redacted: Counter,
    /// Findings the collector's re-redaction added (beyond the filter's).
    pub redactions_added: Counter,
}

impl RedactStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.records_redacted,
                "records_redacted",
                "Records the collector's re-redaction changed",
            ),
            (
                &self.redactions_added,
                "redactions_added",
                "Findings the collector's re-redaction added beyond the filter's",
            ),
        ]);
    }
}

/// Re-redacts records on ingest.
#[derive(Debug)]
pub struct RecordRedactor {
    redactor: Redactor,
    stats: Arc<RedactStats>,
}

impl RecordRedactor {
    /// Counts what it redacts in `stats`.
    pub fn new(redactor: Redactor, stats: Arc<RedactStats>) -> Self {
        RecordRedactor { redactor, stats }
    }

    /// Redacts the free-text fields of `records` in place (path, query, user
    /// agent, recorded headers and body excerpts; identities, ids and
    /// addresses are the filter's own facts and stay), adds the findings
    /// to each record's `redactions` and counts them.
    pub fn apply(&self, records: &mut [AuditRecord]) {
        let stats = &self.stats;
        for record in records {
            let mut added = BTreeMap::new();
            self.field(&mut record.path, Content::Text, &mut added);
            self.field(&mut record.query, Content::Query, &mut added);
            self.field(
                &mut record.user_agent,
                Content::Header("user-agent"),
                &mut added,
            );
            for (name, value) in &mut record.headers {
                self.field(value, Content::Header(name), &mut added);
            }
            // Excerpts may be cut JSON: the engine falls back to text then.
            self.field(&mut record.request_body, Content::Auto(""), &mut added);
            self.field(&mut record.response_body, Content::Auto(""), &mut added);
            if added.is_empty() {
                continue;
            }
            stats.records_redacted.add(1);
            for (kind, n) in added {
                stats.redactions_added.add(u64::from(n));
                let count = record.redactions.entry(kind).or_default();
                *count = count.saturating_add(n);
            }
        }
    }

    /// Nothing past the scan limit is kept (see [`redact_field`]).
    fn field(&self, value: &mut String, content: Content<'_>, added: &mut BTreeMap<String, u32>) {
        if let Cow::Owned(text) = redact_field(&self.redactor, value, content, added) {
            *value = text;
        }
    }
}

/// One input line of `redact`. `kind` (`json`, `form`, `query`, `header`
/// with `header` naming it, `text`) says how to walk `text`; without it JSON
/// is recognised by its first character and anything else is text. The
/// engine's labelled corpus has this shape and can be fed in as it is.
#[derive(Debug, Deserialize)]
struct Sample {
    id: serde_json::Value,
    text: String,
    kind: Option<Kind>,
    header: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Json,
    Form,
    Query,
    Header,
    Text,
}

#[derive(Serialize)]
struct Output {
    id: serde_json::Value,
    redacted: String,
    findings: Vec<FindingOut>,
    /// Only the first `maxScanBytes` bytes were scanned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

#[derive(Serialize)]
struct FindingOut {
    start: usize,
    end: usize,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Error)]
pub enum RedactRunError {
    #[error("reading input line {line}: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error("input line {line}: expected {{\"id\": …, \"text\": \"…\"}}: {source}")]
    Parse {
        line: u64,
        source: serde_json::Error,
    },
    #[error("input line {line}: `kind` \"header\" needs `header` (the header's name)")]
    HeaderName { line: u64 },
    #[error("writing output: {0}")]
    Write(#[source] std::io::Error),
}

impl LinesError for RedactRunError {
    fn read(line: u64, source: std::io::Error) -> Self {
        RedactRunError::Read { line, source }
    }
    fn parse(line: u64, source: serde_json::Error) -> Self {
        RedactRunError::Parse { line, source }
    }
    fn write(source: std::io::Error) -> Self {
        RedactRunError::Write(source)
    }
}

/// What a `redact` run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub lines: u64,
    pub findings: u64,
    pub skipped_blank_lines: u64,
}

/// Redacts every line of `input` into `output`, streaming. The first line
/// that is not a `{"id","text"}` object stops the run with an error naming
/// it; blank lines are skipped.
pub fn run(
    input: impl BufRead,
    output: impl Write,
    redactor: &Redactor,
) -> Result<RunStats, RedactRunError> {
    let mut stats = RunStats::default();
    stats.skipped_blank_lines = map_json_lines(input, output, |line, sample: Sample| {
        let content = match (sample.kind, sample.header.as_deref()) {
            (Some(Kind::Json), _) => Content::Json,
            (Some(Kind::Form), _) => Content::Form,
            (Some(Kind::Query), _) => Content::Query,
            (Some(Kind::Header), Some(name)) => Content::Header(name),
            (Some(Kind::Header), None) => return Err(RedactRunError::HeaderName { line }),
            (Some(Kind::Text), _) => Content::Text,
            (None, _) => Content::Auto(""),
        };
        let out = redactor.redact(&sample.text, content);
        stats.lines += 1;
        stats.findings += out.findings.len() as u64;
        let findings = out
            .findings
            .iter()
            .map(|f| FindingOut {
                start: f.start,
                end: f.end,
                kind: f.kind.as_str().to_owned(),
            })
            .collect();
        Ok(Some(Output {
            id: sample.id,
            redacted: out.text.into_owned(),
            findings,
            truncated: out.truncated,
        }))
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionConfig::default()).unwrap()
    }

    #[test]
    fn record_text_fields_are_redacted_and_counted_on_top() {
        let stats = Arc::new(RedactStats::default());
        let mut records = vec![
            AuditRecord {
                path: "/users/jane.doe@example.com/cards/4242424242424242".into(),
                user_agent: "curl/8.5.0".into(),
                source_ip: "10.1.2.3".into(),
                ..AuditRecord::default()
            },
            AuditRecord {
                path: "/api/orders/7".into(),
                query: "page=2".into(),
                user_agent: "curl/8.5.0".into(),
                ..AuditRecord::default()
            },
            AuditRecord {
                query: "to=joe%40example.com".into(),
                headers: [("x-api-key".to_owned(), "k-7d1f0c9a8b".to_owned())].into(),
                request_body: r#"{"password": "hunter22", "note": "#.into(),
                response_body: "ssn 123-45-6789".into(),
                ..AuditRecord::default()
            },
        ];
        records[0].redactions.insert("EMAIL".into(), 2);
        RecordRedactor::new(redactor(), stats.clone()).apply(&mut records);
        assert_eq!(
            records[0].path,
            "/users/[REDACTED:EMAIL]/cards/[REDACTED:CREDIT_CARD]"
        );
        assert_eq!(records[0].source_ip, "10.1.2.3");
        let counts: Vec<_> = records[0]
            .redactions
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(counts, [("CREDIT_CARD", 1), ("EMAIL", 3)]);
        assert_eq!(records[1].path, "/api/orders/7");
        assert!(records[1].redactions.is_empty());
        assert_eq!(records[2].query, "to=[REDACTED:EMAIL]");
        assert_eq!(records[2].headers["x-api-key"], "[REDACTED:API_KEY]");
        assert_eq!(
            records[2].request_body,
            r#"{"password": "[REDACTED:PASSWORD]", "note": "#
        );
        assert_eq!(records[2].response_body, "ssn [REDACTED:US_SSN]");
        assert_eq!(records[2].redactions.values().sum::<u32>(), 4);
        assert_eq!(stats.records_redacted.get(), 2);
        assert_eq!(stats.redactions_added.get(), 6);

        // Already redacted records stay as they are.
        let before = records.clone();
        RecordRedactor::new(redactor(), stats.clone()).apply(&mut records);
        assert_eq!(records, before);
        assert_eq!(stats.redactions_added.get(), 6);
    }

    fn run_lines(input: &str) -> Result<Vec<serde_json::Value>, RedactRunError> {
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out, &redactor())?;
        Ok(String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect())
    }

    #[test]
    fn cli_lines_carry_byte_offsets_into_the_text() {
        let input = concat!(
            r#"{"id": 1, "text": "mail ü jane@example.com"}"#,
            "\n\n",
            r#"{"id": "b", "text": "{\"password\": \"hunter22\"}", "kind": "json"}"#,
            "\n",
            r#"{"id": null, "text": "nothing here"}"#,
            "\n",
        );
        let lines = run_lines(input).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["id"], 1);
        assert_eq!(lines[0]["redacted"], "mail ü [REDACTED:EMAIL]");
        assert_eq!(
            lines[0]["findings"],
            serde_json::json!([{"start": 8, "end": 24, "type": "EMAIL"}])
        );
        assert_eq!(lines[1]["id"], "b");
        assert_eq!(lines[1]["findings"][0]["type"], "PASSWORD");
        assert_eq!(lines[2]["findings"], serde_json::json!([]));
        assert_eq!(lines[2]["redacted"], "nothing here");
        assert!(lines[2].get("truncated").is_none());
    }

    #[test]
    fn cli_bad_lines_name_the_line() {
        for (input, expected) in [
            (
                "{\"id\":1,\"text\":\"a\"}\nnot json\n",
                "input line 2: expected",
            ),
            (
                "{\"id\":1}\n",
                "input line 1: expected {\"id\": …, \"text\": \"…\"}: missing field `text`",
            ),
            ("{\"id\":1,\"text\":7}\n", "input line 1: expected"),
            (
                "{\"id\":1,\"text\":\"a\",\"kind\":\"xml\"}\n",
                "input line 1: expected",
            ),
            (
                "{\"id\":1,\"text\":\"a\",\"kind\":\"header\"}\n",
                "input line 1: `kind` \"header\" needs `header`",
            ),
        ] {
            let err = run_lines(input).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{input:?}: {err}");
        }
        let err = run(&b"\xff\n"[..], Vec::new(), &redactor()).unwrap_err();
        assert!(err.to_string().starts_with("reading input line 1"), "{err}");
    }

    #[test]
    fn config_file_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redaction.json");
        std::fs::write(&path, r#"{"types": {"EMAIL": {"mode": "blur"}}}"#).unwrap();
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("redaction.types.EMAIL.mode: unknown variant `blur`"),
            "{err}"
        );
        std::fs::write(&path, r#"{"types": {"E_MAIL": {}}}"#).unwrap();
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("redaction.types.E_MAIL: unknown type"),
            "{err}"
        );
        let err = load(Some(&dir.path().join("missing.json")))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read redaction config"), "{err}");

        std::fs::write(&path, r#"{"types": {"EMAIL": {"enabled": false}}}"#).unwrap();
        let redactor = load(Some(&path)).unwrap();
        assert!(redactor
            .redact("jane@example.com", Content::Text)
            .findings
            .is_empty());
    }
}
