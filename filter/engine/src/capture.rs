//! What an audit record keeps of a request beyond its facts — the query,
//! the headers named in `recordHeaders`, body excerpts (`recordBodies`) —
//! always redacted before the record is queued, with the findings counted
//! into the record's `redactions`.

use std::collections::BTreeMap;

use observatory_redact::fields::{cut, cut_redacted, redact_body, redact_field};
use observatory_redact::{Content, Redacted, Redactor};
use serde::Deserialize;

use crate::error::{in_range, ConfigError};

const DEFAULT_EXCERPT_BYTES: usize = 1024;
const MAX_EXCERPT_BYTES: usize = 64 * 1024;
/// Bytes read past an excerpt's end, so a value that straddles the cut is
/// still seen whole by the detectors (and not kept half-redacted).
pub const EXCERPT_MARGIN: usize = 256;

/// `recordBodies`: `{"maxBytes": 1024}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
pub(crate) struct RawBodies {
    max_bytes: Option<usize>,
}

/// The compiled `recordHeaders` / `recordBodies`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Lowercase request header names whose (redacted) values are recorded.
    pub headers: Vec<String>,
    /// Bytes of each body kept in the record; `None`: bodies not recorded.
    pub body_bytes: Option<usize>,
}

impl Capture {
    pub(crate) fn compile(
        headers: Vec<String>,
        bodies: Option<RawBodies>,
    ) -> Result<Capture, ConfigError> {
        let mut names: Vec<String> = Vec::with_capacity(headers.len());
        for (i, name) in headers.into_iter().enumerate() {
            let name = name.to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(crate::error::is_token_char) {
                return Err(ConfigError::new(
                    format!("recordHeaders[{i}]"),
                    format!("not a valid HTTP header name: `{name}`"),
                ));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let body_bytes = bodies
            .map(|b| {
                in_range(
                    "recordBodies.maxBytes",
                    b.max_bytes.unwrap_or(DEFAULT_EXCERPT_BYTES),
                    16,
                    MAX_EXCERPT_BYTES,
                )
            })
            .transpose()?;
        Ok(Capture {
            headers: names,
            body_bytes,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.body_bytes.is_none()
    }

    /// Whether `name` (lowercase, as Envoy hands headers over) is recorded.
    pub fn records_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    /// Bytes of a body to read for its excerpt: the excerpt and its margin.
    pub fn body_read_bytes(&self) -> usize {
        self.body_bytes.map_or(0, |n| n + EXCERPT_MARGIN)
    }
}

/// One body's excerpt while the request runs: raw bytes from the chunks
/// (redacted when the record is built), or the text an in-flight scan of
/// the whole body already redacted.
#[derive(Debug, Default)]
pub struct Excerpt {
    raw: Vec<u8>,
    redacted: Option<String>,
    want: usize,
}

impl Excerpt {
    /// Collects up to `want` bytes ([`Capture::body_read_bytes`]).
    pub fn new(want: usize) -> Self {
        Excerpt {
            raw: Vec::new(),
            redacted: None,
            want,
        }
    }

    /// Bytes still wanted from the next chunk.
    pub fn wanted(&self) -> usize {
        if self.redacted.is_some() {
            0
        } else {
            self.want.saturating_sub(self.raw.len())
        }
    }

    /// Keeps what is still wanted of a chunk; the first chunk's buffer is
    /// kept as it is, not copied.
    pub fn push(&mut self, mut bytes: Vec<u8>) {
        let n = bytes.len().min(self.wanted());
        if self.raw.is_empty() {
            bytes.truncate(n);
            self.raw = bytes;
        } else {
            self.raw
                .extend_from_slice(bytes.get(..n).unwrap_or_default());
        }
    }

    /// Whether the record keeps an excerpt of this body at all.
    pub fn is_recorded(&self) -> bool {
        self.want > 0
    }

    /// The whole body was scanned and redacted: keep (the start of) that.
    pub fn set_redacted(&mut self, text: &str) {
        if self.is_recorded() {
            self.raw = Vec::new();
            self.redacted = Some(cut(text.to_owned(), self.want));
        }
    }
}

/// Redacts the parts of one request's record and counts what it found.
pub struct RecordRedaction<'r> {
    redactor: &'r Redactor,
    counts: BTreeMap<String, u32>,
}

impl<'r> RecordRedaction<'r> {
    pub fn new(redactor: &'r Redactor) -> Self {
        RecordRedaction {
            redactor,
            counts: BTreeMap::new(),
        }
    }

    /// The path without its query, with PII in its segments redacted
    /// (`/users/jane@example.com` → `/users/[REDACTED:EMAIL]`).
    pub fn path(&mut self, path: &str) -> String {
        let path = crate::record::path_without_query(path);
        self.text(path, Content::Text)
    }

    /// The query string of a `:path` (without `?` and fragment), redacted
    /// per parameter; empty without one.
    pub fn query(&mut self, path: &str) -> String {
        let Some((_, query)) = path.split_once('?') else {
            return String::new();
        };
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        self.text(query, Content::Query)
    }

    pub fn header(&mut self, name: &str, value: &str) -> String {
        self.text(value, Content::Header(name))
    }

    /// The first `max` bytes of a body (`raw` may hold up to
    /// [`EXCERPT_MARGIN`] more, so a value across the cut is still found),
    /// redacted as `content_type`: see [`redact_body`].
    pub fn body(&mut self, raw: Vec<u8>, content_type: &str, max: usize) -> String {
        redact_body(self.redactor, raw, content_type, max, &mut self.counts)
    }

    /// The record's text of a body excerpt, cut to `max` bytes (and
    /// marked so when it was cut).
    pub fn excerpt(&mut self, excerpt: Excerpt, content_type: &str, max: usize) -> String {
        match excerpt.redacted {
            Some(text) => cut_redacted(text, max),
            None if excerpt.raw.is_empty() => String::new(),
            None => self.body(excerpt.raw, content_type, max),
        }
    }

    /// Adds findings made elsewhere for this request (a DLP scan).
    pub fn add(&mut self, redacted: &Redacted<'_>) {
        redacted.count_into(&mut self.counts);
    }

    /// The record's `redactions`.
    pub fn finish(self) -> BTreeMap<String, u32> {
        self.counts
    }

    fn text(&mut self, input: &str, content: Content<'_>) -> String {
        redact_field(self.redactor, input, content, &mut self.counts).into_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::borrow::Cow;

    use observatory_redact::fields::TRUNCATED;
    use observatory_redact::RedactionConfig;

    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionConfig::default()).unwrap()
    }

    #[test]
    fn path_query_headers_and_bodies_are_redacted_and_counted() {
        let r = redactor();
        let mut rr = RecordRedaction::new(&r);
        let path = "/users/jane@example.com/orders?page=2&email=joe%40example.com&card=4242424242424242#top";
        assert_eq!(rr.path(path), "/users/[REDACTED:EMAIL]/orders");
        assert_eq!(
            rr.query(path),
            "page=2&email=[REDACTED:EMAIL]&card=[REDACTED:CREDIT_CARD]"
        );
        assert_eq!(rr.query("/plain"), "");
        assert_eq!(
            rr.header("authorization", "Bearer abcdefghijklmnopqrstuvwxyz012345"),
            "Bearer [REDACTED:PASSWORD]"
        );
        assert_eq!(
            rr.header("referer", "https://shop.example/a"),
            "https://shop.example/a"
        );
        let body = br#"{"note": "call +1 415 555 0123", "sku": "A-1"}"#;
        assert_eq!(
            rr.body(body.to_vec(), "application/json", 1000),
            r#"{"note": "call [REDACTED:PHONE]", "sku": "A-1"}"#
        );
        let counts: Vec<_> = rr.finish().into_iter().collect();
        assert_eq!(
            counts,
            [
                ("CREDIT_CARD".to_owned(), 1),
                ("EMAIL".to_owned(), 2),
                ("PASSWORD".to_owned(), 1),
                ("PHONE".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_value_across_the_excerpt_cut_is_not_kept_in_part() {
        let r = redactor();
        let mut rr = RecordRedaction::new(&r);
        // The card starts 10 bytes before the cut (at 40); no digit survives.
        let body = format!("{} 4242 4242 4242 4242 tail", "x".repeat(29));
        let excerpt = rr.body(body.into_bytes(), "text/plain", 40);
        assert_eq!(excerpt, format!("{} {TRUNCATED}", "x".repeat(29)));
        assert!(!excerpt.contains("4242"));
    }

    #[test]
    fn excerpts_collect_what_is_wanted_and_prefer_scanned_text() {
        let r = redactor();
        let mut e = Excerpt::new(8);
        e.push(b"mail".to_vec());
        e.push(b" a@b.example".to_vec());
        assert_eq!(e.wanted(), 0);
        e.push(b".example".to_vec());
        let mut rr = RecordRedaction::new(&r);
        assert_eq!(rr.excerpt(e, "", 4), format!("mail{TRUNCATED}"));
        let mut e = Excerpt::new(30);
        e.push(b"raw 4242 4242 4242 4242".to_vec());
        e.set_redacted("scanned [REDACTED:CREDIT_CARD] and more text beyond");
        assert_eq!(e.wanted(), 0);
        // Cut before the replacement, not inside it.
        assert_eq!(rr.excerpt(e, "", 20), format!("scanned {TRUNCATED}"));
        assert_eq!(rr.excerpt(Excerpt::new(0), "", 20), "");
        assert!(rr.finish().is_empty());
    }

    #[test]
    fn nothing_past_the_scan_limit_is_kept() {
        let r = Redactor::new(
            &serde_json::from_str::<RedactionConfig>(r#"{"maxScanBytes": 1024}"#).unwrap(),
        )
        .unwrap();
        let mut counts = BTreeMap::new();
        let input = format!("a@b.example {}é jane@example.com", "x".repeat(1010));
        let out = redact_field(&r, &input, Content::Text, &mut counts);
        assert!(out.starts_with("[REDACTED:EMAIL] xxx"), "{out}");
        assert!(out.ends_with(&format!("xé{TRUNCATED}")), "{out}");
        assert!(!out.contains("jane"));
        assert_eq!(counts["EMAIL"], 1);
        // Short values come back as they are, borrowed.
        let out = redact_field(&r, "plain", Content::Text, &mut counts);
        assert!(matches!(out, Cow::Borrowed("plain")));
        let mut rr = RecordRedaction::new(&r);
        let long_query = format!("/a?q={}&email=jane%40example.com", "y".repeat(2000));
        assert!(rr.query(&long_query).ends_with(TRUNCATED));
    }

    #[test]
    fn header_names_are_checked_and_lowercased() {
        let c = Capture::compile(vec!["Referer".into(), "referer".into()], None).unwrap();
        assert_eq!(c.headers, ["referer"]);
        assert!(c.records_header("referer"));
        assert_eq!(c.body_read_bytes(), 0);
        let e = Capture::compile(vec!["a b".into()], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "recordHeaders[0]: not a valid HTTP header name: `a b`"
        );
        let c = Capture::compile(vec![], Some(RawBodies::default())).unwrap();
        assert_eq!(c.body_bytes, Some(1024));
        assert_eq!(c.body_read_bytes(), 1024 + EXCERPT_MARGIN);
    }
}
