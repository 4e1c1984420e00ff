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
//! that sees every proxy's records in their final order); the `verify`
//! command ([`crate::commands::verify`]) checks a copy of the trail read
//! back from a sink.

use std::collections::HashMap;
use std::time::Duration;

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
/// `every` lines of a proxy, and at the latest `within` after a line.
#[derive(Clone)]
pub struct ChainSettings {
    pub key: Option<CheckpointKey>,
    pub every: u64,
    pub within: Duration,
}

/// Records of a proxy between two checkpoints, by default.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;
/// Longest a line waits for a checkpoint, by default.
pub const DEFAULT_CHECKPOINT_WITHIN_SECS: u64 = 10;

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            key: None,
            every: DEFAULT_CHECKPOINT_EVERY,
            within: Duration::from_secs(DEFAULT_CHECKPOINT_WITHIN_SECS),
        }
    }
}

impl ChainSettings {
    /// How often to look for due checkpoints ([`Chains::seal_due`]): a
    /// quarter of `within`, at most a second; `None` without a key.
    pub fn tick(&self) -> Option<Duration> {
        self.key.as_ref().map(|_| {
            (self.within / 4)
                .min(Duration::from_secs(1))
                .max(Duration::from_millis(10))
        })
    }
}

/// A proxy's chain state that [`Chains::rollback`] restores.
type Undo = (Option<Link>, u64, Option<i64>);

/// Every proxy's last link, and when the next checkpoint is due.
pub struct Chains {
    links: HashMap<String, Link>,
    since_checkpoint: HashMap<String, u64>,
    /// Proxies whose last line no checkpoint covers yet, and since when
    /// (unix ns of the oldest such line); kept only with a key.
    unsealed: HashMap<String, i64>,
    settings: ChainSettings,
    /// State before the first change since [`Chains::commit`], per proxy.
    undo: HashMap<String, Undo>,
}

impl Chains {
    /// Continues from `links` (recovered at start).
    pub fn new(links: HashMap<String, Link>, settings: ChainSettings) -> Self {
        Chains {
            links,
            since_checkpoint: HashMap::new(),
            unsealed: HashMap::new(),
            settings,
            undo: HashMap::new(),
        }
    }

    /// `proxies` (recovered at start) have lines no checkpoint covers:
    /// they get one `within` after `at`.
    pub fn unsealed_since(&mut self, proxies: impl IntoIterator<Item = String>, at: i64) {
        if self.settings.key.is_none() {
            return;
        }
        for proxy in proxies {
            if self.links.contains_key(&proxy) {
                self.unsealed.entry(proxy).or_insert(at);
            }
        }
    }

    /// Proxies whose last line no checkpoint covers yet.
    pub fn unsealed(&self) -> impl Iterator<Item = &String> {
        self.unsealed.keys()
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
        for (proxy, (link, due, unsealed)) in self.undo.drain() {
            match link {
                Some(link) => self.links.insert(proxy.clone(), link),
                None => self.links.remove(&proxy),
            };
            match unsealed {
                Some(at) => self.unsealed.insert(proxy.clone(), at),
                None => self.unsealed.remove(&proxy),
            };
            self.since_checkpoint.insert(proxy, due);
        }
    }

    /// Remembers `proxy`'s state for [`Chains::rollback`], once per commit.
    fn keep_undo(&mut self, proxy: &str) {
        if !self.undo.contains_key(proxy) {
            let before = (
                self.links.get(proxy).copied(),
                self.since_checkpoint.get(proxy).copied().unwrap_or(0),
                self.unsealed.get(proxy).copied(),
            );
            self.undo.insert(proxy.to_owned(), before);
        }
    }

    /// Appends `line` (one JSON object, no newline) to `out` with the next
    /// `seq` and `chain` of `proxy`, and a newline; then a checkpoint line
    /// when one is due. `at` is the time of writing (unix ns), `ts` the same
    /// as RFC 3339: a checkpoint's timestamp.
    pub fn stamp(&mut self, proxy: &str, line: &[u8], at: i64, ts: &str, out: &mut Vec<u8>) {
        self.keep_undo(proxy);
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
        if self.settings.key.is_none() {
            return;
        }
        if due >= self.settings.every.max(1) {
            self.seal(proxy, link, ts, out);
        } else if !self.unsealed.contains_key(proxy) {
            self.unsealed.insert(proxy.to_owned(), at);
        }
    }

    /// Whether some proxy's oldest uncovered line was written `within` or
    /// longer before `at`.
    pub fn any_due(&self, at: i64) -> bool {
        self.unsealed.values().any(|since| self.is_due(*since, at))
    }

    fn is_due(&self, since: i64, at: i64) -> bool {
        let within = i64::try_from(self.settings.within.as_nanos()).unwrap_or(i64::MAX);
        at.saturating_sub(since) >= within
    }

    /// Appends a checkpoint line for every proxy whose oldest uncovered
    /// line was written `within` or longer before `at` (`ts` the same as
    /// RFC 3339); whether it appended any.
    pub fn seal_due(&mut self, at: i64, ts: &str, out: &mut Vec<u8>) -> bool {
        let mut due: Vec<String> = self
            .unsealed
            .iter()
            .filter(|(_, since)| self.is_due(**since, at))
            .map(|(proxy, _)| proxy.clone())
            .collect();
        // One order, whatever the map's: the same WAL bytes for the same state.
        due.sort_unstable();
        for proxy in &due {
            self.keep_undo(proxy);
            if let Some(link) = self.links.get(proxy).copied() {
                self.seal(proxy, link, ts, out);
            }
        }
        !due.is_empty()
    }

    /// Appends the signed checkpoint of `proxy` at `link`; its lines are
    /// covered from then on.
    fn seal(&mut self, proxy: &str, link: Link, ts: &str, out: &mut Vec<u8>) {
        let Some(key) = &self.settings.key else {
            return;
        };
        self.since_checkpoint.insert(proxy.to_owned(), 0);
        self.unsealed.remove(proxy);
        let line = CheckpointLine {
            ts,
            proxy_id: proxy,
            checkpoint: Checkpoint::sign(key, proxy, link),
        };
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            out.push(b'\n');
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
    /// Whether `key` signed this checkpoint of `proxy`'s chain.
    pub fn signed_by(&self, key: &CheckpointKey, proxy: &str) -> bool {
        let expected = hex(&mac(&key.secret, proxy, self.seq, &self.chain));
        key.id == self.key_id && expected == self.hmac
    }

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

/// Lowercase hex of `bytes`, as chains are written.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// The 32 bytes of a chain written as lowercase hex.
pub fn unhex(text: &str) -> Option<[u8; 32]> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rollback_continues_from_the_last_commit() {
        let mut chains = Chains::new(HashMap::new(), ChainSettings::default());
        let mut out = Vec::new();
        chains.stamp("p", b"{\"a\":1}", 0, "t", &mut out);
        chains.commit();
        let committed = chains.links()["p"];
        chains.stamp("p", b"{\"a\":2}", 0, "t", &mut out);
        chains.stamp("q", b"{\"a\":3}", 0, "t", &mut out);
        chains.rollback();
        assert_eq!(chains.links()["p"], committed);
        assert!(!chains.links().contains_key("q"));
    }

    #[test]
    fn a_line_is_sealed_within_the_limit_and_a_rollback_unseals_it() {
        const SECOND: i64 = 1_000_000_000;
        let settings = ChainSettings {
            key: Some(CheckpointKey {
                id: "k".into(),
                secret: b"s".to_vec(),
            }),
            every: 1000,
            within: Duration::from_secs(10),
        };
        let mut chains = Chains::new(HashMap::new(), settings);
        let mut out = Vec::new();
        chains.stamp("p", b"{\"a\":1}", 0, "t0", &mut out);
        chains.stamp("p", b"{\"a\":2}", 5 * SECOND, "t5", &mut out);
        chains.commit();
        out.clear();
        // Due 10 s after the oldest uncovered line, not after the newest.
        assert!(!chains.seal_due(9 * SECOND, "t9", &mut out));
        assert!(chains.seal_due(10 * SECOND, "t10", &mut out));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"ts":"t10","proxy_id":"p","checkpoint":{"seq":2,"#),
            "{text}"
        );
        chains.rollback();
        assert_eq!(chains.unsealed().count(), 1);
        chains.commit();
        assert!(chains.seal_due(10 * SECOND, "t10", &mut out));
        chains.commit();
        assert!(!chains.seal_due(100 * SECOND, "t100", &mut Vec::new()));
    }
}
