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
//! separators between letters, where a key can end; first in priority,
//! so that no candidate hides one), and the walk runs only when it met
//! one or the input holds something to decode: a `%`, `=` and `+` (a
//! `key=a+b` pair), or form fields. JSON whose only such thing is its
//! escapes has just its escaped strings decoded and searched. Without
//! either, the walk would find nothing (the unit test
//! `where_the_walk_is_skipped_it_would_find_nothing`).

use std::fmt;
use std::sync::Arc;

use crate::decode::Decoded;
use crate::detect::Detectors;
use crate::error::ConfigError;
use crate::json;
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
                // The pass stopped at the name, nothing before it: the
                // probe's own patterns search on from there, then the
                // walk meets the name's rule.
                let mut rest = r.detectors.find_iter_in(scanned, m.start..scanned.len());
                if rest.next().is_some() || rest.skipped().is_some() || first.skipped().is_some() {
                    return true;
                }
            }
            Some(_) => return true,
            None if first.skipped().is_some() => return true,
            None => match r.left(scanned, content) {
                Left::Nothing => return false,
                Left::Escapes => return self.escapes_hold(scanned),
                Left::Walk => {}
            },
        }
        self.walked(scanned, content)
    }

    /// The walk's answer, after a single pass that found nothing.
    fn walked(&self, scanned: &[u8], content: Content<'_>) -> bool {
        let r = &self.redactor;
        let mut scan = Scan::probing(r, scanned, self.kept);
        r.walk(&mut scan, scanned, content);
        scan.found_any()
    }

    /// Whether JSON's escaped strings may hold one of the probe's types
    /// when the rest of the input holds nothing for the walk ([`Left`]):
    /// each is decoded and searched as the walk would, and one whose
    /// decoded text holds a key name, or something to decode again, says
    /// "maybe" at once.
    fn escapes_hold(&self, scanned: &[u8]) -> bool {
        let mut decoded = Decoded::default();
        json::escaped_strings(scanned).any(|span| {
            json::unescape(scanned, span, &mut decoded);
            let text = &decoded.text;
            let mut found = self.first.find_iter(text);
            found.next().is_some() || found.skipped().is_some() || encodes(text)
        })
    }
}

/// What a probe's walk can add to a single pass that met no key name of
/// its types.
#[derive(Debug, PartialEq, Eq)]
enum Left {
    /// Nothing: no value is decoded before it is searched.
    Nothing,
    /// JSON whose only decoded values are its escaped strings.
    Escapes,
    /// Values decoded from percent- or `+`-encoding, or a header's rule.
    Walk,
}

/// Whether `text` has percent-encoding, or `+` where a `key=value` pair
/// may decode it.
fn encodes(text: &[u8]) -> bool {
    memchr::memchr(b'%', text).is_some()
        || (memchr::memchr(b'=', text).is_some() && memchr::memchr(b'+', text).is_some())
}

impl Redactor {
    /// What a walk of `scanned` for a probe can meet of its types that the
    /// single pass did not, when no key name of its types is there: only
    /// values decoded first (JSON escapes, percent- or `+`-encoding, in
    /// fields or in `key=value` pairs), or the value of a header whose
    /// name has a rule.
    fn left(&self, scanned: &[u8], content: Content<'_>) -> Left {
        match self.plan(scanned, content).0 {
            Walk::Fields(..) | Walk::Value(Ctx::Redact { .. }) => Left::Walk,
            _ if encodes(scanned) => Left::Walk,
            Walk::Json if memchr::memchr(b'\\', scanned).is_some() => Left::Escapes,
            Walk::Json | Walk::Value(_) => Left::Nothing,
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

    /// The claims `may_hold` rests on where it does not walk: with no key
    /// name of the probe's types and nothing to decode, the walk finds
    /// nothing the single pass did not; in JSON with nothing to decode
    /// but escaped strings, it finds something only where they may hold
    /// something.
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
            ("json", r#"{"\u0073sn": "abc", "n": "\u00e9"}"#),
            ("json", r#"{"n": "\u0030\u0037\u0038-05-1120"}"#),
            (
                "json",
                r#"{"n": "card=4111\u002b1111\u002b1111\u002b1111"}"#,
            ),
            ("json", r#"{"n": "x\"y", "m": "4111 1111 1111 1111""#),
        ] {
            inputs.push((kind.into(), text.into(), None));
        }
        let mut seen = [0; 3];
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
                let walked = probe.walked(scanned, content);
                let left = r.left(scanned, content);
                let cleared = match left {
                    Left::Nothing => true,
                    Left::Escapes => !probe.escapes_hold(scanned),
                    Left::Walk => false,
                };
                assert!(
                    !(walked && cleared),
                    "{ty}: the walk finds what {left:?} clears in {text:?}"
                );
                seen[left as usize] += 1;
            }
        }
        // Each way is taken, most inputs having nothing to decode.
        let [nothing, escapes, walk] = seen;
        assert!(
            nothing > escapes + walk && escapes > 0 && walk > 0,
            "{seen:?}"
        );
    }

    #[test]
    fn key_names_are_found_as_keys_spell_them() {
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let named = |probe: &Probe, text: &str| {
            probe.first.find_iter(text.as_bytes()).next().map(|m| m.ty) == Some(TypeIdx::KEY_NAME)
        };
        let ssn = redactor.probe(&[PiiType::UsSsn]).unwrap();
        for text in [
            r#"{"ssn": 1}"#,
            r#"{"SSN": 1}"#,
            r#"{"S_s-N": 1}"#,
            r#"{"_ssn_": 1}"#,
            "my ssn: 1",
            "ssn",
            "Social Security Number\t: 1",
            r#"{"social.security-NUMBER": 1}"#,
            // Where a key starts is not known (`0778ssn: …` is searched
            // from `ssn` when the JSON before it did not parse).
            r#"{"customer_ssn": 1}"#,
            "0778ssn: 1",
        ] {
            assert!(named(&ssn, text), "{text}");
        }
        // These keys do not end in it.
        for text in [r#"{"ssn2": 1}"#, r#"{"ssnx": 1}"#, r#"{"s/s/n": 1}"#] {
            assert!(!named(&ssn, text), "{text}");
        }
        // Endings count as endings: `…phonenumber`, `…電話`.
        let phone = redactor.probe(&[PiiType::Phone]).unwrap();
        for text in [
            r#"{"home_phone_number": 1}"#,
            "連絡先の電話: 1",
            r#"{"Móvil": 1}"#,
        ] {
            assert!(named(&phone, text), "{text}");
        }
        for text in [r#"{"MÓVIL": 1}"#, r#"{"telx": 1}"#] {
            assert!(!named(&phone, text), "{text}");
        }
        let person = redactor.probe(&[PiiType::Person]).unwrap();
        assert!(named(&person, r#"{"name": 1}"#));
        assert!(!named(&person, r#"{"name_of_product": 1}"#));
    }
}
