//! Self-delimiting values (a JWT, an IBAN with a valid mod-97, a card
//! number with a valid Luhn digit) are found by their own structure when
//! glued to the word before or after them; digit runs inside hex strings
//! and versions are not.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLWJ5dGVz";

#[test]
fn glued_self_delimiting_values_are_found() {
    let line = format!("cach{JWT} refDE89370400440532013000x card4111111111111111ok");
    assert_eq!(
        found(&line, Content::Text),
        pairs(&[
            (JWT, "JWT"),
            ("DE89370400440532013000", "IBAN"),
            ("4111111111111111", "CREDIT_CARD"),
        ])
    );
}

#[test]
fn digit_runs_in_hex_and_versions_are_not() {
    for line in [
        "etag d41d8cd98f00b2044111111111111111e",
        "build v4242424242424242",
        "DE893704004405320130001234",
        "ref 94001118992231000012344",
    ] {
        assert_eq!(found(line, Content::Text), [], "{line}");
    }
}
