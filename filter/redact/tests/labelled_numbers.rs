//! A label in text that says what a number is (`tel. 6877117580`,
//! `SSN 675489003`) makes it one without a `:` or `=` and in any grouping,
//! bare digit runs included; without the label those runs stay (ids,
//! epochs, amounts), and a date or an address after a phone label is no
//! phone number.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn phone_numbers_after_their_label() {
    for (text, phone) in [
        (
            "IBAN: GB33PPNX69702452227202, tel. 6877117580.",
            "6877117580",
        ),
        ("Rückruf: Telefon 030 1234567", "030 1234567"),
        ("mobile no. 612 345 678 after six", "612 345 678"),
        ("Phone: (11) 91234-5678", "(11) 91234-5678"),
        ("téléphone 06 12 34 56 78", "06 12 34 56 78"),
        ("fax 0612345678 x12", "0612345678 x12"),
    ] {
        let found = found(text, Content::Text);
        assert!(
            found.contains(&(phone.to_owned(), "PHONE".to_owned())),
            "{text}: {found:?}"
        );
    }
}

#[test]
fn social_security_numbers_after_their_label() {
    assert_eq!(
        found("SSN 675489003 verified", Content::Text),
        pairs(&[("675489003", "US_SSN")])
    );
    assert_eq!(
        found("social security number 078 05 1120", Content::Text),
        pairs(&[("078 05 1120", "US_SSN")])
    );
    // Never issued: area 000, 666, 9xx.
    assert_eq!(found("SSN 000123456", Content::Text), []);
    assert_eq!(found("SSN 912345678", Content::Text), []);
}

#[test]
fn labels_do_not_make_everything_a_number() {
    for text in [
        "phone 2024-05-01 was the day",
        "mobile 13.4.1 released",
        "tel 12345",
        "hotel 6877117580",
        "order 6877117580 shipped",
    ] {
        assert_eq!(found(text, Content::Text), [], "{text}");
    }
    assert_eq!(
        found("cell 192.168.100.200 is down", Content::Text),
        pairs(&[("192.168.100.200", "IPV4")])
    );
}
