//! A value cut for a record (a body excerpt at `recordBodies.maxBytes`, a
//! field at `maxScanBytes`) never keeps the head of a value the whole value
//! would have been redacted for, and every cut is marked `[TRUNCATED]`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use observatory_redact::fields::{redact_body, redact_field, TRUNCATED};
use observatory_redact::{Content, RedactionConfig, Redactor};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJNYXJpYSBTY2huZWlkZXIiLCJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVzLWZvci1hLXRlc3Q";

fn body(redactor: &Redactor, raw: &str, max: usize) -> String {
    redact_body(
        redactor,
        raw.as_bytes().to_vec(),
        "text/plain",
        max,
        &mut BTreeMap::new(),
    )
}

#[test]
fn a_value_across_the_end_of_what_was_read_is_dropped() {
    let r = Redactor::new(&RedactionConfig::default()).unwrap();
    // What the filter reads: the excerpt (64 bytes) and a margin; the JWT
    // shrinks to its mask, so the output's first 64 bytes reach the IBAN
    // the read cut in half.
    let read = format!("{JWT} iban DE89 3704 0044 05");
    let out = body(&r, &read, 64 + JWT.len() / 2);
    assert!(out.ends_with(TRUNCATED), "{out}");
    assert!(!out.contains("DE89"), "{out}");
    // A value across the excerpt's cut is dropped whole, not kept in part.
    let read = "note: card 4242 4242 4242 4242 was used".to_owned();
    let out = body(&r, &read, 20);
    assert_eq!(out, format!("note: card {TRUNCATED}"));
}

#[test]
fn every_cut_is_marked() {
    let r = Redactor::new(&RedactionConfig::default()).unwrap();
    let read = "a plain body of text that goes on and on";
    assert_eq!(body(&r, read, 12), format!("a plain body{TRUNCATED}"));
    assert_eq!(body(&r, read, 64), read);
    // A long run of letters is kept up to the cut; nothing marks a body
    // that fits.
    let letters = "x".repeat(100);
    assert_eq!(
        body(&r, &letters, 10),
        format!("{}{TRUNCATED}", "x".repeat(10))
    );
}

#[test]
fn a_value_across_the_scan_limit_is_dropped() {
    let cfg: RedactionConfig = serde_json::from_str(r#"{"maxScanBytes": 1024}"#).unwrap();
    let r = Redactor::new(&cfg).unwrap();
    let input = format!(
        "{} GB82 WEST 1234 5698 7654 32 end",
        "y ".repeat(505).trim_end()
    );
    let out = redact_field(&r, &input, Content::Text, &mut BTreeMap::new());
    assert!(out.ends_with(&format!("y {TRUNCATED}")), "{out}");
    assert!(!out.contains("GB82"), "{out}");
}
