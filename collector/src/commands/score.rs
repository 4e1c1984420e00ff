//! `observatory-collector score`: JSON lines in, one score line out per
//! record, streaming (memory is the scorer's bounded state, not the input).
//!
//! A line that is not a JSON object with an RFC 3339 `ts` stops the run with
//! an error naming the line: an audit trail that does not parse is a finding
//! of its own, not something to skip quietly. Blank lines and the store's
//! `audit_gap`, `invalid`, `anomaly` and `service_health` lines (not
//! requests, or not ones that can be scored) are skipped and counted.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use thiserror::Error;

use super::lines::{map_lines, open_io, parse, LinesError, OpenError};
use crate::score::attribution::{round, Reason};
use crate::score::model::ALERT;
use crate::score::state::{Evictions, Scorer};
use crate::score::{MeshMode, Observation, ScoreConfig};

#[derive(Debug, Error)]
pub enum ScoreError {
    #[error("reading input line {line}: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error("input line {line}: not an audit record: {source}")]
    Parse {
        line: u64,
        source: serde_json::Error,
    },
    #[error("input line {line}: `ts` {ts:?} is not an RFC 3339 time")]
    Time { line: u64, ts: String },
    #[error("writing output: {0}")]
    Write(#[source] std::io::Error),
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub records: u64,
    /// The store's gap, invalid record and event lines.
    pub skipped_gap_lines: u64,
    pub skipped_blank_lines: u64,
    pub alerts: u64,
    pub evictions: Evictions,
}

/// One output line; a record of the warm-up has no score.
#[derive(Serialize)]
struct Line {
    correlation_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    warmup: bool,
    reasons: Vec<Reason>,
}

impl LinesError for ScoreError {
    fn read(line: u64, source: std::io::Error) -> Self {
        ScoreError::Read { line, source }
    }
    fn parse(line: u64, source: serde_json::Error) -> Self {
        ScoreError::Parse { line, source }
    }
    fn write(source: std::io::Error) -> Self {
        ScoreError::Write(source)
    }
}

/// Scores every record of `input` (JSON lines, time order) into `output`.
pub fn run(
    input: impl BufRead,
    output: impl Write,
    scorer: &mut Scorer,
) -> Result<RunStats, ScoreError> {
    let mut stats = RunStats::default();
    stats.skipped_blank_lines = map_lines(input, output, |line, text| {
        let obs: Observation<'_> = parse(line, text)?;
        if obs.is_event() {
            stats.skipped_gap_lines += 1;
            return Ok(None);
        }
        let t = obs.time().ok_or_else(|| ScoreError::Time {
            line,
            ts: obs.ts.to_string(),
        })?;
        let scored = scorer.score(t, &obs);
        stats.records += 1;
        if scored.score >= ALERT {
            stats.alerts += 1;
        }
        Ok(Some(Line {
            correlation_id: obs.correlation_id.into_owned(),
            score: (!scored.warmup).then(|| round(scored.score)),
            warmup: scored.warmup,
            reasons: scored.reasons,
        }))
    })?;
    stats.evictions = scorer.evictions();
    Ok(stats)
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Canonical audit records, one JSON object per line; `-` is stdin
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// Where the `{"correlation_id","score","warmup","reasons"}` lines go; `-` is stdout
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub output: PathBuf,
    /// Record time after the first record during which records are only learnt (no score, `"warmup":true`)
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warmup_minutes: u32,
    /// The mesh's mTLS mode: under `strict` every plaintext request is an anomaly by itself
    #[arg(long, value_name = "MODE", value_enum, default_value_t = MeshMode::Permissive)]
    pub mesh_mtls: MeshMode,
}

impl ScoreArgs {
    /// Scores `--input` into `--output`.
    pub fn run(&self) -> Result<RunStats, ScoreRunError> {
        let (input, output) = open_io(&self.input, &self.output)?;
        let config = ScoreConfig {
            warmup_secs: f64::from(self.warmup_minutes) * 60.0,
            mesh: self.mesh_mtls,
            ..Default::default()
        };
        Ok(run(input, output, &mut Scorer::new(config))?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreRunError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Score(#[from] ScoreError),
}
