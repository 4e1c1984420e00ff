//! Request path normalisation and path matchers.
//!
//! Rules are written against one canonical spelling of a path; without
//! normalisation `/api/../admin` or `/%61dmin` would walk past a DENY on
//! `/admin*` while the backend still serves `/admin`.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::matcher::StringMatcher;

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
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    let mut decoded = String::with_capacity(path.len());
    canonicalize_escapes(path, &mut decoded);
    Cow::Owned(resolve_dot_segments(&decoded))
}

/// Whether [`normalize_path`] would leave `path` unchanged.
fn is_normal(path: &str) -> bool {
    let mut rest = path;
    while let Some((_, after)) = rest.split_once('%') {
        match escape(after) {
            Some((byte, hex))
                if !is_unreserved(byte) && !hex.bytes().any(|b| b.is_ascii_lowercase()) =>
            {
                rest = after.get(2..).unwrap_or("");
            }
            _ => return false,
        }
    }
    !path.contains("//") && !path.split('/').any(|s| s == "." || s == "..")
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
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::borrow::Cow;

    use super::{normalize_path, PathMatcher};

    #[test]
    fn normalises_attack_spellings_to_the_same_path() {
        for raw in [
            "/admin",
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/%2E%2E/admin",
            "/api/.%2e/admin",
            "//admin",
            "///admin",
            "/./admin",
            "/api/./../admin",
            "/%61dmin",
            "/%61%64%6D%69%6e",
            "/../admin",
            "/../../x/../admin",
            "/admin?x=/../y",
            "/admin#frag",
        ] {
            assert_eq!(normalize_path(raw), "/admin", "{raw}");
        }
    }

    #[test]
    fn normalisation_table() {
        for (raw, want) in [
            ("/", "/"),
            ("", ""),
            ("/admin/", "/admin/"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a//b//", "/a/b/"),
            // Encoded slash stays data: one segment, never a separator.
            ("/api%2F..%2Fadmin", "/api%2F..%2Fadmin"),
            ("/api%2f..%2fadmin", "/api%2F..%2Fadmin"),
            ("/a/%2F/../b", "/a/b"),
            // Reserved and non-ASCII escapes are kept (hex upper-cased).
            ("/a%3ab%c3%a9", "/a%3Ab%C3%A9"),
            // No double decoding.
            ("/%252e%252e/admin", "/%252e%252e/admin"),
            // Unreserved punctuation is decoded.
            ("/%7euser/%5Fx%2D", "/~user/_x-"),
            // A `%` that starts no escape becomes `%25`.
            ("/%", "/%25"),
            ("/%4", "/%254"),
            ("/%zz", "/%25zz"),
            ("/%%41", "/%25A"),
            ("/%2%65", "/%252e"),
            ("/caf\u{e9}/%", "/caf\u{e9}/%25"),
            ("/%\u{e9}", "/%25\u{e9}"),
            ("/%4\u{e9}", "/%254\u{e9}"),
            ("/x?%zz", "/x"),
            ("?only-query", ""),
            ("a/./b/../c", "a/c"),
            ("../a", "a"),
            ("*", "*"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn borrows_when_nothing_changes() {
        for raw in [
            "/api/orders/42",
            "/a%2Fb",
            "/admin/",
            "/",
            "/x?q=%zz&y=/../",
            "/caf\u{e9}",
        ] {
            assert!(matches!(normalize_path(raw), Cow::Borrowed(_)), "{raw}");
        }
        assert!(matches!(normalize_path("/a%2fb"), Cow::Owned(_)));
    }

    /// Every string up to length 5 over an alphabet of the characters that
    /// matter: never panics, borrows exactly when unchanged, is idempotent
    /// and leaves no `//`, `.` or `..` in an absolute path.
    #[test]
    fn exhaustive_small_inputs() {
        const ALPHABET: [&str; 10] = ["/", ".", "%", "2", "e", "E", "f", "a", "\u{e9}", "?"];
        let mut inputs = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for c in ALPHABET {
                    next.push(format!("{prefix}{c}"));
                }
            }
            inputs.extend(next.iter().cloned());
            frontier = next;
        }
        for raw in &inputs {
            let once = normalize_path(raw);
            let stripped = raw.split('?').next().unwrap();
            assert_eq!(
                matches!(once, Cow::Borrowed(_)),
                *once == *stripped,
                "borrowed iff unchanged: {raw:?} -> {once:?}"
            );
            assert_eq!(normalize_path(&once), once, "idempotent: {raw:?}");
            if stripped.starts_with('/') {
                assert!(once.starts_with('/'), "{raw:?}");
                assert!(!once.contains("//"), "{raw:?} -> {once:?}");
                assert!(
                    !once.split('/').any(|s| s == "." || s == ".."),
                    "{raw:?} -> {once:?}"
                );
            }
        }
    }

    fn m(pattern: &str) -> PathMatcher {
        PathMatcher::parse(pattern).unwrap()
    }

    fn err(pattern: &str) -> String {
        PathMatcher::parse(pattern).unwrap_err()
    }

    #[test]
    fn plain_forms() {
        assert!(m("/healthz").matches("/healthz"));
        assert!(!m("/healthz").matches("/healthz/"));
        assert!(!m("/healthz").matches("/healthzz"));
        assert!(m("/static*").matches("/static"));
        assert!(m("/static*").matches("/static/app.js"));
        assert!(!m("/static*").matches("/api/static"));
        assert!(m("*.map").matches("/static/app.js.map"));
        assert!(!m("*.map").matches("/static/app.js"));
        assert!(m("*").matches("/"));
    }

    #[test]
    fn literals_compare_in_canonical_escape_spelling() {
        assert!(m("/%61dmin").matches("/admin"));
        assert!(m("/a%2fb").matches("/a%2Fb"));
        assert!(m("/a%2fb*").matches("/a%2Fb/c"));
        assert!(err("/a%2*").contains("escape"));
        assert!(err("/100%").contains("%25"));
    }

    #[test]
    fn single_segment_template() {
        let t = m("/api/orders/{*}");
        assert!(t.matches("/api/orders/42"));
        assert!(
            !t.matches("/api/orders/"),
            "{{*}} needs a non-empty segment"
        );
        assert!(!t.matches("/api/orders"));
        assert!(!t.matches("/api/orders/42/items"));
        assert!(!t.matches("/api/users/42"));
        let mid = m("/api/{*}/orders");
        assert!(mid.matches("/api/v1/orders"));
        assert!(!mid.matches("/api/v1/v2/orders"));
        assert!(!mid.matches("/api/v1/orders/"));
        assert!(m("/api/{*}/").matches("/api/v1/"));
        assert!(!m("/{*}").matches("relative"));
    }

    #[test]
    fn rest_template() {
        let t = m("/api/{*}/orders/{**}");
        assert!(t.matches("/api/v1/orders/42"));
        assert!(t.matches("/api/v1/orders/42/items/7"));
        assert!(t.matches("/api/v1/orders/42/"));
        assert!(
            !t.matches("/api/v1/orders/"),
            "{{**}} needs at least one character"
        );
        assert!(!t.matches("/api/v1/orders"));
        assert!(!t.matches("/api/v1/users/42"));
        assert!(m("/{**}").matches("/x"));
        assert!(!m("/{**}").matches("/"));
    }

    #[test]
    fn invalid_templates() {
        assert!(err("/api/{**}/x").contains("last segment"));
        assert!(err("/a{*}b").contains("whole path segment"));
        assert!(err("/a/{*}x").contains("whole path segment"));
        assert!(err("/a/{id}").contains("whole path segment"));
        assert!(err("/a/{*}/b*").contains("whole path segment"));
        assert!(err("/a/}").contains("whole path segment"));
        assert!(err("api/{*}").contains("start with `/`"));
        assert!(err("/a/{*}/%zz").contains("escape"));
    }

    #[test]
    fn invalid_plain_patterns() {
        assert_eq!(err(""), "empty pattern");
        assert!(err("/a*b").contains("first or last"));
        assert!(err("*a*").contains("first or last"));
    }

    #[test]
    fn regex_is_anchored() {
        let re = m("regex:/internal/v[0-9]+/.*");
        assert!(re.matches("/internal/v2/x"));
        assert!(
            !re.matches("/public/internal/v2/x"),
            "anchored at the start"
        );
        assert!(!m("regex:/a|/b").matches("/ab"), "alternation is grouped");
        assert!(m("regex:/a|/b").matches("/b"));
        assert!(!m("regex:/a").matches("/ab"), "anchored at the end");
        assert!(m("regex:^/internal/v[0-9]+/.*$").matches("/internal/v1/"));
    }

    #[test]
    fn invalid_regexes() {
        assert_eq!(err("regex:"), "empty regex");
        assert_eq!(err("regex:("), "invalid regex: unclosed group");
        assert!(err("regex:a)(b").starts_with("invalid regex: "));
        assert!(err(r"regex:\w{500}").contains("size limit"));
    }
}
