//! `application/x-www-form-urlencoded` bodies, query strings and cookie
//! headers: `name=value` fields, and percent-decoding that remembers where
//! each decoded byte came from.

use std::ops::Range;

use super::decode::Decoded;
use super::keys::hex;

/// `(name, value)` ranges of the fields in `text[range]`, separated by
/// `sep` (`&` for forms and queries, `;` for cookies). Spaces around a
/// field and the quotes of a quoted cookie value are not part of it; a
/// field without `=` has an empty name.
pub(super) fn fields(
    text: &[u8],
    range: Range<usize>,
    sep: u8,
) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let mut start = range.start;
    let end = range.end.min(text.len());
    std::iter::from_fn(move || {
        if start > end {
            return None;
        }
        let rest = text.get(start..end)?;
        let len = memchr::memchr(sep, rest).unwrap_or(rest.len());
        let field = trim(text, start..start + len);
        start += len + 1;
        Some(field)
    })
    .filter(|field| !field.is_empty())
    .map(move |field| {
        let bytes = text.get(field.clone()).unwrap_or_default();
        match memchr::memchr(b'=', bytes) {
            Some(eq) => {
                let value = field.start + eq + 1..field.end;
                let quoted = text
                    .get(value.clone())
                    .is_some_and(|v| v.len() >= 2 && v.starts_with(b"\"") && v.ends_with(b"\""));
                let value = if quoted {
                    value.start + 1..value.end - 1
                } else {
                    value
                };
                (field.start..field.start + eq, value)
            }
            None => (field.start..field.start, field),
        }
    })
}

fn trim(text: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && text.get(range.start) == Some(&b' ') {
        range.start += 1;
    }
    while range.end > range.start && text.get(range.end - 1) == Some(&b' ') {
        range.end -= 1;
    }
    range
}

/// Percent-decodes `text[range]` into `out` (`+` is a space when `plus`,
/// as in forms but not in cookies); `origin` maps a position in `text` to
/// its position in the original input. Invalid escapes stay as they are.
pub(super) fn percent_decode(
    text: &[u8],
    range: Range<usize>,
    plus: bool,
    origin: impl Fn(usize) -> usize,
    out: &mut Decoded,
) {
    out.clear();
    let mut i = range.start;
    while i < range.end {
        let Some(&b) = text.get(i) else { break };
        let escaped = (b == b'%' && i + 2 < range.end)
            .then(|| Some(hex(*text.get(i + 1)?)? << 4 | hex(*text.get(i + 2)?)?))
            .flatten();
        match escaped {
            Some(decoded) => {
                out.push(decoded, origin(i));
                i += 3;
            }
            None => {
                out.push(if plus && b == b'+' { b' ' } else { b }, origin(i));
                i += 1;
            }
        }
    }
    out.finish(origin(range.end));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn split(text: &str, sep: u8) -> Vec<(&str, &str)> {
        fields(text.as_bytes(), 0..text.len(), sep)
            .map(|(n, v)| (&text[n], &text[v]))
            .collect()
    }

    #[test]
    fn form_fields() {
        assert_eq!(
            split("a=1&b=&&c&d=x=y", b'&'),
            [("a", "1"), ("b", ""), ("", "c"), ("d", "x=y")]
        );
        assert_eq!(split("", b'&'), []);
    }

    #[test]
    fn cookie_fields() {
        assert_eq!(
            split(r#"sid=abc; theme="dark mode";  x=1 "#, b';'),
            [("sid", "abc"), ("theme", "dark mode"), ("x", "1")]
        );
    }

    #[test]
    fn decoding_keeps_origins() {
        let text = b"x=jane%40ex+ample%zz";
        let mut out = Decoded::default();
        percent_decode(text, 2..text.len(), true, |i| i, &mut out);
        assert_eq!(out.text, b"jane@ex ample%zz");
        // `@` came from the `%` at 6; the byte after it from 9.
        assert_eq!(out.origin(4), 6);
        assert_eq!(out.origin(5), 9);
        assert_eq!(out.origin(out.text.len()), text.len());
        percent_decode(b"a+b%2", 0..5, false, |i| i + 100, &mut out);
        assert_eq!(out.text, b"a+b%2");
        assert_eq!(out.origin(0), 100);
    }
}
