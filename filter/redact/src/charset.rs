//! Bodies in wide encodings: UTF-16 and UTF-32, which some receivers accept
//! (Jackson, Python's `json`), decoded so that the detectors see their text.

use std::borrow::Cow;

/// A body's text: UTF-8 (bytes that are not as U+FFFD), or decoded from
/// UTF-16 or UTF-32 when a byte-order mark, the `Content-Type`'s charset or
/// the zero bytes of its first four say it is one of those (RFC 4627's
/// rule, which Jackson and Python's `json` follow). Read as UTF-8, such a
/// body hides every value behind its zero bytes from a scan.
pub fn body_text<'b>(body: &'b [u8], content_type: &str) -> Cow<'b, str> {
    match wide(body, content_type) {
        Some(wide) => Cow::Owned(wide.decode(body)),
        // `str::from_utf8` first: in wasm32 its word-at-a-time ASCII path is
        // several times faster than `from_utf8_lossy`'s chunking.
        None => match std::str::from_utf8(body) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(body),
        },
    }
}

/// An encoding of more than one byte per ASCII character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wide {
    Utf16 { big_endian: bool },
    Utf32 { big_endian: bool },
}

/// The wide encoding a body is in, if it is in one (see [`body_text`]).
pub fn wide(body: &[u8], content_type: &str) -> Option<Wide> {
    if let Some(marked) = Wide::BY_MARK.into_iter().find(|wide| wide.marked(body)) {
        return Some(marked);
    }
    let charset = content_type
        .split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"').to_ascii_lowercase());
    match charset.as_deref() {
        // Without a mark, `UTF-16` and `UTF-32` are big-endian (RFC 2781).
        Some("utf-16" | "utf-16be") => return Some(Wide::Utf16 { big_endian: true }),
        Some("utf-16le") => return Some(Wide::Utf16 { big_endian: false }),
        Some("utf-32" | "utf-32be") => return Some(Wide::Utf32 { big_endian: true }),
        Some("utf-32le") => return Some(Wide::Utf32 { big_endian: false }),
        _ => {}
    }
    match *body.get(..4).unwrap_or_default() {
        [0, 0, 0, a] if a != 0 => Some(Wide::Utf32 { big_endian: true }),
        [a, 0, 0, 0] if a != 0 => Some(Wide::Utf32 { big_endian: false }),
        [0, a, 0, b] if a != 0 && b != 0 => Some(Wide::Utf16 { big_endian: true }),
        [a, 0, b, 0] if a != 0 && b != 0 => Some(Wide::Utf16 { big_endian: false }),
        _ => None,
    }
}

impl Wide {
    /// `body` as text; what does not decode becomes U+FFFD, a mark is
    /// dropped.
    pub fn decode(self, body: &[u8]) -> String {
        let mut text = match self {
            Wide::Utf16 { big_endian } => {
                let units = body.chunks(2).map(|pair| match *pair {
                    [a, b] if big_endian => u16::from_be_bytes([a, b]),
                    [a, b] => u16::from_le_bytes([a, b]),
                    _ => 0xFFFD,
                });
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect::<String>()
            }
            Wide::Utf32 { big_endian } => body
                .chunks(4)
                .map(|quad| {
                    let unit = match *quad {
                        [a, b, c, d] if big_endian => u32::from_be_bytes([a, b, c, d]),
                        [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
                        _ => 0xFFFD,
                    };
                    char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect(),
        };
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        text
    }

    /// `text` in this encoding, after a byte-order mark when `mark`.
    pub fn encode(self, text: &str, mark: bool) -> Vec<u8> {
        let mark = mark.then_some('\u{feff}');
        let chars = mark.into_iter().chain(text.chars());
        match self {
            Wide::Utf16 { big_endian } => chars
                .flat_map(|c| {
                    let mut units = [0u16; 2];
                    let n = c.encode_utf16(&mut units).len();
                    units.into_iter().take(n)
                })
                .flat_map(|unit| match big_endian {
                    true => unit.to_be_bytes(),
                    false => unit.to_le_bytes(),
                })
                .collect(),
            Wide::Utf32 { big_endian } => chars
                .flat_map(|c| match big_endian {
                    true => u32::from(c).to_be_bytes(),
                    false => u32::from(c).to_le_bytes(),
                })
                .collect(),
        }
    }

    /// Whether `body` starts with this encoding's byte-order mark.
    pub fn marked(self, body: &[u8]) -> bool {
        body.starts_with(self.mark())
    }

    /// Every encoding, in the order its byte-order mark is looked for: the
    /// longest first (UTF-32LE's begins as UTF-16LE's).
    const BY_MARK: [Wide; 4] = [
        Wide::Utf32 { big_endian: false },
        Wide::Utf32 { big_endian: true },
        Wide::Utf16 { big_endian: false },
        Wide::Utf16 { big_endian: true },
    ];

    fn mark(self) -> &'static [u8] {
        match self {
            Wide::Utf16 { big_endian: true } => &[0xFE, 0xFF],
            Wide::Utf16 { big_endian: false } => &[0xFF, 0xFE],
            Wide::Utf32 { big_endian: true } => &[0, 0, 0xFE, 0xFF],
            Wide::Utf32 { big_endian: false } => &[0xFF, 0xFE, 0, 0],
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::borrow::Cow;

    use super::{body_text, wide, Wide};

    #[test]
    fn a_decoded_body_encodes_back_to_its_bytes() {
        let text = "{\"n\": \"\u{e9}\u{1F600} x\"}";
        for wide in [
            Wide::Utf16 { big_endian: false },
            Wide::Utf16 { big_endian: true },
            Wide::Utf32 { big_endian: false },
            Wide::Utf32 { big_endian: true },
        ] {
            for mark in [false, true] {
                let bytes = wide.encode(text, mark);
                assert_eq!(wide.marked(&bytes), mark, "{wide:?}");
                assert_eq!(wide.decode(&bytes), text, "{wide:?} {mark}");
                assert_eq!(super::wide(&bytes, ""), Some(wide), "{wide:?} {mark}");
            }
        }
    }

    #[test]
    fn wide_bodies_are_decoded_by_mark_charset_or_zero_bytes() {
        // A 2-byte and a 4-byte character: a surrogate pair in UTF-16.
        let json = "{\"card\": \"4242 4242 4242 4242\", \"n\": \"\u{e9}\u{1F600}\"}";
        let le16: Vec<u8> = json.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be16: Vec<u8> = json.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le32: Vec<u8> = json
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        let be32: Vec<u8> = json
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        let marked = |mark: &[u8], body: &[u8]| [mark, body].concat();
        for (body, ct) in [
            (le16.clone(), ""),
            (be16.clone(), ""),
            (le32.clone(), ""),
            (be32.clone(), ""),
            (marked(&[0xFF, 0xFE], &le16), ""),
            (marked(&[0xFE, 0xFF], &be16), ""),
            (marked(&[0xFF, 0xFE, 0, 0], &le32), ""),
            (marked(&[0, 0, 0xFE, 0xFF], &be32), ""),
        ] {
            assert_eq!(body_text(&body, ct), json, "{:?}", body.get(..6));
        }
        // The charset decides where the zero bytes do not say (text that
        // does not start with ASCII).
        let text = "\u{4e2d} 078-05-1120";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(body_text(&le, "text/plain; charset=UTF-16LE"), text);
        assert_eq!(body_text(&be, "text/plain;charset=\"utf-16\""), text);
        // UTF-8 stays as it is, without a copy; other bytes become U+FFFD.
        assert!(matches!(body_text(json.as_bytes(), ""), Cow::Borrowed(_)));
        assert!(matches!(body_text(b"", "text/plain"), Cow::Borrowed("")));
        assert_eq!(wide(b"a\0", ""), None);
        // An odd byte left over decodes as U+FFFD.
        assert_eq!(body_text(&[b'a', 0, b'b', 0, b'c'], ""), "ab\u{fffd}");
    }
}
