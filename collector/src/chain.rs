//! Tamper evidence (NIST AU-9). Per proxy, every stored record and gap line
//! carries `seq` (1, 2, … per `proxy_id`) and `chain` = SHA-256(previous
//! chain ‖ canonical line), lowercase hex, as its last two fields; the first
//! previous chain is 32 zero bytes. The canonical line is the stored line
//! without those two fields. Every `checkpoint_every` records a signed
//! checkpoint is stored as its own line:
//! `{"ts","proxy_id","checkpoint":{"seq","chain","key_id","hmac"}}`, with
//! `hmac` = HMAC-SHA256(key, "<proxy_id>\n<seq>\n<chain>").
//!
//! [`Chains`] stamps lines in WAL order (the WAL writer is the one place
//! that sees every proxy's records in their final order); [`verify`]
//! checks a copy of the trail read back from a sink.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The suffix every chained line ends with, up to the numbers.
const SEQ_FIELD: &str = ",\"seq\":";
const CHAIN_FIELD: &str = ",\"chain\":\"";

/// The secret that signs checkpoints. Never logged (no `Debug`).
#[derive(Clone)]
pub struct CheckpointKey {
    pub id: String,
    pub secret: Vec<u8>,
}

/// The last link of one proxy's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Link {
    pub seq: u64,
    #[serde(with = "hex_bytes")]
    pub chain: [u8; 32],
}

/// How checkpoints are made: signed with `key` (none without one) every
/// `every` records of a proxy.
#[derive(Clone)]
pub struct ChainSettings {
    pub key: Option<CheckpointKey>,
    pub every: u64,
}

/// Records of a proxy between two checkpoints, by default.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            key: None,
            every: DEFAULT_CHECKPOINT_EVERY,
        }
    }
}

/// Every proxy's last link, and when the next checkpoint is due.
pub struct Chains {
    links: HashMap<String, Link>,
    since_checkpoint: HashMap<String, u64>,
    settings: ChainSettings,
    /// State before the first change since [`Chains::commit`], per proxy.
    undo: HashMap<String, (Option<Link>, u64)>,
}

impl Chains {
    /// Continues from `links` (recovered at start).
    pub fn new(links: HashMap<String, Link>, settings: ChainSettings) -> Self {
        Chains {
            links,
            since_checkpoint: HashMap::new(),
            settings,
            undo: HashMap::new(),
        }
    }

    pub fn links(&self) -> &HashMap<String, Link> {
        &self.links
    }

    /// The stamped lines are stored: forget how to undo them.
    pub fn commit(&mut self) {
        self.undo.clear();
    }

    /// The stamped lines were not stored: back to the last commit, so the
    /// chains continue from what is stored.
    pub fn rollback(&mut self) {
        for (proxy, (link, due)) in self.undo.drain() {
            match link {
                Some(link) => self.links.insert(proxy.clone(), link),
                None => self.links.remove(&proxy),
            };
            self.since_checkpoint.insert(proxy, due);
        }
    }

    /// Appends `line` (one JSON object, no newline) to `out` with the next
    /// `seq` and `chain` of `proxy`, and a newline; then a checkpoint line
    /// when one is due (`ts` is its timestamp).
    pub fn stamp(&mut self, proxy: &str, line: &[u8], ts: &str, out: &mut Vec<u8>) {
        if !self.undo.contains_key(proxy) {
            let before = (
                self.links.get(proxy).copied(),
                self.since_checkpoint.get(proxy).copied().unwrap_or(0),
            );
            self.undo.insert(proxy.to_owned(), before);
        }
        // Looked up before inserting: a known proxy costs no allocation.
        let link = match self.links.get_mut(proxy) {
            Some(link) => {
                link.seq += 1;
                link.chain = next(&link.chain, line);
                *link
            }
            None => {
                let link = Link {
                    seq: 1,
                    chain: next(&Link::default().chain, line),
                };
                self.links.insert(proxy.to_owned(), link);
                link
            }
        };
        match line.strip_suffix(b"}") {
            Some(open) => out.extend_from_slice(open),
            None => out.extend_from_slice(line),
        }
        out.extend_from_slice(SEQ_FIELD.as_bytes());
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_fmt(out, format_args!("{}", link.seq));
        out.extend_from_slice(CHAIN_FIELD.as_bytes());
        push_hex(&link.chain, out);
        out.extend_from_slice(b"\"}\n");
        let due = match self.since_checkpoint.get_mut(proxy) {
            Some(due) => {
                *due += 1;
                *due
            }
            None => {
                self.since_checkpoint.insert(proxy.to_owned(), 1);
                1
            }
        };
        if due >= self.settings.every.max(1) {
            if let Some(key) = &self.settings.key {
                if let Some(due) = self.since_checkpoint.get_mut(proxy) {
                    *due = 0;
                }
                let checkpoint = Checkpoint::sign(key, proxy, link);
                let line = CheckpointLine {
                    ts,
                    proxy_id: proxy,
                    checkpoint,
                };
                if serde_json::to_writer(&mut *out, &line).is_ok() {
                    out.push(b'\n');
                }
            }
        }
    }
}

/// SHA-256(previous ‖ line).
pub fn next(previous: &[u8; 32], line: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(previous);
    hash.update(line);
    hash.finalize().into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub chain: String,
    pub key_id: String,
    pub hmac: String,
}

impl Checkpoint {
    fn sign(key: &CheckpointKey, proxy: &str, link: Link) -> Checkpoint {
        let chain = hex(&link.chain);
        Checkpoint {
            seq: link.seq,
            hmac: hex(&mac(&key.secret, proxy, link.seq, &chain)),
            chain,
            key_id: key.id.clone(),
        }
    }
}

#[derive(Serialize)]
struct CheckpointLine<'a> {
    ts: &'a str,
    proxy_id: &'a str,
    checkpoint: Checkpoint,
}

fn mac(secret: &[u8], proxy: &str, seq: u64, chain: &str) -> Vec<u8> {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(format!("{proxy}\n{seq}\n{chain}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex of `bytes`, appended to `out`.
fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        super::unhex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// A stored line split into its canonical part and its link: `None` when
/// the line carries no `seq`/`chain` at its end.
pub fn split(line: &str) -> Option<(String, u64, [u8; 32])> {
    let at = line.rfind(SEQ_FIELD)?;
    let rest = &line[at + SEQ_FIELD.len()..];
    let (seq, rest) = rest.split_once(CHAIN_FIELD)?;
    let chain = unhex(rest.strip_suffix("\"}")?)?;
    let seq = seq.parse().ok()?;
    Some((format!("{}}}", &line[..at]), seq, chain))
}

/// The link at the end of the last chained line in `lines` (JSON lines).
pub fn last_link(lines: &[u8]) -> Option<Link> {
    let text = std::str::from_utf8(lines).ok()?;
    text.lines()
        .rev()
        .find_map(split)
        .map(|(_, seq, chain)| Link { seq, chain })
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
            let expected = hex(&mac(&key.secret, &proxy, checkpoint.seq, &checkpoint.chain));
            if key.id != checkpoint.key_id || expected != checkpoint.hmac {
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
        };
        let mut chains = Chains::new(HashMap::new(), settings);
        let mut out = Vec::new();
        for n in 1..=5 {
            let line = format!(r#"{{"ts":"t{n}","proxy_id":"p","path":"/{n}"}}"#);
            chains.stamp("p", line.as_bytes(), "now", &mut out);
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
    fn rollback_continues_from_the_last_commit() {
        let mut chains = Chains::new(HashMap::new(), ChainSettings::default());
        let mut out = Vec::new();
        chains.stamp("p", b"{\"a\":1}", "t", &mut out);
        chains.commit();
        let committed = chains.links()["p"];
        chains.stamp("p", b"{\"a\":2}", "t", &mut out);
        chains.stamp("q", b"{\"a\":3}", "t", &mut out);
        chains.rollback();
        assert_eq!(chains.links()["p"], committed);
        assert!(!chains.links().contains_key("q"));
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
