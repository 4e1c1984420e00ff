//! `+` and `%XX` are decoded before the validators, in form bodies, query
//! strings and URLs logged in text, and findings map back onto the
//! encoded bytes.

mod support;

use observatory_redact::Content;
use support::{found, pairs, redacted};

const FIELDS: &str =
    "card=4111+1111+1111+1111&iban=DE89+3704+0044+0532+0130+00&phone=%2B49+30+1234567&q=red+shoes";

fn expected() -> Vec<(String, String)> {
    pairs(&[
        ("4111+1111+1111+1111", "CREDIT_CARD"),
        ("DE89+3704+0044+0532+0130+00", "IBAN"),
        ("%2B49+30+1234567", "PHONE"),
    ])
}

#[test]
fn form_bodies_and_query_strings() {
    assert_eq!(found(FIELDS, Content::Form), expected());
    assert_eq!(found(&format!("/pay?{FIELDS}"), Content::Query), expected());
}

#[test]
fn urls_in_log_lines() {
    let line = format!("10.0.0.1 - - \"GET /pay?{FIELDS} HTTP/1.1\" 200 512");
    let mut want = pairs(&[("10.0.0.1", "IPV4")]);
    want.extend(expected());
    assert_eq!(found(&line, Content::Text), want);
    let out = redacted(&line, Content::Text);
    assert!(
        out.contains(
            "card=[REDACTED:CREDIT_CARD]&iban=[REDACTED:IBAN]&phone=[REDACTED:PHONE]&q=red+shoes"
        ),
        "{out}"
    );
}
