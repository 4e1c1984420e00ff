//! `observatory-collector score`: JSON lines in, one score line out per
//! record, streaming (memory is the scorer's bounded state, not the input).
//!
//! A line that is not a JSON object with an RFC 3339 `ts` stops the run with
//! an error naming the line: an audit trail that does not parse is a finding
//! of its own, not something to skip quietly. Blank lines and the store's
//! `audit_gap` and `anomaly` lines (not requests) are skipped and counted.

use std::io::{BufRead, Write};

use serde::Serialize;
use thiserror::Error;

use super::attribution::{round, Reason};
use super::input::Observation;
use super::state::{Evictions, Scorer};

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
    /// The store's gap and anomaly event lines.
    pub skipped_gap_lines: u64,
    pub skipped_blank_lines: u64,
    pub alerts: u64,
    pub evictions: Evictions,
}

/// One output line.
#[derive(Serialize)]
struct Line<'a> {
    correlation_id: &'a str,
    score: f64,
    warmup: bool,
    reasons: &'a [Reason],
}

/// Scores every record of `input` (JSON lines, time order) into `output`.
pub fn run(
    input: impl BufRead,
    mut output: impl Write,
    scorer: &mut Scorer,
) -> Result<RunStats, ScoreError> {
    let mut stats = RunStats::default();
    for (i, line) in input.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|source| ScoreError::Read {
            line: line_no,
            source,
        })?;
        if line.trim().is_empty() {
            stats.skipped_blank_lines += 1;
            continue;
        }
        let obs: Observation = serde_json::from_str(&line).map_err(|source| ScoreError::Parse {
            line: line_no,
            source,
        })?;
        if obs.audit_gap.is_some() || obs.anomaly.is_some() {
            stats.skipped_gap_lines += 1;
            continue;
        }
        let t = obs.time().ok_or_else(|| ScoreError::Time {
            line: line_no,
            ts: obs.ts.clone(),
        })?;
        let scored = scorer.score(t, &obs);
        stats.records += 1;
        if scored.score >= super::model::ALERT {
            stats.alerts += 1;
        }
        let out = Line {
            correlation_id: &obs.correlation_id,
            score: round(scored.score),
            warmup: scored.warmup,
            reasons: &scored.reasons,
        };
        serde_json::to_writer(&mut output, &out).map_err(|e| ScoreError::Write(e.into()))?;
        output.write_all(b"\n").map_err(ScoreError::Write)?;
    }
    output.flush().map_err(ScoreError::Write)?;
    stats.evictions = scorer.evictions();
    Ok(stats)
}
