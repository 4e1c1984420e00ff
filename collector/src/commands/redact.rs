//! `observatory-collector redact`: JSON lines `{"id","text"}` in,
//! `{"id","redacted","findings":[{"start","end","type"}]}` out, with byte
//! offsets into `text`, so accuracy can be measured on any labelled corpus.
//! The engine is the one re-redaction uses ([`crate::redact::load`]).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use observatory_redact::{Content, Redactor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::lines::{map_json_lines, open_io, LinesError, OpenError};
use crate::redact::{load, LoadError};

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
    /// Only the first `maxScanBytes` bytes were scanned, or the search
    /// passed over candidates it had no budget to search again.
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

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// JSON lines {"id": …, "text": "…"} (optionally "kind": json|form|query|header|text and "header": NAME); `-` is stdin
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// Where the {"id","redacted","findings":[{"start","end","type"}]} lines go; `-` is stdout
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub output: PathBuf,
    /// JSON file holding the `redaction` object of the filter configuration [default: every built-in type, mask]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl RedactArgs {
    /// Redacts `--input` into `--output`.
    pub fn run(&self) -> Result<RunStats, RedactCliError> {
        let redactor = load(self.config.as_deref())?;
        let (input, output) = open_io(&self.input, &self.output)?;
        Ok(run(input, output, &redactor)?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedactCliError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error(transparent)]
    Redact(#[from] RedactRunError),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use observatory_redact::RedactionConfig;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionConfig::default()).unwrap()
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
}
