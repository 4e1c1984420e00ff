//! A phone number's extension is part of the value (`x909`, ` ext. 12`),
//! and the North American and international forms Faker-like generators
//! and CRMs write are phone numbers too: `(405)312-5045` without a space,
//! `001-647-909-1153` with the `00` international prefix, `(+57)3038483719`.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn extensions_go_with_the_number() {
    for phone in [
        "+1-486-622-2361x909",
        "741-760-2336x504",
        "403.687.5528x836",
        "(298)432-9699x726",
        "001-887-221-5893x00099",
        "+44 20 7946 0958 ext. 12",
        "(415) 555-2671 x 7",
    ] {
        let text = format!("call {phone} today");
        assert_eq!(
            found(&text, Content::Text),
            pairs(&[(phone, "PHONE")]),
            "{text}"
        );
    }
}

#[test]
fn numbers_without_a_space_after_the_area_code_or_with_00() {
    for phone in ["(405)312-5045", "001-647-909-1153", "0049 30 1234567"] {
        let text = format!("call {phone}, thanks");
        assert_eq!(
            found(&text, Content::Text),
            pairs(&[(phone, "PHONE")]),
            "{text}"
        );
    }
}

#[test]
fn what_is_not_an_extension_or_a_number() {
    for text in [
        "call 415-555-2671xyz",
        "got 0012345678901",
        "size 1920x1080",
        "v415312-5045",
    ] {
        assert_eq!(found(text, Content::Text), [], "{text}");
    }
}

#[test]
fn a_country_code_in_parentheses() {
    for text in [
        "call (+57)3038483719 now",
        "IBAN follows, tel. (+57)3038483719.",
    ] {
        let out = found(text, Content::Text);
        assert_eq!(out.len(), 1, "{text}: {out:?}");
        assert!(out[0].0.ends_with("3038483719"), "{text}: {out:?}");
        assert_eq!(out[0].1, "PHONE");
    }
}
