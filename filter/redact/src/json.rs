//! JSON bodies: a non-recursive walk that reports every string and number
//! with the rule of its key, and string unescaping that remembers where
//! each decoded byte came from (so a finding in `jane\u0040example.com`
//! points at the escaped bytes of the input).
//!
//! The walk allocates nothing: nesting deeper than [`MAX_DEPTH`], invalid
//! syntax or a truncated body stop it and hand the rest to the text scanner
//! (never "no scan"). Several top-level values (JSON lines) are walked one
//! after the other.

use std::ops::Range;

use super::decode::Decoded;
use super::keys::{marker, Ctx, How, KeyMemo, KeyRules};

const MAX_DEPTH: usize = 64;

/// A scalar the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// String contents (between the quotes), and whether they contain
    /// escapes.
    Str(Range<usize>, bool),
    /// A number, replaced as a whole.
    Num(Range<usize>),
    /// An object key's contents and whether they contain escapes: scanned
    /// (maps keyed by email exist) but never redacted by key rules.
    Key(Range<usize>, bool),
    /// The end of the object that starts at this position and has a
    /// `name` member: whether its keys (or the key it is under) say it is a
    /// person's.
    Close(usize, bool),
}

/// Where the text scanner takes over after the walk stopped, and the rule
/// in force there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resume {
    pub at: usize,
    pub ctx: Ctx,
}

#[derive(Clone, Copy)]
struct Frame {
    object: bool,
    ctx: Ctx,
    /// [`marker`] bits of the key this object or array is under (inherited
    /// through keys without them): who its objects belong to.
    home: u8,
    /// [`marker`] bits of the keys seen in this object.
    seen: u8,
    /// The rule named by a `"name": "<key>"` member, for a later `value`
    /// member (`{"name": "Authorization", "value": "Basic …"}`).
    named: Option<Ctx>,
    /// Where the object starts.
    start: usize,
}

impl Frame {
    const EMPTY: Frame = Frame {
        object: false,
        ctx: Ctx::SCAN,
        home: 0,
        seen: 0,
        named: None,
        start: 0,
    };

    /// Whether the `name`-like values of this object are a person's: its
    /// keys say so when they agree (`email` / `sku`); when they say both
    /// (a repository's `full_name` and `stargazers_count`) or nothing, the
    /// key it is under decides.
    fn holds_person(&self) -> bool {
        let person = self.seen & marker::PERSON != 0;
        let thing = self.seen & marker::THING != 0;
        if person != thing {
            person
        } else {
            self.home & marker::THING_HOME == 0 || self.home & marker::PERSON_HOME != 0
        }
    }
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    keys: KeyMemo<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The contents of the string starting at `pos` (a `"`), and whether
    /// they contain escapes.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let rest = self.text.get(i..)?;
            i += memchr::memchr2(b'"', b'\\', rest)?;
            if self.text.get(i) == Some(&b'"') {
                self.pos = i + 1;
                return Some((start..i, escaped));
            }
            escaped = true;
            i += 2;
        }
    }

    fn number(&mut self) -> Range<usize> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.pos += 1;
        }
        start..self.pos
    }

    fn literal(&mut self) -> Option<()> {
        let rest = self.text.get(self.pos..)?;
        let len = [&b"true"[..], b"false", b"null"]
            .iter()
            .find(|lit| rest.starts_with(lit))?
            .len();
        self.pos += len;
        Some(())
    }

    /// Parses `"key":` at `pos` and returns the rule for its value; its
    /// [`marker`] bits go to `key_marker`. `frame` is the object's: it learns
    /// them too. (A returned pair of both was built in memory in pieces
    /// and read back whole, a store-forwarding stall on every member.)
    fn member(
        &mut self,
        frame: &mut Frame,
        rules: &KeyRules,
        visit: &mut impl FnMut(Token),
        key_marker: &mut u8,
    ) -> Option<Ctx> {
        let parent = frame.ctx;
        if self.peek() != Some(b'"') {
            return None;
        }
        let (key, escaped) = self.string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return None;
        }
        self.pos += 1;
        let (own, marker) = if escaped {
            let mut decoded = Decoded::default();
            unescape(self.text, key.clone(), &mut decoded);
            rules.classify_key(&decoded.text)
        } else {
            self.keys.classify_key(rules, key.clone())
        };
        visit(Token::Key(key, escaped));
        frame.seen |= marker;
        let own = match frame.named {
            Some(named) if marker & marker::VALUE != 0 => Some(named),
            _ => own,
        };
        *key_marker = marker;
        // A key without a rule inherits its object's: everything under
        // `"password": {…}` is a password.
        Some(own.unwrap_or(parent))
    }
}

/// Walks the JSON in `text`, calling `visit` for every scalar with its
/// rule. `Err` says where the text scanner must take over.
pub(super) fn walk(
    text: &[u8],
    rules: &KeyRules,
    mut visit: impl FnMut(Token, Ctx),
) -> Result<(), Resume> {
    let mut p = Parser {
        text,
        pos: 0,
        keys: KeyMemo::new(text),
    };
    let mut stack = [Frame::EMPTY; MAX_DEPTH];
    let mut depth: usize = 0;
    let mut ctx = Ctx::SCAN;
    // Marker bits of the key of the value to come.
    let mut key_marker = 0u8;
    let mut want_value = true;
    let mut resume = Resume {
        at: 0,
        ctx: Ctx::SCAN,
    };
    // Keys are scanned with the object's rule unless that redacts whole
    // values (a key is not the password).
    let key_ctx = |ctx: Ctx| match ctx {
        Ctx::Redact { .. } => Ctx::SCAN,
        other => other,
    };
    let homes = marker::PERSON_HOME | marker::THING_HOME;
    loop {
        p.skip_ws();
        if want_value {
            let Some(b) = p.peek() else {
                return if depth == 0 { Ok(()) } else { Err(resume) };
            };
            match b {
                b'{' | b'[' => {
                    let object = b == b'{';
                    let inherited = depth
                        .checked_sub(1)
                        .and_then(|top| stack.get(top))
                        .map_or(0, |f| f.home);
                    let home = if key_marker & homes != 0 {
                        key_marker & homes
                    } else {
                        inherited
                    };
                    if depth >= MAX_DEPTH {
                        return Err(resume);
                    }
                    // `"user": {…}`: a key that may name a person gives its
                    // rule to a string, not to what an object holds.
                    if matches!(
                        ctx,
                        Ctx::Redact {
                            how: How::Person,
                            ..
                        }
                    ) {
                        ctx = depth
                            .checked_sub(1)
                            .and_then(|top| stack.get(top))
                            .map_or(Ctx::SCAN, |f| f.ctx);
                    }
                    let mut frame = Frame {
                        object,
                        ctx,
                        home,
                        start: p.pos,
                        ..Frame::EMPTY
                    };
                    depth += 1;
                    p.pos += 1;
                    p.skip_ws();
                    if p.peek() == Some(if object { b'}' } else { b']' }) {
                        p.pos += 1;
                        depth -= 1;
                        want_value = false;
                        continue;
                    }
                    resume = Resume { at: p.pos, ctx };
                    if object {
                        let mut key = |t| visit(t, key_ctx(ctx));
                        let member = p.member(&mut frame, rules, &mut key, &mut key_marker);
                        *stack.get_mut(depth - 1).ok_or(resume)? = frame;
                        ctx = member.ok_or(resume)?;
                    } else {
                        *stack.get_mut(depth - 1).ok_or(resume)? = frame;
                        key_marker = 0;
                    }
                }
                b'"' => {
                    let (s, escaped) = p.string().ok_or(resume)?;
                    if key_marker & marker::NAME != 0 && !escaped {
                        // `{"name": "Authorization", "value": …}`: the
                        // name's rule applies to the value.
                        if let Some(frame) = depth.checked_sub(1).and_then(|t| stack.get_mut(t)) {
                            let named = text.get(s.clone()).and_then(|k| rules.classify(k));
                            frame.named = named.filter(|c| matches!(c, Ctx::Redact { .. }));
                        }
                    }
                    visit(Token::Str(s, escaped), ctx);
                    want_value = false;
                }
                b'-' | b'0'..=b'9' => {
                    let n = p.number();
                    visit(Token::Num(n), ctx);
                    want_value = false;
                }
                _ => {
                    p.literal().ok_or(resume)?;
                    want_value = false;
                }
            }
            continue;
        }
        let Some(top) = depth.checked_sub(1) else {
            // A complete top-level value; another may follow (JSON lines).
            resume = Resume {
                at: p.pos,
                ctx: Ctx::SCAN,
            };
            ctx = Ctx::SCAN;
            key_marker = 0;
            want_value = true;
            continue;
        };
        let Some(frame) = stack.get_mut(top) else {
            return Err(resume);
        };
        match p.peek() {
            Some(b',') => {
                p.pos += 1;
                p.skip_ws();
                resume = Resume {
                    at: p.pos,
                    ctx: frame.ctx,
                };
                if frame.object {
                    let object_ctx = frame.ctx;
                    let mut key = |t| visit(t, key_ctx(object_ctx));
                    ctx = p
                        .member(frame, rules, &mut key, &mut key_marker)
                        .ok_or(resume)?;
                } else {
                    ctx = frame.ctx;
                    key_marker = 0;
                }
                want_value = true;
            }
            Some(b'}') if frame.object => {
                p.pos += 1;
                depth -= 1;
                if frame.seen & marker::NAME != 0 {
                    visit(Token::Close(frame.start, frame.holds_person()), Ctx::SCAN);
                }
            }
            Some(b']') if !frame.object => {
                p.pos += 1;
                depth -= 1;
            }
            _ => return Err(resume),
        }
    }
}

/// The contents of the strings in `text` that hold escapes, found as a
/// lexer finds strings: a `"` outside a string opens one, and a `\`
/// escapes the byte after it; a string left open runs to the end. Where
/// [`walk`] parses, these are the strings (keys too) it reports escaped;
/// where it stops, the rest is searched as it is, so this finds more.
pub(super) fn escaped_strings(text: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        let start = pos + memchr::memchr(b'"', text.get(pos..)?)? + 1;
        let mut i = start;
        let mut escaped = false;
        let end = loop {
            match text
                .get(i..)
                .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
            {
                Some(at) if text.get(i + at) == Some(&b'"') => break i + at,
                Some(at) => {
                    escaped = true;
                    i += at + 2;
                }
                None => break text.len(),
            }
        };
        pos = end + 1;
        if escaped {
            return Some(start..end);
        }
    })
}

/// Decodes the JSON string contents `text[range]` into `out`. Invalid or
/// truncated escapes are kept as they are (the input may be cut anywhere).
pub(super) fn unescape(text: &[u8], range: Range<usize>, out: &mut Decoded) {
    out.clear();
    let mut i = range.start;
    while i < range.end {
        let Some(&b) = text.get(i) else { break };
        if b != b'\\' {
            out.push(b, i);
            i += 1;
            continue;
        }
        let simple = match text.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.push(decoded, i);
            i += 2;
            continue;
        }
        match unicode_escape(text, i, range.end) {
            Some((c, len)) => {
                let mut buf = [0; 4];
                for &byte in c.encode_utf8(&mut buf).as_bytes() {
                    out.push(byte, i);
                }
                i += len;
            }
            None => {
                out.push(b, i);
                i += 1;
            }
        }
    }
    out.finish(range.end);
}

/// `\uXXXX` (or a surrogate pair `\uD83D\uDE00`) at `i`: the character and
/// the escape's length. A lone surrogate decodes to U+FFFD.
fn unicode_escape(text: &[u8], i: usize, end: usize) -> Option<(char, usize)> {
    let unit = |at: usize| -> Option<u32> {
        if at + 6 > end || text.get(at..at + 2)? != b"\\u" {
            return None;
        }
        text.get(at + 2..at + 6)?
            .iter()
            .try_fold(0u32, |v, &b| Some(v << 4 | u32::from(super::keys::hex(b)?)))
    };
    let high = unit(i)?;
    if (0xD800..0xDC00).contains(&high) {
        if let Some(low) = unit(i + 6).filter(|low| (0xDC00..0xE000).contains(low)) {
            let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 12));
        }
    }
    Some((
        char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER),
        6,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{PiiType, TypeIdx};

    fn rules() -> KeyRules {
        KeyRules::new(TypeIdx::builtin, &[], &[])
    }

    /// Each scalar's text and the type its key redacts it as.
    type Scalars = Vec<(String, Option<PiiType>)>;

    fn tokens(json: &str) -> (Scalars, Result<(), Resume>) {
        let mut out = Vec::new();
        let result = walk(json.as_bytes(), &rules(), |t, ctx| {
            let range = match t {
                Token::Str(r, _) | Token::Num(r) => r,
                Token::Key(..) | Token::Close(..) => return,
            };
            let ty = match ctx {
                Ctx::Redact { ty, .. } => Some(PiiType::BUILTIN[usize::from(ty.0)].clone()),
                _ => None,
            };
            out.push((json[range].to_owned(), ty));
        });
        (out, result)
    }

    #[test]
    fn keys_give_their_values_a_rule() {
        let (found, result) = tokens(
            r#"{"user": {"name": "Jane", "tags": ["a", 1, true, null]},
                "password": {"old": "x", "new": ["y"]}, "n": -1.5e3, "e": {}, "l": []}"#,
        );
        assert_eq!(result, Ok(()));
        assert_eq!(
            found,
            [
                ("Jane".into(), Some(PiiType::Person)),
                ("a".into(), None),
                ("1".into(), None),
                ("x".into(), Some(PiiType::Password)),
                ("y".into(), Some(PiiType::Password)),
                ("-1.5e3".into(), None),
            ]
        );
    }

    #[test]
    fn escaped_quotes_and_keys() {
        let (found, result) = tokens(r#"{"a\"b": "c\\", "pass\u0077ord": "p\"w"}"#);
        assert_eq!(result, Ok(()));
        assert_eq!(
            found,
            [
                (r"c\\".into(), None),
                (r#"p\"w"#.into(), Some(PiiType::Password)),
            ]
        );
    }

    #[test]
    fn json_lines() {
        let (found, result) = tokens("{\"a\": \"1\"}\n{\"b\": \"2\"}\n");
        assert_eq!(result, Ok(()));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn truncated_and_malformed_resume_at_the_member() {
        let text = r#"{"a": "ok", "password": "hunt"#;
        let (found, result) = tokens(text);
        assert_eq!(found, [("ok".into(), None)]);
        let resume = result.unwrap_err();
        assert_eq!(&text[resume.at..], r#""password": "hunt"#);

        let text = r#"{"password": ["abc", "de"#;
        let resume = tokens(text).1.unwrap_err();
        assert_eq!(&text[resume.at..], r#""de"#);
        assert!(matches!(resume.ctx, Ctx::Redact { .. }));

        for bad in ["{'a': 1}", "{\"a\" 1}", "[1 2]", "nul", "{\"a\":1]", "x"] {
            assert!(tokens(bad).1.is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_stops_without_recursion() {
        let text = "[".repeat(100_000);
        let resume = tokens(&text).1.unwrap_err();
        assert_eq!(resume.at, MAX_DEPTH);
    }

    #[test]
    fn unescaping_maps_back_to_the_input() {
        let text = r#"a\u0040b\n\ud83d\ude00\u00e9\x"#;
        let mut out = Decoded::default();
        unescape(text.as_bytes(), 0..text.len(), &mut out);
        assert_eq!(
            String::from_utf8(out.text.clone()).unwrap(),
            "a@b\n\u{1F600}\u{e9}\\x"
        );
        assert_eq!(out.origin(1), 1); // `@` ← `\u0040`
        assert_eq!(out.origin(2), 7); // `b`
        assert_eq!(out.origin(4), 10); // the emoji's first byte ← `\ud83d`
        assert_eq!(out.origin(out.text.len()), text.len());
        // Truncated escapes stay literal.
        unescape(br"a\u00", 0..5, &mut out);
        assert_eq!(out.text, br"a\u00");
    }
}
