//! Header values and bodies as the filter reads them: bytes from Envoy,
//! kept as text (U+FFFD for what is not UTF-8) or parsed as numbers.

use std::borrow::Cow;

/// A header value as text; bytes that are not UTF-8 become U+FFFD.
pub fn text(value: &[u8]) -> String {
    lossy(value).into_owned()
}

/// `bytes` as text, bytes that are not UTF-8 as U+FFFD. Validates with
/// `str::from_utf8` first: in wasm32 its word-at-a-time ASCII path is several
/// times faster than `from_utf8_lossy`'s chunking, which only the rare
/// invalid input needs.
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A header value as a number, `None` unless it is one.
pub fn number<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether a `Content-Encoding` value says the body is not its text: a
/// coding other than `identity`. An empty value or list codes nothing (a
/// receiver reads such a body as it is), so it must not make DLP pass a body
/// unscanned.
pub fn is_coded(value: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|coding| {
        let coding = coding.trim_ascii();
        !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity")
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{is_coded, lossy, number, text};

    #[test]
    fn a_coding_other_than_identity_codes_the_body() {
        for coded in [
            &b"gzip"[..],
            b"br",
            b"identity, gzip",
            b" x-custom ",
            b"GZIP",
        ] {
            assert!(is_coded(coded), "{:?}", String::from_utf8_lossy(coded));
        }
        for plain in [
            &b""[..],
            b" ",
            b"identity",
            b"IDENTITY",
            b" identity ,",
            b",",
        ] {
            assert!(!is_coded(plain), "{:?}", String::from_utf8_lossy(plain));
        }
    }

    #[test]
    fn keeps_utf8_and_replaces_the_rest() {
        assert_eq!(text("caf\u{e9} /x".as_bytes()), "caf\u{e9} /x");
        assert!(matches!(lossy(b"plain"), Cow::Borrowed("plain")));
        assert_eq!(text(b"a\xffb\xc3"), "a\u{fffd}b\u{fffd}");
        assert_eq!(lossy(b""), "");
        assert_eq!(number::<u64>(b"4096"), Some(4096));
        assert_eq!(number::<u64>(b"4k"), None);
    }
}
