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
