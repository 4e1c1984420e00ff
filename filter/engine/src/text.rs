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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{lossy, number, text};

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
