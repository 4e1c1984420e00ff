//! Replacement modes: `mask` (`[REDACTED:EMAIL]`), `partial` (keep a tail:
//! `************4242`) and `hash` (a keyed pseudonym
//! `[EMAIL:hmac:<key id>:<16 hex>]`, the same for the same value and key,
//! so analysts can correlate records without seeing the value).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Per-type replacement, from the `redaction.types` configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Mask,
    /// Keep at most `keep` trailing characters (and never more than half).
    Partial {
        keep: usize,
    },
    Hash,
}

/// How one finding is rewritten. Computed when the finding is made, while
/// its decoded value is at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Repl {
    Mask,
    /// `stars` asterisks, then the input from `tail` to the finding's end
    /// (input bytes, so the kept tail stays validly escaped).
    Partial {
        stars: usize,
        tail: usize,
    },
    Text(String),
}

/// Whether a value is already a replacement (`[REDACTED:EMAIL]`,
/// `[EMAIL:hmac:k1:…]`, `******4242`): a key rule must not redact it again,
/// or every second pass (the collector's) would count the same finding twice.
pub(super) fn is_replacement(value: &[u8]) -> bool {
    // Text pairs may end a value before the closing bracket.
    if let Some(inner) = value.strip_prefix(b"[") {
        let inner = inner.strip_suffix(b"]").unwrap_or(inner);
        return inner.starts_with(b"REDACTED") || memchr::memmem::find(inner, b":hmac:").is_some();
    }
    let stars = value.iter().take_while(|&&b| b == b'*').count();
    // `partial` keeps at most half of the characters.
    let kept = value
        .get(stars..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| !is_continuation(b))
        .count();
    stars > 0 && stars >= kept
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The HMAC-SHA256 key (precomputed pads) and the id written into every
/// pseudonym so that a key rotation is visible.
pub(super) struct Pseudonyms {
    mac: Hmac<Sha256>,
    key_id: String,
}

impl fmt::Debug for Pseudonyms {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonyms")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Pseudonyms {
    /// `None` only if the HMAC rejects the key length, which it never does.
    pub fn new(key: &[u8], key_id: String) -> Option<Self> {
        let mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        Some(Self { mac, key_id })
    }

    /// `[TYPE:hmac:<key id>:<first 16 hex digits of HMAC(value)>]`.
    pub fn pseudonym(&self, type_name: &str, value: &[u8]) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.mac.clone();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(type_name.len() + self.key_id.len() + 25);
        out.push('[');
        out.push_str(type_name);
        out.push_str(":hmac:");
        out.push_str(&self.key_id);
        out.push(':');
        for &b in digest.iter().take(8) {
            for nibble in [b >> 4, b & 0xf] {
                out.push(char::from(
                    HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
        out.push(']');
        out
    }
}

/// For `partial`: how many characters of `value` are masked, and the byte
/// offset in `value` where the kept tail starts.
pub(super) fn partial(value: &[u8], keep: usize) -> (usize, usize) {
    match std::str::from_utf8(value) {
        Ok(text) => {
            let chars = text.chars().count();
            let masked = chars - keep.min(chars / 2);
            let offset = text
                .char_indices()
                .nth(masked)
                .map_or(value.len(), |(i, _)| i);
            (masked, offset)
        }
        // Decoded bytes that are not UTF-8 (a form value): count bytes.
        Err(_) => {
            let masked = value.len() - keep.min(value.len() / 2);
            (masked, masked)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn replacements_are_recognised() {
        for yes in [
            &b"[REDACTED:EMAIL]"[..],
            b"[REDACTED]",
            b"[REDACTED:PASSWORD",
            b"[EMAIL:hmac:k1:0123456789abcdef]",
            b"************4242",
            b"****22",
            b"***",
            "**Jé".as_bytes(),
        ] {
            assert!(is_replacement(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [&b"hunter22"[..], b"*ab", b"[x]", b"a****", b""] {
            assert!(!is_replacement(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let k1 = Pseudonyms::new(b"0123456789abcdef", "k1".into()).unwrap();
        let k2 = Pseudonyms::new(b"fedcba9876543210", "k2".into()).unwrap();
        let a = k1.pseudonym("EMAIL", b"jane@example.com");
        assert_eq!(a, k1.pseudonym("EMAIL", b"jane@example.com"));
        assert!(a.starts_with("[EMAIL:hmac:k1:") && a.ends_with(']'), "{a}");
        assert_eq!(a.len(), "[EMAIL:hmac:k1:]".len() + 16);
        assert_ne!(a, k1.pseudonym("EMAIL", b"john@example.com"));
        let b = k2.pseudonym("EMAIL", b"jane@example.com");
        assert_ne!(a[15..], b[15..]);
        assert!(!format!("{k1:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let p = Pseudonyms::new(b"Jefe", "t".into()).unwrap();
        assert_eq!(
            p.pseudonym("X", b"what do ya want for nothing?"),
            "[X:hmac:t:5bdcc146bf60754e]"
        );
    }

    #[test]
    fn partial_keeps_at_most_half() {
        assert_eq!(partial(b"4242424242424242", 4), (12, 12));
        assert_eq!(partial(b"1234", 4), (2, 2));
        assert_eq!(partial(b"x", 4), (1, 1));
        assert_eq!(partial("caf\u{e9}s\u{e9}".as_bytes(), 2), (4, 5));
        assert_eq!(partial(b"\xff\xfe\xfd\xfc", 1), (3, 3));
    }
}
