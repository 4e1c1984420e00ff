//! Key names in other languages and scripts have the rules of their
//! English counterparts: `Passwort`, `pin`, `Teléfono`, `vorname` and, glued
//! to the text before them as CJK writes them, `電話` and `パスワード`.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn password_keys() {
    assert_eq!(
        found("Passwort: s3cr3t-c2cbf238", Content::Text),
        pairs(&[("s3cr3t-c2cbf238", "PASSWORD")])
    );
    assert_eq!(
        found(r#"{"pin": 2311, "contraseña": "hunter2"}"#, Content::Json),
        pairs(&[("2311", "PASSWORD"), ("hunter2", "PASSWORD")])
    );
}

#[test]
fn phone_and_name_keys() {
    assert_eq!(
        found("Teléfono: 612-345-678", Content::Text),
        pairs(&[("612-345-678", "PHONE")])
    );
    assert_eq!(
        found(
            r#"{"vorname": "Jürgen", "nachname": "Weber"}"#,
            Content::Json
        ),
        pairs(&[("Jürgen", "PERSON"), ("Weber", "PERSON")])
    );
}

#[test]
fn cjk_labels_glued_to_the_text() {
    assert_eq!(
        found(
            "お問い合わせありがとうございます。連絡先はfkato@example.netです。電話: 82-4620-7387",
            Content::Text
        ),
        pairs(&[("fkato@example.net", "EMAIL"), ("82-4620-7387", "PHONE")])
    );
    assert_eq!(
        found("新しいパスワード: hunter2", Content::Text),
        pairs(&[("hunter2", "PASSWORD")])
    );
}
