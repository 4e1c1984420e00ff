//! The trail as read back, sorted out: every entry once (pieces of split
//! lines joined), each proxy's distinct chained lines and checkpoints with
//! where they were found, and what is neither; then what is still to be
//! looked up before the chains can be judged: the seqs between two lines
//! that were not read, the line before the first one of the range, the
//! checkpoint after its last one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

use super::entry::Entry;
use super::line::{classify, Chained, CheckpointLine, Kind, Line};
use super::rejoin::Pieces;
use crate::chain::CheckpointKey;

/// How far a checkpoint can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Signed by the key given.
    Signed,
    /// Claims the key given but is not signed by it.
    BadSignature,
    /// Signed with another key (its id).
    UnknownKey(String),
    /// No key given: taken at its word.
    Unchecked,
}

impl Auth {
    /// Whether the chain may be judged against it.
    pub fn anchors(&self) -> bool {
        matches!(self, Auth::Signed | Auth::Unchecked)
    }
}

/// One distinct chained line and where it was found.
#[derive(Debug)]
pub struct Held {
    pub line: Chained,
    /// Entries with exactly this line, the first one first.
    pub at: Vec<usize>,
    /// Whether any of them is in the time range asked about.
    pub in_range: bool,
}

#[derive(Debug)]
pub struct HeldCheckpoint {
    pub line: CheckpointLine,
    pub at: Vec<usize>,
    pub auth: Auth,
}

/// One proxy's lines.
#[derive(Debug, Default)]
pub struct Proxy {
    pub lines: Vec<Held>,
    by_link: HashMap<(u64, [u8; 32]), Vec<usize>>,
    pub checkpoints: Vec<HeldCheckpoint>,
    by_signature: HashMap<(u64, String, String), usize>,
}

impl Proxy {
    /// Seqs of lines, and of checkpoints the chain may be judged against.
    fn seqs(&self) -> (BTreeSet<u64>, BTreeSet<u64>) {
        let lines = self.lines.iter().map(|h| h.line.seq).collect();
        let anchors = self
            .checkpoints
            .iter()
            .filter(|c| c.auth.anchors())
            .map(|c| c.line.checkpoint.seq)
            .collect();
        (lines, anchors)
    }
}

/// [`Trail::holes`] of one proxy; `in_pieces`: seqs whose lines are there
/// in part (not missing: incomplete). A checkpoint's seq counts as missing
/// when its line is not there: it signs that line.
pub fn holes_in(name: &str, proxy: &Proxy, in_pieces: &BTreeSet<u64>) -> Vec<Seqs> {
    let (mut lines, anchors) = proxy.seqs();
    lines.extend(in_pieces);
    let lowest = match (lines.first(), anchors.first()) {
        (Some(&line), Some(&anchor)) if anchor < line => anchor,
        (Some(&line), _) => line,
        (None, Some(&anchor)) => anchor,
        (None, None) => return Vec::new(),
    };
    let highest = lines.last().max(anchors.last()).copied().unwrap_or(lowest);
    let hole = |from, to| Seqs {
        proxy: name.to_owned(),
        from,
        to,
    };
    let mut holes = Vec::new();
    // The next seq a line should have.
    let mut want = lowest;
    for &seq in lines.range(lowest..) {
        if seq > want {
            holes.push(hole(want, seq - 1));
        }
        want = seq + 1;
    }
    if highest >= want {
        holes.push(hole(want, highest));
    }
    holes
}

/// A line split in pieces of which some never came.
pub struct Incomplete {
    /// Where (its line: the last piece, when it came).
    pub entry: Entry,
    /// Which pieces came.
    pub what: String,
    /// The line's proxy and seq, when its last piece tells them.
    pub of: Option<(String, u64)>,
}

/// A seq range of one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seqs {
    pub proxy: String,
    pub from: u64,
    pub to: u64,
}

pub struct Trail {
    /// Entries as read, each once, in the order read.
    pub raw: Vec<Entry>,
    /// Lines: entries with the pieces of split lines joined.
    pub entries: Vec<Entry>,
    /// 128-bit keyed hashes of the entries read, to read each once.
    seen: HashSet<(u64, u64)>,
    hashers: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    pieces: Pieces,
    /// [from, to) in unix ns: entries outside are read only for context.
    window: Option<(i64, i64)>,
    only: Option<String>,
    key: Option<CheckpointKey>,
    pub proxies: BTreeMap<String, Proxy>,
    /// Entries that are no line of the collector's, and why.
    pub injected: Vec<(usize, &'static str)>,
    /// Lines the scorer derived (anomaly and service health events).
    pub derived: u64,
    pub duplicates: u64,
    /// Entries read, pieces counted one by one.
    pub read: u64,
}

impl Trail {
    pub fn new(
        window: Option<(i64, i64)>,
        only: Option<String>,
        key: Option<CheckpointKey>,
    ) -> Trail {
        Trail {
            raw: Vec::new(),
            entries: Vec::new(),
            seen: HashSet::new(),
            hashers: Default::default(),
            pieces: Pieces::default(),
            window,
            only,
            key,
            proxies: BTreeMap::new(),
            injected: Vec::new(),
            derived: 0,
            duplicates: 0,
            read: 0,
        }
    }

    pub fn key(&self) -> Option<&CheckpointKey> {
        self.key.as_ref()
    }

    /// Whether `entry` is in the time range asked about (by its Loki
    /// timestamp, else its own `ts`; one with neither is).
    pub fn in_range(&self, entry: &Entry, line: &Line) -> bool {
        match (self.window, entry.loki_ts.or_else(|| line.ts())) {
            (Some((from, to)), Some(ts)) => (from..to).contains(&ts),
            _ => true,
        }
    }

    pub fn add_all(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for entry in entries {
            self.add(entry);
        }
    }

    /// Adds one entry read (again: ignored).
    pub fn add(&mut self, entry: Entry) {
        let hash = (
            self.hashers.0.hash_one(&entry),
            self.hashers.1.hash_one(&entry),
        );
        if !self.seen.insert(hash) {
            return;
        }
        self.raw.push(entry.clone());
        self.read += 1;
        let Some(entry) = self.pieces.add(entry) else {
            return;
        };
        let line = classify(&entry.line);
        if let Some(only) = &self.only {
            if line.proxy() != Some(only.as_str()) {
                return;
            }
        }
        let in_range = self.in_range(&entry, &line);
        let at = self.entries.len();
        self.entries.push(entry);
        match line {
            Line::Injected(why) => self.injected.push((at, why)),
            Line::Derived { .. } => self.derived += 1,
            Line::Checkpoint(line) => self.add_checkpoint(line, at),
            Line::Chained(line) => self.add_chained(line, at, in_range),
        }
    }

    fn add_checkpoint(&mut self, line: CheckpointLine, at: usize) {
        let auth = match &self.key {
            None => Auth::Unchecked,
            Some(key) if key.id != line.checkpoint.key_id => {
                Auth::UnknownKey(line.checkpoint.key_id.clone())
            }
            Some(key) if line.checkpoint.signed_by(key, &line.proxy) => Auth::Signed,
            Some(_) => Auth::BadSignature,
        };
        let proxy = self.proxies.entry(line.proxy.clone()).or_default();
        let signature = (
            line.checkpoint.seq,
            line.checkpoint.chain.clone(),
            line.checkpoint.hmac.clone(),
        );
        match proxy.by_signature.get(&signature) {
            Some(&held) => proxy.checkpoints[held].at.push(at),
            None => {
                proxy
                    .by_signature
                    .insert(signature, proxy.checkpoints.len());
                proxy.checkpoints.push(HeldCheckpoint {
                    line,
                    at: vec![at],
                    auth,
                });
            }
        }
    }

    fn add_chained(&mut self, line: Chained, at: usize, in_range: bool) {
        let proxy = self.proxies.entry(line.proxy.clone()).or_default();
        let same = proxy
            .by_link
            .get(&(line.seq, line.chain))
            .into_iter()
            .flatten()
            .copied()
            .find(|&held| proxy.lines[held].line.canonical == line.canonical);
        match same {
            Some(held) => {
                self.duplicates += 1;
                let held = &mut proxy.lines[held];
                held.at.push(at);
                held.in_range |= in_range;
            }
            None => {
                proxy
                    .by_link
                    .entry((line.seq, line.chain))
                    .or_default()
                    .push(proxy.lines.len());
                proxy.lines.push(Held {
                    line,
                    at: vec![at],
                    in_range,
                });
            }
        }
    }

    /// Pieces of split lines that never all came.
    pub fn incomplete_splits(&self) -> Vec<Incomplete> {
        self.pieces
            .incomplete()
            .map(|(entry, what)| {
                let seq = crate::chain::split(&entry.line).map(|(_, seq, _)| seq);
                let of = entry.labels.get("proxy_id").cloned().zip(seq);
                Incomplete { entry, what, of }
            })
            .collect()
    }

    /// Seqs of `proxy` whose line is there only in part.
    pub fn in_pieces(&self, proxy: &str) -> BTreeSet<u64> {
        self.incomplete_splits()
            .into_iter()
            .filter_map(|i| i.of)
            .filter(|(p, _)| p == proxy)
            .map(|(_, seq)| seq)
            .collect()
    }

    /// Seqs that are not there although a line with a lower seq and a line
    /// (or checkpoint) with a higher one are: missing, unless they are
    /// somewhere else.
    pub fn holes(&self) -> Vec<Seqs> {
        self.proxies
            .iter()
            .flat_map(|(name, proxy)| holes_in(name, proxy, &self.in_pieces(name)))
            .collect()
    }

    /// The seq before the lowest line of every proxy whose lowest line is
    /// in the range and is not its chain's first: without that line's chain
    /// the first line's content cannot be checked.
    pub fn heads(&self) -> Vec<Seqs> {
        let mut heads = Vec::new();
        for (proxy, held) in &self.proxies {
            let (lines, anchors) = held.seqs();
            let Some(&lowest) = lines.first() else {
                continue;
            };
            let in_range = held
                .lines
                .iter()
                .any(|h| h.line.seq == lowest && h.in_range);
            if lowest > 1 && in_range && !anchors.contains(&(lowest - 1)) {
                heads.push(Seqs {
                    proxy: proxy.clone(),
                    from: lowest - 1,
                    to: lowest - 1,
                });
            }
        }
        heads
    }

    /// Every proxy with lines in the range after its last checkpoint, and
    /// the highest such seq: the checkpoint covering it comes later.
    pub fn tails(&self) -> Vec<Seqs> {
        let mut tails = Vec::new();
        for (proxy, held) in &self.proxies {
            let (_, anchors) = held.seqs();
            let top = held
                .lines
                .iter()
                .filter(|h| h.in_range)
                .map(|h| h.line.seq)
                .max();
            if let Some(top) = top {
                if anchors.last().is_none_or(|&a| a < top) {
                    tails.push(Seqs {
                        proxy: proxy.clone(),
                        from: top,
                        to: top,
                    });
                }
            }
        }
        tails
    }

    /// Counts of the distinct chained lines, by kind.
    pub fn kinds(&self) -> BTreeMap<Kind, u64> {
        let mut kinds = BTreeMap::new();
        for held in self.proxies.values().flat_map(|p| &p.lines) {
            *kinds.entry(held.line.kind.clone()).or_default() += 1;
        }
        kinds
    }
}
