//! Request path normalisation and path matchers.
//!
//! Rules are written against one canonical spelling of a path; without
//! normalisation `/api/../admin` or `/%61dmin` would walk past a DENY on
//! `/admin*` while the backend still serves `/admin`.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::matcher::StringMatcher;
use crate::record::path_without_query;

/// Upper bound for a compiled `regex:` pattern and its lazy DFA cache, so a
/// hostile or careless pattern cannot exhaust the Wasm VM's memory.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The path that policy matching sees: query (`?…`) and fragment (`#…`)
/// removed, escapes of unreserved characters decoded and other escapes
/// upper-cased (`%2f` → `%2F`, never decoded: an encoded slash is data, not
/// a separator), a `%` that starts no valid escape written as `%25`, `//`
/// merged and `.`/`..` segments resolved (RFC 3986 §5.2.4; `..` stops at
/// the root). Borrowed when nothing changes, which is the common case.
/// Idempotent, so a rewritten path never normalises into something else.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let path = path_without_query(path);
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    let mut decoded = String::with_capacity(path.len());
    canonicalize_escapes(path, &mut decoded);
    Cow::Owned(resolve_dot_segments(&decoded))
}

/// Whether [`normalize_path`] would leave `path` unchanged: one pass over
/// its bytes (every request's path goes through here).
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    // Start of the current segment: after the last `/`, or 0.
    let mut segment = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' => {
                // An empty segment that ends at a `/` past the start is a `//`.
                if !is_plain_segment(bytes.get(segment..i).unwrap_or_default(), i > 0) {
                    return false;
                }
                segment = i + 1;
            }
            b'%' => match escape(path.get(i + 1..).unwrap_or("")) {
                Some((byte, hex))
                    if !is_unreserved(byte) && !hex.bytes().any(|b| b.is_ascii_lowercase()) =>
                {
                    i += 2;
                }
                _ => return false,
            },
            _ => {}
        }
        i += 1;
    }
    is_plain_segment(bytes.get(segment..).unwrap_or_default(), false)
}

/// Whether a segment needs no resolution: not `.` or `..`, and not empty
/// when `between_slashes`.
fn is_plain_segment(segment: &[u8], between_slashes: bool) -> bool {
    match segment {
        b"." | b".." => false,
        b"" => !between_slashes,
        _ => true,
    }
}

/// The byte encoded by the two hex digits at the start of `after` (the text
/// following a `%`) and those digits, or `None` if they are not hex.
fn escape(after: &str) -> Option<(u8, &str)> {
    let hex = after.get(..2)?;
    let mut digits = hex.bytes().map(hex_value);
    match (digits.next()?, digits.next()?) {
        (Some(high), Some(low)) => Some(((high << 4) | low, hex)),
        _ => None,
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved characters: percent-encoding them changes nothing.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `text` to `out` with escapes canonicalised (see
/// [`normalize_path`]). Returns false if some `%` started no valid escape.
fn canonicalize_escapes(text: &str, out: &mut String) -> bool {
    let mut valid = true;
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('%') {
        out.push_str(before);
        match escape(after) {
            Some((byte, _)) if is_unreserved(byte) => out.push(char::from(byte)),
            Some((_, hex)) => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            None => {
                valid = false;
                out.push_str("%25");
                rest = after;
                continue;
            }
        }
        rest = after.get(2..).unwrap_or("");
    }
    out.push_str(rest);
    valid
}

/// Merges empty segments and resolves `.` and `..`. A trailing slash is
/// kept, as is one produced by a final `.` or `..` (`/a/b/..` → `/a/`).
fn resolve_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    // Built as "/seg/seg" so `..` can cut back to the previous slash.
    let mut out = String::with_capacity(path.len() + 1);
    let mut trailing_slash = false;
    for segment in path.split('/') {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                out.truncate(out.rfind('/').unwrap_or(0));
                trailing_slash = true;
            }
            _ => {
                out.push('/');
                out.push_str(segment);
                trailing_slash = false;
            }
        }
    }
    if out.is_empty() {
        return if absolute { "/".into() } else { String::new() };
    }
    if trailing_slash {
        out.push('/');
    }
    if absolute {
        out
    } else {
        out.get(1..).unwrap_or_default().to_owned()
    }
}

/// One entry of `paths` / `notPaths`, matched against a normalised path.
#[derive(Debug)]
pub(crate) enum PathMatcher {
    Plain(StringMatcher),
    Template(Template),
    Regex(Regex),
}

/// `/api/{*}/orders/{**}`: literal segments, `{*}` for exactly one non-empty
/// segment, and optionally a final `{**}` for one or more characters of
/// remaining path.
#[derive(Debug)]
pub(crate) struct Template {
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug)]
enum Segment {
    Literal(Box<str>),
    One,
}

impl PathMatcher {
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        if let Some(re) = pattern.strip_prefix("regex:") {
            return compile_regex(re).map(Self::Regex);
        }
        if pattern.contains(['{', '}']) {
            return Template::parse(pattern).map(Self::Template);
        }
        StringMatcher::parse(pattern, canonical_literal).map(Self::Plain)
    }

    /// `path` must already be normalised by [`normalize_path`].
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Self::Plain(m) => m.matches(path),
            Self::Template(t) => t.matches(path),
            Self::Regex(re) => re.is_match(path),
        }
    }
}

/// Pattern text in the same escape spelling as a normalised path, so
/// `/%61dmin` and `/admin` or `%2f` and `%2F` mean the same in a rule.
fn canonical_literal(text: &str) -> Result<Box<str>, String> {
    let mut out = String::with_capacity(text.len());
    if canonicalize_escapes(text, &mut out) {
        Ok(out.into())
    } else {
        Err(format!(
            "`%` must start an escape of two hex digits (write a literal `%` as `%25`): `{text}`"
        ))
    }
}

fn compile_regex(re: &str) -> Result<Regex, String> {
    if re.is_empty() {
        return Err("empty regex".into());
    }
    let build = |pattern: &str| {
        RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
    };
    // Compiled bare first so syntax errors point into the operator's text.
    build(re)
        .and_then(|_| build(&format!("^(?:{re})$")))
        .map_err(|e| format!("invalid regex: {}", regex_problem(&e)))
}

/// The one-line gist of a regex error (syntax errors span several lines
/// with a caret diagram that is unreadable in a log line).
fn regex_problem(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix("error: "))
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_owned,
        )
}

impl Template {
    fn parse(pattern: &str) -> Result<Self, String> {
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(format!("a path template must start with `/`: `{pattern}`"));
        };
        let mut segments = Vec::new();
        let mut parts = body.split('/').peekable();
        while let Some(part) = parts.next() {
            match part {
                "{*}" => segments.push(Segment::One),
                "{**}" if parts.peek().is_none() => return Ok(Self { segments, rest: true }),
                "{**}" => return Err(format!("`{{**}}` must be the last segment: `{pattern}`")),
                _ if part.contains(['{', '}', '*']) => {
                    return Err(format!(
                        "`{{*}}` and `{{**}}` must each be a whole path segment, and no other `{{`, `}}` or `*` may appear in a template: `{pattern}`"
                    ))
                }
                _ => segments.push(Segment::Literal(canonical_literal(part)?)),
            }
        }
        Ok(Self {
            segments,
            rest: false,
        })
    }

    fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut ended = false;
        for segment in &self.segments {
            if ended {
                return false;
            }
            let part = match rest.split_once('/') {
                Some((part, tail)) => {
                    rest = tail;
                    part
                }
                None => {
                    ended = true;
                    std::mem::take(&mut rest)
                }
            };
            let ok = match segment {
                Segment::Literal(text) => part == &**text,
                Segment::One => !part.is_empty(),
            };
            if !ok {
                return false;
            }
        }
        if self.rest {
            !ended && !rest.is_empty()
        } else {
            ended
        }
    }
}

#[cfg(test)]
mod tests;
