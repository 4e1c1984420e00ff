//! A search for some types only ([`Probe`]), which tells cheaply that an
//! input holds none of them: a DLP rule that denies request bodies with a
//! listed type need not scan a clean body for every type.
//!
//! The probe is exact in one direction: when it says an input holds none
//! of its types, the whole redactor finds none in it either. Its detectors
//! are the redactor's own for those types, in the same priority order, so
//! at any position each matches as it does among all of them; its single
//! pass searches again after every rejected candidate, so it meets every
//! position where one of them could match. Anything it meets counts (a
//! match that a key would suppress, or one across a value's end), and so
//! does a pass that ran out of budget for searching again. It walks the
//! input with the redactor's own key rules, so it meets the values, rules
//! and decoded copies the whole scan meets; only a value that a rule
//! claims for another type is searched instead, as any value is. The
//! probe can say "maybe" where the whole redactor finds nothing (a number
//! shape under `order_id`): the caller then scans whole.
//!
//! Where the whole scan searches a value again on its own (after its
//! single pass ran out of budget), it finds there what the probe's single
//! pass found: no validated built-in pattern can run over a value's
//! delimiter (`"`, `&`, `;`; `detect`'s test
//! `no_builtin_pattern_crosses_a_value_delimiter`), so a match bounded by
//! the value is the one the unbounded pass met; an operator's pattern may
//! run over one, but it is never rejected, so the probe counts it.
//!
//! Most clean bodies are not walked at all. The walk can add to the
//! single pass only through a key rule of the probe's types or a value
//! decoded before it is searched. So the single pass also looks for the
//! names of those rules, spelled as a key may spell them (any case,
//! separators between letters; first in priority, so that no candidate
//! hides one), and the walk runs only when it met one or the input holds
//! something to decode: a `\`, a `%`, or `=` and `+` (a `key=a+b` pair),
//! or form fields. Without either, the walk would find nothing (the unit
//! test `where_the_walk_is_skipped_it_would_find_nothing`).

use std::fmt;
use std::sync::Arc;

use crate::detect::Detectors;
use crate::error::ConfigError;
use crate::keys::Ctx;
use crate::scan::Scan;
use crate::{Content, PiiType, Redactor, TypeIdx, Walk};

/// A redactor's search for some of its types; see the module.
pub struct Probe {
    /// The single pass, with the key names of the probe's types first.
    first: Detectors,
    /// The redactor narrowed to the probe's types, for the walk.
    redactor: Redactor,
    /// The probe's types, a bit per [`TypeIdx`].
    kept: u128,
}

impl Redactor {
    /// A probe for `types`, each an enabled type of this redactor.
    pub fn probe(&self, types: &[PiiType]) -> Result<Probe, ConfigError> {
        let mut kept = 0u128;
        for ty in types {
            let idx = self
                .types
                .iter()
                .position(|t| t.enabled && t.kind == *ty)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| ConfigError::new("redaction", format!("`{ty}` is not enabled")))?;
            kept |= TypeIdx(idx).bit128();
        }
        let keeps = |ty: TypeIdx| kept & ty.bit128() != 0;
        let problem = |p| ConfigError::new("redaction", format!("patterns of {types:?}: {p}"));
        let detectors = self.detectors.narrowed(keeps, &[]).map_err(problem)?;
        let first = self
            .detectors
            .narrowed(keeps, &self.keys.names_of(keeps))
            .map_err(problem)?;
        Ok(Probe {
            first,
            redactor: Redactor {
                types: self.types.clone(),
                detectors,
                keys: Arc::clone(&self.keys),
                allow_values: self.allow_values.clone(),
                pseudonyms: None,
                max_scan_bytes: self.max_scan_bytes,
            },
            kept,
        })
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Probe").field(&self.redactor).finish()
    }
}

impl Probe {
    /// Whether `input` may hold one of the probe's types. `false` means
    /// the redactor it came from finds none of them in `input`.
    pub fn may_hold(&self, input: &str, content: Content<'_>) -> bool {
        let r = &self.redactor;
        let scanned = input
            .as_bytes()
            .get(..r.scan_end(input))
            .unwrap_or_default();
        let mut first = self.first.find_iter(scanned);
        match first.next() {
            Some(m) if m.ty == TypeIdx::KEY_NAME => {
                // The pass ended at the name: the probe's own patterns
                // search the whole input again, then the walk meets the
                // name's rule.
                let mut single = r.detectors.find_iter(scanned);
                if single.next().is_some() || single.skipped().is_some() {
                    return true;
                }
            }
            Some(_) => return true,
            None if first.skipped().is_some() => return true,
            None if !r.decodes(scanned, content) => return false,
            None => {}
        }
        let mut scan = Scan::probing(r, scanned, self.kept);
        r.walk(&mut scan, scanned, content);
        scan.found_any()
    }
}

impl Redactor {
    /// Whether a walk of `scanned` for a probe can meet anything of its
    /// types that the single pass did not, when no key name of its types
    /// is there: only a value decoded first (JSON escapes, percent- or
    /// `+`-encoding, in fields or in `key=value` pairs), or the value of
    /// a header whose name has a rule.
    fn decodes(&self, scanned: &[u8], content: Content<'_>) -> bool {
        match self.plan(scanned, content).0 {
            Walk::Fields(..) | Walk::Value(Ctx::Redact { .. }) => true,
            Walk::Json | Walk::Value(_) => {
                memchr::memchr2(b'\\', b'%', scanned).is_some()
                    || (memchr::memchr(b'=', scanned).is_some()
                        && memchr::memchr(b'+', scanned).is_some())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::RedactionConfig;

    /// Inputs and contents of both labelled corpora.
    fn samples() -> Vec<(String, String, Option<String>)> {
        [
            include_str!("../tests/corpus/redaction.jsonl"),
            include_str!("../tests/corpus2/corpus.jsonl"),
        ]
        .iter()
        .flat_map(|corpus| corpus.lines())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_owned);
            (
                field("kind").unwrap(),
                field("text").unwrap(),
                field("header"),
            )
        })
        .collect()
    }

    fn content<'a>(kind: &str, header: Option<&'a str>) -> Content<'a> {
        match (kind, header) {
            ("json", _) => Content::Json,
            ("form", _) => Content::Form,
            ("query", _) => Content::Query,
            ("header", Some(name)) => Content::Header(name),
            _ => Content::Text,
        }
    }

    /// The claim `may_hold` rests on when it skips the walk: with no key
    /// name of the probe's types and nothing to decode, the walk finds
    /// nothing the single pass did not.
    #[test]
    fn where_the_walk_is_skipped_it_would_find_nothing() {
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let mut inputs = samples();
        for (kind, text) in [
            ("json", r#"{"S_s-N": "abc"}"#),
            ("json", r#"{"Social Security.Number": "abc"}"#),
            ("json", r#"{"TeLeFoN": "abc", "x": "+1"}"#),
            ("text", "pass_WORD=hunter2 and s.s.n: 078-05-1120"),
            ("json", r#"{"note": "card=4111+1111+1111+1111"}"#),
        ] {
            inputs.push((kind.into(), text.into(), None));
        }
        let (mut skipped, mut walked) = (0, 0);
        for ty in &PiiType::BUILTIN {
            let probe = redactor.probe(std::slice::from_ref(ty)).unwrap();
            let r = &probe.redactor;
            for (kind, text, header) in &inputs {
                let content = content(kind, header.as_deref());
                let scanned = text.as_bytes();
                let mut first = probe.first.find_iter(scanned);
                if first.next().is_some() || first.skipped().is_some() {
                    continue;
                }
                let mut scan = Scan::probing(r, scanned, probe.kept);
                r.walk(&mut scan, scanned, content);
                if r.decodes(scanned, content) {
                    walked += 1;
                } else {
                    skipped += 1;
                    assert!(
                        !scan.found_any(),
                        "{ty}: the walk finds what the skip clears in {text:?}"
                    );
                }
            }
        }
        // Most inputs decode nothing; some do.
        assert!(skipped > walked && walked > 0, "{skipped} / {walked}");
    }

    #[test]
    fn key_names_are_found_as_keys_spell_them() {
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let probe = redactor.probe(&[PiiType::UsSsn]).unwrap();
        for text in [
            "ssn",
            "SSN",
            "S_s-N",
            "customer_ssn",
            "Social Security Number",
            "social.security-NUMBER",
        ] {
            let m = probe.first.find_iter(text.as_bytes()).next();
            assert_eq!(m.map(|m| m.ty), Some(TypeIdx::KEY_NAME), "{text}");
        }
        for text in ["s/s/n", "social security", "sn"] {
            assert!(
                probe.first.find_iter(text.as_bytes()).next().is_none(),
                "{text}"
            );
        }
        // Non-ASCII names match as written, ASCII letters in any case.
        let phone = redactor.probe(&[PiiType::Phone]).unwrap();
        for text in ["móvil", "MóVIL", "電話"] {
            let m = phone.first.find_iter(text.as_bytes()).next();
            assert_eq!(m.map(|m| m.ty), Some(TypeIdx::KEY_NAME), "{text}");
        }
        assert!(phone.first.find_iter("MÓVIL".as_bytes()).next().is_none());
    }
}
