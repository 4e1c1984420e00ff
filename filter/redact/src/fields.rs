//! A value redacted for an audit record: its findings counted into the
//! record's `redactions`, and nothing kept that was not scanned. The filter
//! builds records so, and the collector re-redacts their fields so.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{Content, Finding, Redacted, Redactor};

/// Ends a recorded value whose rest was past `maxScanBytes`, or past where
/// its scan stopped being complete ([`Redacted::truncated`]).
pub const TRUNCATED: &str = "[TRUNCATED]";

/// `input` redacted as `content` for a record, its findings counted into
/// `counts`. What lies past `maxScanBytes` was not scanned (nor what lies
/// past where the scan stopped being complete, [`Redacted::scanned`]), so
/// it is not kept either: the value is cut there (see [`cut_point`]) and
/// ends in [`TRUNCATED`].
pub fn redact_field<'a>(
    redactor: &Redactor,
    input: &'a str,
    content: Content<'_>,
    counts: &mut BTreeMap<String, u32>,
) -> Cow<'a, str> {
    let out = redactor.redact(input, content);
    out.count_into(counts);
    if !out.truncated {
        return out.text;
    }
    let scanned = out.scanned();
    Cow::Owned(excerpt(&out, input, scanned, scanned))
}

/// The first `max` bytes of a body, redacted as `content_type`, its
/// findings counted into `counts`. `raw` may be longer than `max`, so that
/// a value across the cut is still found whole and not kept in part; it
/// is taken to be the start of a longer body when it is longer than `max`.
/// A cut body ends in [`TRUNCATED`]. Not UTF-8 bytes are replaced by
/// U+FFFD. A UTF-8 body without findings that needs no cut is returned in
/// its own buffer.
pub fn redact_body(
    redactor: &Redactor,
    raw: Vec<u8>,
    content_type: &str,
    max: usize,
    counts: &mut BTreeMap<String, u32>,
) -> String {
    let text = match super::charset::wide(&raw, content_type) {
        Some(wide) => wide.decode(&raw),
        None => String::from_utf8(raw)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    };
    let out = redactor.redact(&text, Content::Auto(content_type));
    out.count_into(counts);
    let scanned = out.scanned();
    if text.len() <= max && !out.truncated {
        return match out.text {
            Cow::Owned(redacted) => redacted,
            Cow::Borrowed(_) => text,
        };
    }
    excerpt(&out, &text, max.min(scanned), scanned)
}

/// The redacted text of `input` for a record: whole (borrowed) when the
/// scan was complete, else cut where it stopped being so and ended by
/// [`TRUNCATED`].
pub fn scanned_text<'r>(redacted: &'r Redacted<'_>, input: &str) -> Cow<'r, str> {
    if redacted.truncated {
        Cow::Owned(excerpt(
            redacted,
            input,
            redacted.scanned(),
            redacted.scanned(),
        ))
    } else {
        Cow::Borrowed(&redacted.text)
    }
}

/// `redacted` (of `input`) up to input position `max` at most, cut where
/// [`cut_point`] says and ended by [`TRUNCATED`]; `seen` is where the
/// scan of `input` ended.
fn excerpt(redacted: &Redacted<'_>, input: &str, max: usize, seen: usize) -> String {
    let at = cut_point(input, &redacted.findings, max, seen);
    let end = redacted.output_position(at);
    let mut text = redacted.text.get(..end).unwrap_or_default().to_owned();
    text.push_str(TRUNCATED);
    text
}

/// Where a value redacted with `findings` may be cut at or before `max`
/// without keeping the head of a value that would have been redacted
/// whole: before a finding across the cut, and before a token across the
/// cut whose end was not seen (the scan stopped at `seen` inside it) when
/// it could be the head of a value (it holds a digit or `@`, or starts like
/// a JWT): `DE89 3704 0044 05|` is dropped, a long run of letters is not.
pub fn cut_point(input: &str, findings: &[Finding], max: usize, seen: usize) -> usize {
    let bytes = input.as_bytes();
    let mut at = max.min(input.len());
    while !input.is_char_boundary(at) {
        at -= 1;
    }
    if let Some(f) = findings.iter().find(|f| f.start < at && at < f.end) {
        at = f.start;
    }
    let token = |b: &u8| !b.is_ascii_whitespace() && !b"\"',;&<>(){}[]=:".contains(b);
    let start = at
        - bytes
            .get(..at)
            .map_or(0, |b| b.iter().rev().take_while(|b| token(b)).count());
    let end = at
        + bytes
            .get(at..seen)
            .map_or(0, |b| b.iter().take_while(|b| token(b)).count());
    let head = bytes.get(start..end).unwrap_or_default();
    let value_like =
        head.iter().any(|b| b.is_ascii_digit() || *b == b'@') || head.starts_with(b"eyJ");
    if start < at && end >= seen && value_like {
        at = start;
        // And the groups before it of a grouped value (`GB82 WEST 12|34`):
        // short runs of digits and capitals, one separator apart.
        while let Some(sep) = at.checked_sub(1).and_then(|i| bytes.get(i)) {
            let group = bytes.get(..at - 1).map_or(0, |b| {
                b.iter()
                    .rev()
                    .take_while(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                    .count()
            });
            let bounded = bytes
                .get((at - 1 - group).wrapping_sub(1))
                .is_none_or(|b| !b.is_ascii_alphanumeric());
            if !b" -".contains(sep) || !(2..=6).contains(&group) || !bounded {
                break;
            }
            at -= group + 1;
        }
        if let Some(f) = findings.iter().find(|f| f.start < at && at < f.end) {
            at = f.start;
        }
    }
    at
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

/// An already redacted text (a body a DLP scan rewrote whole) cut to at
/// most `max` bytes for a record: before the token across the cut (so no
/// replacement is kept in part), ended by [`TRUNCATED`]; as it is when it
/// fits.
pub fn cut_redacted(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut at = cut_point(&text, &[], max, max);
    // Inside a replacement (`[REDACTED:CRE|DIT_CARD]`): before it.
    let recent = text
        .as_bytes()
        .get(at.saturating_sub(64)..at)
        .unwrap_or_default();
    if let Some(open) = recent.iter().rposition(|&b| b == b'[') {
        if !recent.get(open..).unwrap_or_default().contains(&b']') {
            at = at - recent.len() + open;
        }
    }
    let mut text = cut(text, at);
    text.push_str(TRUNCATED);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("aüb".to_owned(), 2), "a");
        assert_eq!(cut("aüb".to_owned(), 3), "aü");
        assert_eq!(cut("ab".to_owned(), 5), "ab");
    }
}
