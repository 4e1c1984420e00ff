//! What the behaviour tests share: the default engine and its findings as
//! `(text, type)` pairs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_redact::{Content, RedactionConfig, Redactor};

pub fn redactor() -> Redactor {
    Redactor::new(&RedactionConfig::default()).unwrap()
}

/// `(matched text, type)` of every finding.
pub fn found(input: &str, content: Content<'_>) -> Vec<(String, String)> {
    let out = redactor().redact(input, content);
    out.findings
        .iter()
        .map(|f| (input[f.start..f.end].to_owned(), f.kind.to_string()))
        .collect()
}

/// `[(text, type)]` from string pairs.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
        .collect()
}

/// The redacted text.
pub fn redacted(input: &str, content: Content<'_>) -> String {
    redactor().redact(input, content).text.into_owned()
}

/// Every kind of content the walkers take, for property tests.
pub fn contents() -> impl proptest::strategy::Strategy<Value = Content<'static>> {
    proptest::sample::select(vec![
        Content::Json,
        Content::Form,
        Content::Query,
        Content::Text,
        Content::Header("authorization"),
        Content::Header("cookie"),
        Content::Header("x-forwarded-for"),
        Content::Auto("application/json"),
        Content::Auto("text/plain"),
    ])
}
