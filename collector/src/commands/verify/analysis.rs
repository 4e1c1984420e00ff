//! Judging each proxy's chain, in seq order (the order the collector
//! stamped, whatever order the store gives back).
//!
//! A line *links* to a line of the seq before when SHA-256(that line's
//! chain ‖ its own canonical line) is its chain (seq 1: from 32 zero bytes;
//! a checkpoint's chain serves as a line's too). A signed checkpoint
//! proves, walking the links back from the line with its chain, every line
//! down to the chain's start or the previous checkpoint: second preimages
//! of SHA-256 being out of reach, those lines are the ones the collector
//! wrote. Then:
//!
//! - a link that does not hold blames the line whose content no longer
//!   hashes to its chain (or, when no line before it is sound, the line
//!   before, whose chain is then what changed);
//! - of several lines with one seq, the one on the proven chain is
//!   genuine and the others forged; with none proven, the one the next seq
//!   links to; else they conflict;
//! - seqs missing between lines read are missing, unless the checkpoint
//!   that covers them was written so recently that Loki may not show them
//!   yet (`settle`);
//! - lines after the last checkpoint are the unverifiable tail while a
//!   checkpoint may not be due yet; older than `tail_grace`, one should
//!   cover them (the collector writes it within seconds): uncovered;
//! - a line out of its place is reordered: in a file, out of seq order
//!   among its proxy's lines (those not on the longest run in order); in
//!   Loki, stored at another time than its own `ts`.

use std::collections::{BTreeMap, HashMap};

use super::entry::Entry;
use super::line::Kind;
use super::logql::LogQl;
use super::report::{Finding, FindingKind, Notice, NoticeKind, ProxySummary};
use super::trail::{holes_in, Auth, Held, Incomplete, Proxy, Seqs, Trail};
use crate::chain::{next, unhex};

/// What the judgement depends on besides the trail.
#[derive(Debug, Clone)]
pub struct Judge {
    /// When the trail was read (unix ns).
    pub now: i64,
    /// How long Loki may not show what it stored (ns; 0 for files).
    pub settle: i64,
    /// How old a line after the last checkpoint may be (ns).
    pub tail_grace: i64,
    /// For the LogQL of findings (Loki only).
    pub logql: Option<LogQl>,
}

/// What the judgement found.
#[derive(Debug, Default)]
pub struct Judgement {
    pub findings: Vec<Finding>,
    pub notices: Vec<Notice>,
    pub proxies: Vec<ProxySummary>,
}

pub fn judge(trail: &Trail, judge: &Judge) -> Judgement {
    let mut out = Judgement::default();
    for (name, proxy) in &trail.proxies {
        let summary = Chain::new(name, proxy, trail, judge).judge(&mut out);
        out.proxies.push(summary);
    }
    for (at, why) in &trail.injected {
        let entry = &trail.entries[*at];
        let logql = judge.logql.as_ref().map(|q| q.starting_like(&entry.line));
        out.findings.push(
            Finding::new(
                FindingKind::Injected,
                format!("{why}: {}", excerpt(&entry.line)),
            )
            .at(Some(entry))
            .logql(logql),
        );
    }
    for Incomplete { entry, what, of } in trail.incomplete_splits() {
        let mut finding = Finding::new(
            FindingKind::IncompleteSplit,
            format!("a line split in pieces, of which only {what} are there"),
        )
        .at(Some(&entry));
        finding = match &of {
            Some((proxy, seq)) => finding
                .proxy(proxy)
                .seq(*seq)
                .logql(judge.logql.as_ref().map(|q| q.seq(proxy, *seq))),
            None => finding.logql(judge.logql.as_ref().map(|q| q.selector.clone())),
        };
        out.findings.push(finding);
    }
    for (kind, count) in trail.kinds() {
        if let Kind::Other(name) = kind {
            out.notices.push(Notice::new(
                NoticeKind::UnknownKind,
                format!("{count} chained lines of kind '{name}', unknown to this version: their chains are checked, their content is not read"),
            ));
        }
    }
    out
}

/// A line's first 120 characters, for a report.
fn excerpt(line: &str) -> String {
    let head: String = line.chars().take(120).collect();
    match head.len() < line.len() {
        true => format!("{head}…"),
        false => head,
    }
}

/// How a line joins the line before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Seq 1, from the zero chain.
    Genesis,
    Line(usize),
    /// A checkpoint's chain.
    Checkpoint,
    /// Nothing was read at the seq before.
    Unknown,
    /// Something was, and none of it links.
    Broken,
}

/// One proxy's lines under judgement.
struct Chain<'a> {
    name: &'a str,
    proxy: &'a Proxy,
    trail: &'a Trail,
    judge: &'a Judge,
    by_seq: BTreeMap<u64, Vec<usize>>,
    prev: Vec<Prev>,
    /// Proven: on a chain of links from a signed checkpoint.
    proven: Vec<bool>,
    /// Its chain is on such a path (its content may not be).
    reached: Vec<bool>,
    blamed: Vec<bool>,
    /// Two signed chains: a fork.
    forked: bool,
}

impl<'a> Chain<'a> {
    fn new(name: &'a str, proxy: &'a Proxy, trail: &'a Trail, judge: &'a Judge) -> Self {
        let mut by_seq: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, held) in proxy.lines.iter().enumerate() {
            by_seq.entry(held.line.seq).or_default().push(i);
        }
        let mut anchors: HashMap<u64, Vec<[u8; 32]>> = HashMap::new();
        for c in proxy.checkpoints.iter().filter(|c| c.auth.anchors()) {
            if let Some(chain) = unhex(&c.line.checkpoint.chain) {
                anchors
                    .entry(c.line.checkpoint.seq)
                    .or_default()
                    .push(chain);
            }
        }
        let prev = proxy
            .lines
            .iter()
            .map(|held| {
                let line = &held.line;
                let links = |chain: &[u8; 32]| next(chain, line.canonical.as_bytes()) == line.chain;
                if line.seq == 1 {
                    return match links(&[0; 32]) {
                        true => Prev::Genesis,
                        false => Prev::Broken,
                    };
                }
                let before = by_seq.get(&(line.seq - 1));
                if let Some(j) = before
                    .into_iter()
                    .flatten()
                    .find(|&&j| links(&proxy.lines[j].line.chain))
                {
                    return Prev::Line(*j);
                }
                let checkpoints = anchors.get(&(line.seq - 1));
                if checkpoints.into_iter().flatten().any(links) {
                    return Prev::Checkpoint;
                }
                match before.is_none() && checkpoints.is_none() {
                    true => Prev::Unknown,
                    false => Prev::Broken,
                }
            })
            .collect();
        let n = proxy.lines.len();
        Chain {
            name,
            proxy,
            trail,
            judge,
            by_seq,
            prev,
            proven: vec![false; n],
            reached: vec![false; n],
            blamed: vec![false; n],
            forked: false,
        }
    }

    fn line(&self, i: usize) -> &Held {
        &self.proxy.lines[i]
    }

    fn entry(&self, i: usize) -> Option<&'a Entry> {
        self.proxy.lines[i]
            .at
            .first()
            .map(|&at| &self.trail.entries[at])
    }

    fn seq_logql(&self, seq: u64) -> Option<String> {
        self.judge.logql.as_ref().map(|q| q.seq(self.name, seq))
    }

    fn blame(&mut self, i: usize, kind: FindingKind, detail: String, out: &mut Judgement) {
        if std::mem::replace(&mut self.blamed[i], true) {
            return;
        }
        let seq = self.line(i).line.seq;
        let mut finding = Finding::new(kind, detail)
            .proxy(self.name)
            .seq(seq)
            .at(self.entry(i))
            .logql(self.seq_logql(seq));
        for &at in self.line(i).at.iter().skip(1) {
            finding = finding.also(&self.trail.entries[at]);
        }
        out.findings.push(finding);
    }

    /// A line whose link does not hold: it is blamed when some line before
    /// it is sound (its own link holds, or cannot be checked); else the
    /// lines before are, in their turn.
    fn blame_broken(&mut self, i: usize, out: &mut Judgement) {
        let seq = self.line(i).line.seq;
        let before = self
            .by_seq
            .get(&(seq.wrapping_sub(1)))
            .cloned()
            .unwrap_or_default();
        let sound = before.is_empty() || before.iter().any(|&j| self.prev[j] != Prev::Broken);
        if seq == 1 || sound {
            let detail = match seq {
                1 => "its content does not hash to its chain from the chain's start".to_owned(),
                _ => format!(
                    "its content does not hash to its chain after seq {}",
                    seq - 1
                ),
            };
            self.blame(i, FindingKind::Altered, detail, out);
        }
    }

    /// Walks the links back from line `i`, which a signed checkpoint names.
    fn walk(&mut self, mut i: usize, out: &mut Judgement) {
        loop {
            if std::mem::replace(&mut self.reached[i], true) {
                return;
            }
            match self.prev[i] {
                Prev::Genesis | Prev::Checkpoint => {
                    self.proven[i] = true;
                    return;
                }
                Prev::Line(j) => {
                    self.proven[i] = true;
                    i = j;
                }
                Prev::Unknown => return,
                Prev::Broken => return self.blame_broken(i, out),
            }
        }
    }

    fn judge(mut self, out: &mut Judgement) -> ProxySummary {
        let mut anchors: Vec<usize> = (0..self.proxy.checkpoints.len())
            .filter(|&c| self.proxy.checkpoints[c].auth.anchors())
            .collect();
        anchors.sort_by_key(|&c| std::cmp::Reverse(self.proxy.checkpoints[c].line.checkpoint.seq));
        for &c in &anchors {
            let checkpoint = &self.proxy.checkpoints[c].line.checkpoint;
            let seq = checkpoint.seq;
            let chain = unhex(&checkpoint.chain);
            let at_seq = self.by_seq.get(&seq).cloned().unwrap_or_default();
            match at_seq
                .iter()
                .find(|&&i| Some(self.line(i).line.chain) == chain)
            {
                Some(&i) => self.walk(i, out),
                None => {
                    for i in at_seq {
                        let detail =
                            format!("its chain is not the one the checkpoint of seq {seq} signs");
                        self.blame(i, FindingKind::Altered, detail, out);
                    }
                }
            }
        }
        self.versions(out);
        for i in 0..self.proxy.lines.len() {
            if self.prev[i] == Prev::Broken && !self.reached[i] {
                self.blame_broken(i, out);
            }
        }
        self.holes(out);
        self.reordered(out);
        self.checkpoints(out);
        self.tail_and_summary(out)
    }

    /// Several lines with one seq.
    fn versions(&mut self, out: &mut Judgement) {
        let mut forked = self.forked;
        let several: Vec<(u64, Vec<usize>)> = self
            .by_seq
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        for (seq, versions) in several {
            let genuine: Vec<usize> = versions
                .iter()
                .copied()
                .filter(|&i| self.reached[i])
                .collect();
            match genuine.len() {
                0 => {
                    // The version the next seq links to, if only one.
                    let next = self.by_seq.get(&(seq + 1)).cloned().unwrap_or_default();
                    let followed: Vec<usize> = versions
                        .iter()
                        .copied()
                        .filter(|&i| next.iter().any(|&j| self.prev[j] == Prev::Line(i)))
                        .collect();
                    if let [genuine] = followed[..] {
                        for i in versions.into_iter().filter(|&i| i != genuine) {
                            let detail = format!(
                                "another line with seq {seq} is the one seq {} continues from",
                                seq + 1
                            );
                            self.blame(i, FindingKind::Forged, detail, out);
                        }
                        continue;
                    }
                    let open: Vec<usize> =
                        versions.into_iter().filter(|&i| !self.blamed[i]).collect();
                    if open.len() > 1 {
                        self.conflict(seq, &open, out);
                    }
                }
                1 => {
                    for i in versions.into_iter().filter(|&i| i != genuine[0]) {
                        let detail = format!("another line with seq {seq} is on the signed chain");
                        self.blame(i, FindingKind::Forged, detail, out);
                    }
                }
                _ => {
                    if !std::mem::replace(&mut forked, true) {
                        let mut notice = Notice::new(
                            NoticeKind::Fork,
                            format!("{} signed chains from seq {seq} on: two collectors stamped this proxy", genuine.len()),
                        )
                        .proxy(self.name)
                        .seq(seq)
                        .at(self.entry(genuine[0]));
                        for &i in &genuine[1..] {
                            if let Some(entry) = self.entry(i) {
                                notice = notice.also(entry);
                            }
                        }
                        out.notices.push(notice);
                    }
                }
            }
        }
        self.forked = forked;
    }

    fn conflict(&mut self, seq: u64, versions: &[usize], out: &mut Judgement) {
        let mut finding = Finding::new(
            FindingKind::Conflict,
            format!(
                "{} different lines claim seq {seq} and no checkpoint or later line tells the genuine one: all but one are forged",
                versions.len()
            ),
        )
        .proxy(self.name)
        .seq(seq)
        .at(self.entry(versions[0]))
        .logql(self.seq_logql(seq));
        for &i in &versions[1..] {
            if let Some(entry) = self.entry(i) {
                finding = finding.also(entry);
            }
        }
        for &i in versions {
            self.blamed[i] = true;
        }
        out.findings.push(finding);
    }

    /// Seqs missing between lines read, or before a checkpoint.
    fn holes(&self, out: &mut Judgement) {
        let anchors: Vec<(u64, Option<i64>)> = self
            .proxy
            .checkpoints
            .iter()
            .filter(|c| c.auth.anchors())
            .map(|c| (c.line.checkpoint.seq, c.line.ts))
            .collect();
        for hole in holes_in(self.name, self.proxy, &self.trail.in_pieces(self.name)) {
            let before = self
                .by_seq
                .range(..hole.from)
                .next_back()
                .map(|(_, v)| v[0]);
            let after = self.by_seq.range(hole.to + 1..).next().map(|(_, v)| v[0]);
            // When what proves the seqs existed was written.
            let covering = anchors
                .iter()
                .filter(|(seq, _)| *seq >= hole.to)
                .min_by_key(|(seq, _)| *seq)
                .map(|(_, ts)| *ts)
                .unwrap_or_else(|| after.and_then(|i| self.line(i).line.ts));
            let recent = self.judge.settle > 0
                && covering.is_some_and(|ts| ts >= self.judge.now - self.judge.settle);
            match recent {
                true => out.notices.push(self.range_item(
                    Notice::new(
                        NoticeKind::NotYetVisible,
                        "not found; stored so recently that Loki may not show them yet: verify again later",
                    ),
                    &hole,
                    before,
                    after,
                )),
                false => out.findings.push(self.range_item(
                    Finding::new(
                        FindingKind::Missing,
                        "not in the trail, although lines before and after them are",
                    ),
                    &hole,
                    before,
                    after,
                )),
            }
        }
    }

    /// `item` about the seqs of `hole`, between the lines `before` and `after`.
    fn range_item<K>(
        &self,
        item: super::report::Item<K>,
        hole: &Seqs,
        before: Option<usize>,
        after: Option<usize>,
    ) -> super::report::Item<K> {
        let mut item = item
            .proxy(self.name)
            .seqs(hole.from, hole.to)
            .at(before.and_then(|i| self.entry(i)))
            .logql(self.judge.logql.as_ref().map(|q| q.proxy(self.name)));
        if let Some(entry) = after.and_then(|i| self.entry(i)) {
            item = item.also(entry);
        }
        item
    }

    /// Lines out of their place.
    fn reordered(&mut self, out: &mut Judgement) {
        // In Loki: stored at another time than their own.
        for i in 0..self.proxy.lines.len() {
            if self.blamed[i] {
                continue;
            }
            let ts = self.line(i).line.ts;
            let moved = self.line(i).at.iter().find_map(|&at| {
                let entry = &self.trail.entries[at];
                match (entry.loki_ts, ts) {
                    (Some(stored), Some(ts)) if stored != ts => Some((entry, stored, ts)),
                    _ => None,
                }
            });
            if let Some((entry, stored, ts)) = moved {
                let seq = self.line(i).line.seq;
                out.findings.push(
                    Finding::new(
                        FindingKind::Reordered,
                        format!("stored in Loki at {stored}, but its ts is {ts}"),
                    )
                    .proxy(self.name)
                    .seq(seq)
                    .at(Some(entry))
                    .logql(self.seq_logql(seq)),
                );
                self.blamed[i] = true;
            }
        }
        // In a file: the longest run of lines in seq order stays, the rest
        // moved. Two chains of one proxy have no one order.
        if self.forked {
            return;
        }
        let mut placed: Vec<(u64, u64, usize)> = (0..self.proxy.lines.len())
            .filter(|&i| !self.blamed[i])
            .filter_map(|i| Some((self.line(i).line.seq, self.entry(i)?.line_no?, i)))
            .collect();
        placed.sort_unstable();
        let positions: Vec<u64> = placed.iter().map(|(_, line, _)| *line).collect();
        let kept = longest_increasing(&positions);
        for (k, (_, line, i)) in placed.into_iter().enumerate() {
            if !kept[k] {
                let detail = format!("line {line} is out of seq order among this proxy's lines");
                self.blame(i, FindingKind::Reordered, detail, out);
            }
        }
    }

    fn checkpoints(&self, out: &mut Judgement) {
        let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
        for c in &self.proxy.checkpoints {
            let seq = c.line.checkpoint.seq;
            let entry = c.at.first().map(|&at| &self.trail.entries[at]);
            match &c.auth {
                Auth::BadSignature => out.findings.push(
                    Finding::new(
                        FindingKind::ForgedCheckpoint,
                        format!("not signed by key '{}'", c.line.checkpoint.key_id),
                    )
                    .proxy(self.name)
                    .seq(seq)
                    .at(entry)
                    .logql(
                        self.judge
                            .logql
                            .as_ref()
                            .map(|q| q.checkpoint(self.name, seq)),
                    ),
                ),
                Auth::UnknownKey(id) => *unknown.entry(id).or_default() += 1,
                Auth::Signed | Auth::Unchecked => {}
            }
            let moved = c.at.iter().map(|&at| &self.trail.entries[at]).find(
                |e| matches!((e.loki_ts, c.line.ts), (Some(stored), Some(ts)) if stored != ts),
            );
            if let Some(entry) = moved {
                out.findings.push(
                    Finding::new(
                        FindingKind::Reordered,
                        "a checkpoint stored in Loki at another time than its own ts",
                    )
                    .proxy(self.name)
                    .seq(seq)
                    .at(Some(entry)),
                );
            }
        }
        for (id, count) in unknown {
            out.notices.push(
                Notice::new(
                    NoticeKind::UnknownKey,
                    format!(
                        "{count} checkpoints signed with key '{id}', which was not given: not used"
                    ),
                )
                .proxy(self.name),
            );
        }
    }

    fn tail_and_summary(&mut self, out: &mut Judgement) -> ProxySummary {
        // Lines a checkpoint claims to cover, though it proves nothing:
        // that checkpoint is the finding.
        let claimed = self
            .proxy
            .checkpoints
            .iter()
            .map(|c| c.line.checkpoint.seq)
            .max();
        let expect_checkpoints = self.trail.key().is_some() || !self.proxy.checkpoints.is_empty();
        let mut summary = ProxySummary {
            proxy: self.name.to_owned(),
            lines: self.proxy.lines.len() as u64,
            first_seq: self.by_seq.keys().next().copied().unwrap_or(0),
            last_seq: self.by_seq.keys().next_back().copied().unwrap_or(0),
            checkpoints_verified: self
                .proxy
                .checkpoints
                .iter()
                .filter(|c| c.auth == Auth::Signed)
                .count() as u64,
            ..ProxySummary::default()
        };
        let mut tail: Vec<u64> = Vec::new();
        for i in 0..self.proxy.lines.len() {
            let held = self.line(i);
            if !held.in_range {
                continue;
            }
            summary.in_range += 1;
            if self.proven[i] && !self.blamed[i] {
                summary.proven += 1;
                continue;
            }
            let seq = held.line.seq;
            if self.blamed[i] || claimed.is_some_and(|top| seq <= top) {
                continue;
            }
            let old = held
                .line
                .ts
                .is_some_and(|ts| ts < self.judge.now - self.judge.tail_grace);
            if expect_checkpoints && old {
                let detail =
                    "after the last checkpoint, yet older than a checkpoint takes to come: \
                              forged, or its checkpoint was removed"
                        .to_owned();
                self.blame(i, FindingKind::Uncovered, detail, out);
            } else {
                tail.push(seq);
            }
        }
        summary.tail = tail.len() as u64;
        if let (Some(first), Some(last)) = (tail.iter().min(), tail.iter().max()) {
            let (kind, detail) = match expect_checkpoints {
                true => (
                    NoticeKind::UnverifiableTail,
                    format!(
                        "{} lines after the last checkpoint, recent enough that theirs may not be written yet: verify again later",
                        tail.len()
                    ),
                ),
                false => (
                    NoticeKind::NoCheckpoints,
                    format!("{} lines and no checkpoint: nothing of this proxy can be proven", tail.len()),
                ),
            };
            out.notices.push(
                Notice::new(kind, detail)
                    .proxy(self.name)
                    .seqs(*first, *last)
                    .logql(self.judge.logql.as_ref().map(|q| q.proxy(self.name))),
            );
        }
        if let Some(lowest) = self.by_seq.keys().next().copied() {
            let head = self.by_seq[&lowest][0];
            if lowest > 1 && self.prev[head] == Prev::Unknown && self.line(head).in_range {
                out.notices.push(
                    Notice::new(
                        NoticeKind::ChainStart,
                        format!("the line of seq {} was not found: the content of seq {lowest} is not proven", lowest - 1),
                    )
                    .proxy(self.name)
                    .seq(lowest)
                    .at(self.entry(head))
                    .logql(self.seq_logql(lowest - 1)),
                );
            }
        }
        summary
    }
}

/// Which elements of `values` make up a longest strictly increasing run
/// (patience sorting; the earliest such run on ties).
fn longest_increasing(values: &[u64]) -> Vec<bool> {
    // tails[k]: index of the smallest last value of a run of length k+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut parent: Vec<Option<usize>> = vec![None; values.len()];
    for (i, &v) in values.iter().enumerate() {
        let k = tails.partition_point(|&t| values[t] < v);
        parent[i] = k.checked_sub(1).map(|p| tails[p]);
        match tails.get_mut(k) {
            Some(t) => *t = i,
            None => tails.push(i),
        }
    }
    let mut kept = vec![false; values.len()];
    let mut at = tails.last().copied();
    while let Some(i) = at {
        kept[i] = true;
        at = parent[i];
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_run_in_order_stays() {
        let kept = |v: &[u64]| -> Vec<u64> {
            let k = longest_increasing(v);
            v.iter()
                .zip(k)
                .filter(|(_, k)| !k)
                .map(|(v, _)| *v)
                .collect()
        };
        // A line moved later, a line moved earlier, nothing moved.
        assert_eq!(kept(&[1, 2, 6, 3, 4, 5]), vec![6]);
        assert_eq!(kept(&[3, 1, 2, 4]), vec![3]);
        assert_eq!(kept(&[1, 2, 3]), Vec::<u64>::new());
    }
}
