//! A label written before a value in prose, without `:` or `=`, says what
//! the value is not, as its key would: `order number 4854585974664228` is
//! an order number (Luhn-valid or not), `firmware to 17.8.1.48` a version.
//! Only whole words count (`paid` is no `…id`, `Natasha` no `…sha`).

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn labels_in_prose_suppress_like_keys() {
    for text in [
        "order number 4854585974664228 confirmed",
        "upgraded the firmware to 17.8.1.48 last night",
        "version 10.2.0.1 is out",
        "tracking number 4242424242424242 shipped",
    ] {
        assert_eq!(found(text, Content::Text), [], "{text}");
    }
}

#[test]
fn other_words_do_not() {
    assert_eq!(
        found("customer paid 4242424242424242 today", Content::Text),
        pairs(&[("4242424242424242", "CREDIT_CARD")])
    );
    assert_eq!(
        found(
            "call Natasha 415-555-2671 or connect to 10.0.0.1",
            Content::Text
        ),
        pairs(&[("415-555-2671", "PHONE"), ("10.0.0.1", "IPV4")])
    );
}
