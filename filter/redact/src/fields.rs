//! A value redacted for an audit record: its findings counted into the
//! record's `redactions`, and nothing kept that was not scanned. The filter
//! builds records so, and the collector re-redacts their fields so.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{Content, Redactor};

/// Ends a recorded value whose rest was past `maxScanBytes`.
pub const TRUNCATED: &str = "[TRUNCATED]";

/// `input` redacted as `content` for a record, its findings counted into
/// `counts`. What lies past `maxScanBytes` was not scanned, so it is not
/// kept either: it is replaced by [`TRUNCATED`].
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
    // The output ends with the unscanned rest of the input, as it was.
    let rest = input.len() - redactor.scan_end(input);
    let mut text = out.text.into_owned();
    text.truncate(text.len() - rest);
    text.push_str(TRUNCATED);
    Cow::Owned(text)
}

/// The first `max` bytes of a body, redacted as `content_type`, its
/// findings counted into `counts`. `raw` may be longer than `max`, so that
/// a value across the cut is still found whole and not kept in part. Not
/// UTF-8 bytes are replaced by U+FFFD. A UTF-8 body without findings is
/// returned in its own buffer.
pub fn redact_body(
    redactor: &Redactor,
    raw: Vec<u8>,
    content_type: &str,
    max: usize,
    counts: &mut BTreeMap<String, u32>,
) -> String {
    let text = String::from_utf8(raw)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let content = Content::Auto(content_type);
    let redacted = match redact_field(redactor, &text, content, counts) {
        Cow::Owned(redacted) => Some(redacted),
        Cow::Borrowed(_) => None,
    };
    cut(redacted.unwrap_or(text), max)
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
