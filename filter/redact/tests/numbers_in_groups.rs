//! Grouped numbers: national phone formats in free text are phones; the
//! groups of a card number that fails Luhn are not a phone number.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn grouped_national_phone_numbers() {
    assert_eq!(
        found(
            "Rückruf unter 030 1234 5678 oder 010 123 4567.",
            Content::Text
        ),
        pairs(&[("030 1234 5678", "PHONE"), ("010 123 4567", "PHONE")])
    );
}

#[test]
fn a_card_that_fails_luhn_is_not_half_a_phone() {
    for line in [
        "card 4111 1111 1111 1112 declined",
        "card 4000 0566 5566 5557 declined",
        "card 4000-0566-5566-5557 declined",
    ] {
        assert_eq!(found(line, Content::Text), [], "{line}");
    }
    // A year before a phone number does not make it part of one.
    assert_eq!(
        found("at 2024 415-555-2671", Content::Text),
        pairs(&[("415-555-2671", "PHONE")])
    );
}
