//! `key=value` and `key: value` pairs in free text: log lines, header-like
//! lines, query strings inside URLs, JSON that did not parse.
//!
//! One `memchr` pass over `=` and `:`; for each, the key is read backwards
//! (an identifier, a quoted name, or up to three words such as
//! `Date of birth`) and only keys with a rule produce a pair, plus
//! unnamed-rule `key=value` pairs whose value is percent-encoded (so
//! `email=jane%40example.com` in a logged URL is decoded and scanned).

use std::ops::Range;

use super::keys::{Ctx, How, KeyRules, MAX_KEY};

/// A value whose key has a rule, or (`encoded`) a percent-encoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pair {
    pub ctx: Ctx,
    pub value: Range<usize>,
    pub encoded: bool,
}

/// Byte classes: key characters (non-ASCII ones too, so `Teléfono:` and
/// `電話:` are keys), and bytes that end an unquoted value.
const KEY: u8 = 1;
const STOP: u8 = 2;
const CLASSES: [u8; 256] = {
    let mut classes = [0; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b >= 0x80 {
            classes[i] |= KEY;
        }
        if b.is_ascii_whitespace()
            || matches!(
                b,
                b'&' | b';' | b',' | b'"' | b'\'' | b'<' | b'>' | b')' | b']' | b'}'
            )
        {
            classes[i] |= STOP;
        }
        i += 1;
    }
    classes
};

fn is(b: u8, class: u8) -> bool {
    CLASSES[usize::from(b)] & class != 0
}

pub(super) struct Pairs<'a> {
    text: &'a [u8],
    start: usize,
    pos: usize,
    end: usize,
    rules: &'a KeyRules,
}

impl<'a> Pairs<'a> {
    pub fn new(text: &'a [u8], range: Range<usize>, rules: &'a KeyRules) -> Self {
        Pairs {
            text,
            start: range.start,
            pos: range.start,
            end: range.end.min(text.len()),
            rules,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        (i >= self.start && i < self.end)
            .then(|| self.text.get(i).copied())
            .flatten()
    }

    /// Start of the identifier that ends at `end`.
    fn word_start(&self, end: usize) -> usize {
        let from = end.saturating_sub(MAX_KEY).max(self.start);
        let run = self.text.get(from..end).map_or(0, |bytes| {
            bytes.iter().rev().take_while(|&&b| is(b, KEY)).count()
        });
        end - run
    }

    /// The rule of the key before the separator at `sep`: `None` when
    /// there is no key, `Some(None)` for a key without a rule.
    fn key_before(&self, sep: usize) -> Option<Option<Ctx>> {
        let mut end = sep;
        for _ in 0..2 {
            if end > self.start && matches!(self.at(end - 1), Some(b' ' | b'\t')) {
                end -= 1;
            }
        }
        let last = self.at(end.checked_sub(1)?)?;
        if last == b'"' || last == b'\'' {
            let close = end - 1;
            let from = close.saturating_sub(MAX_KEY + 1).max(self.start);
            let open = from
                + self
                    .text
                    .get(from..close)?
                    .iter()
                    .rposition(|&b| b == last)?;
            return Some(self.rules.classify(self.text.get(open + 1..close)?));
        }
        let mut start = self.word_start(end);
        if start == end {
            return None;
        }
        let words = |range: std::ops::Range<usize>| {
            self.text.get(range).is_some_and(|w| {
                w.iter()
                    .all(|&b| b.is_ascii_alphabetic() || b >= 0x80 || b == b' ')
            })
        };
        // `Date of birth:` — before a `:`, try the last word, then two,
        // then three (words of letters only).
        for _ in 0..2 {
            if let Some(ctx) = self.rules.classify(self.text.get(start..end)?) {
                return Some(Some(ctx));
            }
            let Some(space) = start.checked_sub(1) else {
                break;
            };
            let earlier = self.word_start(space);
            if self.at(sep) != Some(b':')
                || self.at(space) != Some(b' ')
                || earlier == space
                || !words(earlier..end)
            {
                return Some(None);
            }
            start = earlier;
        }
        Some(self.rules.classify(self.text.get(start..end)?))
    }

    /// End of the unquoted word starting at `i`.
    fn word_end(&self, i: usize) -> usize {
        i + self.text.get(i..self.end).map_or(0, |bytes| {
            bytes.iter().take_while(|&&b| !is(b, STOP)).count()
        })
    }

    fn value_after(&self, sep: usize, ctx: Option<Ctx>) -> Range<usize> {
        let mut v = sep + 1;
        while matches!(self.at(v), Some(b' ' | b'\t')) {
            v += 1;
        }
        if let Some(quote @ (b'"' | b'\'')) = self.at(v) {
            let mut i = v + 1;
            while let Some(b) = self.at(i) {
                if b == quote {
                    return v + 1..i;
                }
                i += if b == b'\\' { 2 } else { 1 };
            }
            return v + 1..self.end;
        }
        let how = match ctx {
            Some(Ctx::Redact { how, .. }) => how,
            _ => How::Whole,
        };
        if how == How::Scheme {
            // `Bearer <token>`, `Digest a="b", c=d`: as far as the
            // credentials go.
            let line = v + self.text.get(v..self.end).map_or(0, |rest| {
                rest.iter()
                    .take_while(|&&b| b != b'\r' && b != b'\n')
                    .count()
            });
            return v..super::auth::credentials(self.text, v..line, |_| {});
        }
        let name = matches!(how, How::Words | How::Name | How::Person);
        // `O'Brien`: an apostrophe between letters is part of a name.
        let name_end = |mut end: usize| {
            while name
                && self.at(end) == Some(b'\'')
                && self.at(end + 1).is_some_and(|b| b.is_ascii_alphabetic())
            {
                end = self.word_end(end + 1);
            }
            end
        };
        let mut end = name_end(self.word_end(v));
        let extra_words = match how {
            How::Words | How::Name | How::Person => 3,
            How::Whole | How::Secret | How::Scheme => 0,
        };
        for _ in 0..extra_words {
            let next = end + 1;
            let starts_word = self
                .at(next)
                .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || !b.is_ascii());
            if self.at(end) != Some(b' ') || !starts_word {
                break;
            }
            let word_end = name_end(self.word_end(next));
            // The next `key:` / `key=` is not part of this value.
            let word = self.text.get(next..word_end).unwrap_or_default();
            if word.contains(&b':') || word.contains(&b'=') {
                break;
            }
            end = word_end;
        }
        v..end
    }
}

/// Words that may stand between a label and its value in prose
/// (`firmware to 17.8.1.48`, `version is 1.2.3.4`).
const LINKS: &[&[u8]] = &[b"to", b"is", b"was", b"of", b"at", b"from"];

/// The rule of a label written before the value at `start` in prose, with
/// a space and no separator (`order number 4854585974664228`, `firmware
/// to 17.8.1.48`): the last one to three words before it, as `key=value`
/// would read them. Only words of letters count, from `floor` on, and
/// only labels of six letters or more: short ones (`id`, `ref`, `v`) are
/// too common in prose to say anything.
pub(super) fn label_before(
    text: &[u8],
    start: usize,
    floor: usize,
    rules: &KeyRules,
) -> Option<Ctx> {
    let letters = |b: &u8| b.is_ascii_alphabetic() || *b >= 0x80;
    // The start of the word ending at `end` (before a single space).
    let word = |end: usize| -> Option<usize> {
        if end <= floor || text.get(end)? != &b' ' {
            return None;
        }
        let from = end.saturating_sub(24).max(floor);
        let run = text
            .get(from..end)?
            .iter()
            .rev()
            .take_while(|b| letters(b))
            .count();
        (run > 0 && (end - run == floor || !text.get(end - run - 1).is_some_and(letters)))
            .then_some(end - run)
    };
    let mut end = start.checked_sub(1)?;
    let mut first = word(end)?;
    if LINKS.iter().any(|l| text.get(first..end) == Some(*l)) {
        end = first.checked_sub(1)?;
        first = word(end)?;
    }
    let mut from = first;
    for _ in 0..3 {
        let label = text.get(from..end)?;
        let len = label.iter().filter(|&&b| b != b' ').count();
        if let Some(ctx) = rules.classify_whole(label).filter(|_| len >= 6) {
            return matches!(ctx, Ctx::Scan { .. } | Ctx::Allow).then_some(ctx);
        }
        from = word(from.checked_sub(1)?)?;
    }
    None
}

impl Iterator for Pairs<'_> {
    type Item = Pair;

    fn next(&mut self) -> Option<Pair> {
        loop {
            let rest = self.text.get(self.pos..self.end)?;
            let sep = self.pos + memchr::memchr2(b'=', b':', rest)?;
            self.pos = sep + 1;
            let this = self.at(sep)?;
            let next = self.at(sep + 1);
            // `==`, `::`, `://` separate nothing.
            if next == Some(this) || (this == b':' && next == Some(b'/')) {
                self.pos += 1;
                continue;
            }
            let Some(ctx) = self.key_before(sep) else {
                continue;
            };
            let value = self.value_after(sep, ctx);
            if value.is_empty() {
                continue;
            }
            if let Some(ctx) = ctx {
                self.pos = self.pos.max(value.end);
                return Some(Pair {
                    ctx,
                    value,
                    encoded: false,
                });
            }
            // An unknown key's value ends before another `=`, so that a
            // pair inside it (`4242=password=+1`) is met on its own, as it
            // is once the value's start has been replaced by a mask.
            let value = match self
                .text
                .get(value.clone())
                .and_then(|v| memchr::memchr(b'=', v))
            {
                Some(eq) => value.start..value.start + eq,
                None => value,
            };
            // Percent- or `+`-encoded (`card=4111+1111+…` in a logged URL).
            let encoded = this == b'='
                && self
                    .text
                    .get(value.clone())
                    .is_some_and(|v| v.contains(&b'%') || v.contains(&b'+'));
            if encoded {
                self.pos = self.pos.max(value.end);
                return Some(Pair {
                    ctx: Ctx::SCAN,
                    value,
                    encoded,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{PiiType, TypeIdx};

    fn pairs(text: &str) -> Vec<(String, Option<PiiType>)> {
        let rules = KeyRules::new(TypeIdx::builtin, &[], &[]);
        Pairs::new(text.as_bytes(), 0..text.len(), &rules)
            .map(|p| {
                let ty = match p.ctx {
                    Ctx::Redact { ty, .. } => Some(PiiType::BUILTIN[usize::from(ty.0)].clone()),
                    _ => None,
                };
                (text[p.value].to_owned(), ty)
            })
            .collect()
    }

    #[test]
    fn separators_and_quotes() {
        assert_eq!(
            pairs(r#"user=bob password=hunter2 token: "a b\"c" secret='x y'"#),
            [
                ("bob".into(), Some(PiiType::Person)), // kept: not a name's shape
                ("hunter2".into(), Some(PiiType::Password)),
                (r#"a b\"c"#.into(), Some(PiiType::Password)),
                ("x y".into(), Some(PiiType::Password)),
            ]
        );
        assert_eq!(
            pairs(r#"{"password": "pa ss", "ok": 1}"#),
            [("pa ss".into(), Some(PiiType::Password))]
        );
        assert_eq!(
            pairs("GET /login?user=a&password=p%40ss&next=/x HTTP/1.1"),
            [
                ("a".into(), Some(PiiType::Person)),
                ("p%40ss".into(), Some(PiiType::Password))
            ]
        );
    }

    #[test]
    fn multi_word_keys_and_values() {
        assert_eq!(
            pairs("Date of birth: 1990-01-05, name: Jane Doe Email: x"),
            [
                ("1990-01-05".into(), Some(PiiType::DateOfBirth)),
                ("Jane Doe".into(), Some(PiiType::Person)),
            ]
        );
        assert_eq!(
            pairs("Authorization: Bearer abc.def rest"),
            [("Bearer abc.def".into(), Some(PiiType::Password))]
        );
    }

    #[test]
    fn non_pairs() {
        assert!(pairs("https://example.com:8443/a?b=c at 10:30:00 a==b std::x").is_empty());
        assert!(pairs("password=").is_empty());
        assert_eq!(
            pairs("see /cb?email=jane%40example.com"),
            [("jane%40example.com".into(), None)]
        );
    }

    #[test]
    fn suppressing_keys_are_reported() {
        let rules = KeyRules::new(TypeIdx::builtin, &[], &[]);
        let text = "version=1.2.3.4 order_id=4242424242424242";
        let found: Vec<_> = Pairs::new(text.as_bytes(), 0..text.len(), &rules)
            .map(|p| &text[p.value])
            .collect();
        assert_eq!(found, ["1.2.3.4", "4242424242424242"]);
    }
}
