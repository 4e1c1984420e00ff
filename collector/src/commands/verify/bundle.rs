//! Evidence bundles: a directory with what `evidence` read of a time range
//! and what it made of it, so that an auditor can check it again offline
//! (`verify --evidence DIR`):
//!
//! | file | what |
//! | --- | --- |
//! | `entries.jsonl` | every entry read, as read (Loki timestamp and labels, or line number), one JSON object a line: what `verify --evidence` checks again |
//! | `records.jsonl` | the chained lines of the range (records, gaps, invalid records), whole, by proxy and seq |
//! | `checkpoints.jsonl` | the checkpoint lines read, by proxy and seq |
//! | `report.json` | the report of the check at export |
//! | `manifest.json` | what was asked (source, range, margins, key id), when it was read, and the SHA-256 and size of every other file |
//!
//! The hashes show a file changed since; the chains and signed checkpoints
//! in `entries.jsonl` show whether the trail itself is genuine, whoever
//! holds the bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::args::Params;
use super::entry::Entry;
use super::error::VerifyError;
use super::line::parse_ts;
use super::memory::Memory;
use super::report::{Finding, FindingKind, Report};
use super::source::Source;
use super::trail::Trail;
use crate::chain::{hex, CheckpointKey};
use observatory_proto::json::format_ts;

pub const FORMAT: &str = "observatory-evidence/1";
pub const MANIFEST: &str = "manifest.json";
pub const ENTRIES: &str = "entries.jsonl";
const RECORDS: &str = "records.jsonl";
const CHECKPOINTS: &str = "checkpoints.jsonl";
const REPORT: &str = "report.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// Where the trail was read (as the report says).
    pub source: String,
    /// Read from Loki (else from a file).
    pub loki: bool,
    pub selector: String,
    pub proxy: Option<String>,
    /// The range (RFC 3339).
    pub from: String,
    pub to: String,
    /// When it was read: "now" when checked again.
    pub read_at: String,
    pub margin_ns: i64,
    pub lookback_ns: i64,
    pub settle_ns: i64,
    pub tail_grace_ns: i64,
    /// The key the checkpoints were checked with (its id only).
    pub key_id: Option<String>,
    /// The verdict at export.
    pub verdict: String,
    pub files: BTreeMap<String, FileSum>,
}

fn sum(bytes: &[u8]) -> FileSum {
    FileSum {
        sha256: hex(&Sha256::digest(bytes)),
        bytes: bytes.len() as u64,
    }
}

fn json_lines<T: Serialize>(items: impl IntoIterator<Item = T>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        // Serialising plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &item);
        out.push(b'\n');
    }
    out
}

/// Writes the bundle of a check to `dir` (new, or empty); returns the
/// SHA-256 of its manifest, to be kept apart from it.
pub fn write(
    dir: &Path,
    params: &Params,
    trail: &Trail,
    report: &Report,
) -> Result<String, VerifyError> {
    let write_error = |path: PathBuf| move |error| VerifyError::Write { path, error };
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(VerifyError::Bundle {
            path: dir.to_owned(),
            why: "not empty: evidence is never overwritten".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(write_error(dir.to_owned()))?;
    let mut records = Vec::new();
    let mut checkpoints = Vec::new();
    for proxy in trail.proxies.values() {
        let mut lines: Vec<_> = proxy.lines.iter().filter(|h| h.in_range).collect();
        lines.sort_by_key(|h| h.line.seq);
        records.extend(lines.iter().map(|h| trail.entries[h.at[0]].line.as_str()));
        let mut held: Vec<_> = proxy.checkpoints.iter().collect();
        held.sort_by_key(|c| c.line.checkpoint.seq);
        checkpoints.extend(held.iter().map(|c| trail.entries[c.at[0]].line.as_str()));
    }
    let text = |lines: Vec<&str>| -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| [l.as_bytes(), b"\n"].concat())
            .collect()
    };
    let report_json = serde_json::to_vec_pretty(report).unwrap_or_default();
    let files: [(&str, Vec<u8>); 4] = [
        (ENTRIES, json_lines(&trail.raw)),
        (RECORDS, text(records)),
        (CHECKPOINTS, text(checkpoints)),
        (REPORT, report_json),
    ];
    let mut sums = BTreeMap::new();
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(write_error(path.clone()))?;
        sums.insert((*name).to_owned(), sum(bytes));
    }
    let (from, to) = params.window.unwrap_or_default();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        source: report.source.clone(),
        loki: params.loki,
        selector: params.selector.clone(),
        proxy: params.proxy.clone(),
        from: format_ts(from),
        to: format_ts(to),
        read_at: report.read_at.clone(),
        margin_ns: params.margin,
        lookback_ns: params.lookback,
        settle_ns: params.settle,
        tail_grace_ns: params.tail_grace,
        key_id: report.key_id.clone(),
        verdict: serde_json::to_value(report.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        files: sums,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let path = dir.join(MANIFEST);
    std::fs::write(&path, &bytes).map_err(write_error(path))?;
    Ok(sum(&bytes).sha256)
}

/// Checks the bundle in `dir` again: its files against the manifest, then
/// its entries as they were read, with the key given.
pub async fn verify(dir: &Path, key: Option<CheckpointKey>) -> Result<Report, VerifyError> {
    let bad = |why: String| VerifyError::Bundle {
        path: dir.to_owned(),
        why,
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|error| VerifyError::Read { path, error })
    };
    let manifest: Manifest =
        serde_json::from_slice(&read(MANIFEST)?).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!("format {:?}, not {FORMAT:?}", manifest.format)));
    }
    let mut changed = Vec::new();
    for (name, expected) in &manifest.files {
        match read(name) {
            Ok(bytes) if sum(&bytes) == *expected => {}
            Ok(_) => changed.push(format!("{name} differs from its SHA-256 in the manifest")),
            Err(_) => changed.push(format!("{name} is missing")),
        }
    }
    let listed = std::fs::read_dir(dir).map_err(|error| VerifyError::Read {
        path: dir.to_owned(),
        error,
    })?;
    for file in listed.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && !manifest.files.contains_key(&name) {
            changed.push(format!("{name} is not in the manifest"));
        }
    }
    let text = String::from_utf8(read(ENTRIES)?).map_err(|e| bad(format!("{ENTRIES}: {e}")))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry: Entry = serde_json::from_str(line)
            .map_err(|e| bad(format!("{ENTRIES} line {}: {e}", i + 1)))?;
        entries.push(entry);
    }
    let time = |what: &str, value: &str| {
        parse_ts(value)
            .ok_or_else(|| bad(format!("manifest {what}: not an RFC 3339 time: {value}")))
    };
    let params = Params {
        window: Some((time("from", &manifest.from)?, time("to", &manifest.to)?)),
        margin: manifest.margin_ns,
        lookback: manifest.lookback_ns,
        settle: manifest.settle_ns,
        tail_grace: manifest.tail_grace_ns,
        proxy: manifest.proxy.clone(),
        selector: manifest.selector.clone(),
        loki: manifest.loki,
        key,
        now: time("read_at", &manifest.read_at)?,
    };
    let mut source = Source::Bundle(Memory::new(entries));
    let describe = format!("evidence {}: {}", dir.display(), manifest.source);
    let mut report = super::check::check(&mut source, &params, describe)
        .await?
        .report;
    for why in changed {
        report
            .findings
            .push(Finding::new(FindingKind::BundleChanged, why));
    }
    report.decide(false);
    Ok(report)
}
