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

#[cfg(test)]
mod tests {
    use super::*;

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
}
