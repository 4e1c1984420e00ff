//! What `verify` tells: findings (evidence of tampering), notices (what
//! could not be proven yet and why, not tampering), what could not be
//! checked at all, a summary per proxy, and the verdict with its exit
//! status — as text for people or JSON for machines.

use std::fmt;

use serde::Serialize;

use super::entry::Entry;

/// Evidence that the trail was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Records of a chain that are not there.
    Missing,
    /// A line whose content or chain was changed.
    Altered,
    /// A chained line that is not the genuine one for its seq.
    Forged,
    /// Several lines claim one seq and nothing tells the genuine one.
    Conflict,
    /// A line the collector never writes.
    Injected,
    /// A checkpoint not signed by the key.
    ForgedCheckpoint,
    /// Out of its place: moved in the file, or in Loki to another time.
    Reordered,
    /// A line after the last checkpoint although one should cover it.
    Uncovered,
    /// Pieces of a split line missing or repeated.
    IncompleteSplit,
    /// A file of an evidence bundle differs from its manifest.
    BundleChanged,
}

/// Something that is not proven, for a reason that is not tampering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Lines after the last checkpoint, recent enough that none is due yet.
    UnverifiableTail,
    /// Missing lines Loki may not show yet (stored recently).
    NotYetVisible,
    /// The chain read starts after seq 1 and its predecessor was not found.
    ChainStart,
    /// Two signed chains for one proxy (another collector took it over).
    Fork,
    /// Checkpoints signed with a key other than the one given.
    UnknownKey,
    /// Chained lines of a kind this version does not know.
    UnknownKind,
    /// No key given: checkpoints are used, but their signatures not checked.
    NoKey,
    /// A proxy without any checkpoint: nothing of it can be proven.
    NoCheckpoints,
}

/// Where a line is: its Loki timestamp or its line number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_string")]
    pub loki_ts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl From<&Entry> for Place {
    fn from(entry: &Entry) -> Place {
        Place {
            loki_ts: entry.loki_ts,
            line: entry.line_no,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.loki_ts) {
            (Some(line), _) => write!(f, "line {line}"),
            (None, Some(ts)) => write!(f, "Loki ts {ts}"),
            (None, None) => f.write_str("?"),
        }
    }
}

fn as_string<S: serde::Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&ts.to_string()),
        None => s.serialize_none(),
    }
}

/// One finding or notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item<K> {
    pub kind: K,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The seq concerned (the first of a range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The last seq of a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_to: Option<u64>,
    /// Where the line is (for a range: the line before it).
    #[serde(flatten)]
    pub place: Option<Place>,
    /// Other lines concerned (the other versions of a seq, the line after a range).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Place>,
    pub detail: String,
    /// A LogQL query that shows the lines concerned (at `loki_ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logql: Option<String>,
}

pub type Finding = Item<FindingKind>;
pub type Notice = Item<NoticeKind>;

impl<K> Item<K> {
    pub fn new(kind: K, detail: impl Into<String>) -> Item<K> {
        Item {
            kind,
            proxy: None,
            seq: None,
            seq_to: None,
            place: None,
            also: Vec::new(),
            detail: detail.into(),
            logql: None,
        }
    }

    pub fn proxy(mut self, proxy: &str) -> Self {
        self.proxy = Some(proxy.to_owned());
        self
    }

    pub fn seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    pub fn seqs(mut self, from: u64, to: u64) -> Self {
        self.seq = Some(from);
        self.seq_to = (to != from).then_some(to);
        self
    }

    pub fn at(mut self, entry: Option<&Entry>) -> Self {
        self.place = entry.map(Place::from);
        self
    }

    pub fn also(mut self, entry: &Entry) -> Self {
        self.also.push(Place::from(entry));
        self
    }

    pub fn logql(mut self, logql: Option<String>) -> Self {
        self.logql = logql;
        self
    }
}

impl<K: Serialize> fmt::Display for Item<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = serde_json::to_value(&self.kind)
            .ok()
            .and_then(|v| v.as_str().map(|k| k.replace('_', " ")))
            .unwrap_or_default();
        f.write_str(&kind)?;
        if let Some(proxy) = &self.proxy {
            write!(f, ": {proxy}")?;
        }
        match (self.seq, self.seq_to) {
            (Some(from), Some(to)) => write!(f, " seq {from}..={to}")?,
            (Some(seq), None) => write!(f, " seq {seq}")?,
            _ => {}
        }
        if let Some(place) = &self.place {
            write!(f, " at {place}")?;
        }
        for place in &self.also {
            write!(f, ", {place}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What was checked of one proxy's chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProxySummary {
    pub proxy: String,
    /// Distinct chained lines read (records, gaps, invalid records).
    pub lines: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Lines in the time range asked about.
    pub in_range: u64,
    /// Of those, proven: their content hashes along the chain up to a
    /// signed checkpoint.
    pub proven: u64,
    /// Of those, after the last checkpoint.
    pub tail: u64,
    pub checkpoints_verified: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries read (Loki entries, or lines of a file).
    pub entries: u64,
    /// Loki queries made.
    pub queries: u64,
    pub records: u64,
    pub gaps: u64,
    pub invalid: u64,
    /// Events the scorer derived (anomaly, service health): not chained.
    pub derived: u64,
    /// Exact copies of a line (at-least-once delivery), not a problem.
    pub duplicates: u64,
    pub checkpoints: u64,
    pub checkpoints_verified: u64,
    pub injected: u64,
    pub in_range: u64,
    pub proven: u64,
    pub tail: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing found; what is not proven is listed as notices.
    Clean,
    /// Evidence of tampering.
    Findings,
    /// Some of the trail could not be checked.
    Unchecked,
}

impl Verdict {
    /// 0 clean, 1 findings, 2 could not check.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Findings => 1,
            Verdict::Unchecked => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where the trail was read and which part.
    pub source: String,
    /// When it was read (RFC 3339): "now" for what is recent.
    pub read_at: String,
    pub key_id: Option<String>,
    pub summary: Summary,
    pub proxies: Vec<ProxySummary>,
    pub findings: Vec<Finding>,
    pub notices: Vec<Notice>,
    /// What could not be checked, and why.
    pub unchecked: Vec<String>,
    pub verdict: Verdict,
    pub exit: u8,
}

impl Report {
    /// Sets the verdict from what is in the report: lines that may not be
    /// visible yet leave it open ([`Verdict::Unchecked`]); with `strict`, so
    /// do lines of the range that are not proven.
    pub fn decide(&mut self, strict: bool) {
        let unproven = self.summary.in_range > self.summary.proven;
        let pending = self
            .notices
            .iter()
            .any(|n| n.kind == NoticeKind::NotYetVisible);
        self.verdict = if !self.findings.is_empty() {
            Verdict::Findings
        } else if !self.unchecked.is_empty() || pending || (strict && unproven) {
            Verdict::Unchecked
        } else {
            Verdict::Clean
        };
        self.exit = self.verdict.exit_code();
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (read {})", self.source, self.read_at)?;
        for p in &self.proxies {
            writeln!(
                f,
                "{}: {} lines, seq {}..{}, {} checkpoints verified; in range {}, proven {}, tail {}",
                p.proxy,
                p.lines,
                p.first_seq,
                p.last_seq,
                p.checkpoints_verified,
                p.in_range,
                p.proven,
                p.tail
            )?;
        }
        for finding in &self.findings {
            writeln!(f, "FINDING {finding}")?;
        }
        for notice in &self.notices {
            writeln!(f, "notice {notice}")?;
        }
        for why in &self.unchecked {
            writeln!(f, "UNCHECKED {why}")?;
        }
        let s = &self.summary;
        writeln!(
            f,
            "{} records, {} gaps, {} invalid, {} duplicates, {} injected, {} checkpoints ({} verified); \
             in range {}, proven {}, tail {}; {} findings, {} notices: {} (exit {})",
            s.records,
            s.gaps,
            s.invalid,
            s.duplicates,
            s.injected,
            s.checkpoints,
            s.checkpoints_verified,
            s.in_range,
            s.proven,
            s.tail,
            self.findings.len(),
            self.notices.len(),
            match self.verdict {
                Verdict::Clean => "clean",
                Verdict::Findings => "TAMPERED",
                Verdict::Unchecked => "NOT FULLY CHECKED",
            },
            self.exit
        )
    }
}
