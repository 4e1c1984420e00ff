//! Addresses with non-ASCII local parts, and addresses written directly
//! against CJK text or inside typographic quotes.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn non_ascii_local_parts() {
    assert_eq!(
        found("Kontakt: jörg.müller@example.de, danke", Content::Text),
        pairs(&[("jörg.müller@example.de", "EMAIL")])
    );
    assert_eq!(
        found(r#"{"m": "j\u00f6rg@example.de"}"#, Content::Json),
        pairs(&[(r"j\u00f6rg@example.de", "EMAIL")])
    );
}

#[test]
fn addresses_against_cjk_text_and_quotes() {
    assert_eq!(
        found(
            "連絡先はtaro@example.jpです。メールはhanako.sato@example.co.jpまで",
            Content::Text
        ),
        pairs(&[
            ("taro@example.jp", "EMAIL"),
            ("hanako.sato@example.co.jp", "EMAIL")
        ])
    );
    assert_eq!(
        found("write to “jane@example.com” — thanks", Content::Text),
        pairs(&[("jane@example.com", "EMAIL")])
    );
    assert_eq!(
        found("担当: 佐藤@example.jp", Content::Text),
        pairs(&[("佐藤@example.jp", "EMAIL")])
    );
}
