#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn whole(f: fn(&[u8], &Span) -> Option<Span>, s: &str) -> Option<String> {
    f(s.as_bytes(), &(0..s.len())).map(|r| s[r].to_owned())
}

/// Runs `f` on `candidate` where it sits inside `text`.
fn inside(f: fn(&[u8], &Span) -> Option<Span>, text: &str, candidate: &str) -> Option<String> {
    let start = text.find(candidate).unwrap();
    f(text.as_bytes(), &(start..start + candidate.len())).map(|r| text[r].to_owned())
}

#[test]
fn luhn_checksum() {
    let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
    assert!(luhn(&digits("4242424242424242")));
    assert!(luhn(&digits("79927398713")));
    assert!(!luhn(&digits("4242424242424241")));
    assert!(!luhn(&digits("79927398710")));
}

#[test]
fn card_issuers_and_lengths() {
    for ok in [
        "4242424242424242",
        "4111 1111 1111 1111",
        "5555-5555-5555-4444",
        "2223003122003222",
        "378282246310005",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
        "6200000000000005",
        "4222222222222",
        "4242.4242.4242.4242",
    ] {
        assert_eq!(whole(credit_card, ok).as_deref(), Some(ok), "{ok}");
    }
    for bad in [
        "4242424242424241",     // Luhn
        "1234567812345670",     // no issuer (Luhn-valid)
        "3782822463100051",     // Amex prefix, wrong length
        "4111 1111-1111 1111",  // mixed separators
        "41 1111 1111 1111 11", // odd grouping
    ] {
        assert_eq!(whole(credit_card, bad), None, "{bad}");
    }
}

#[test]
fn card_context() {
    assert_eq!(
        inside(credit_card, "pay 4242424242424242.", "4242424242424242").as_deref(),
        Some("4242424242424242")
    );
    assert_eq!(
        inside(credit_card, "order #4242424242424242", "4242424242424242"),
        None
    );
    assert_eq!(
        inside(credit_card, "v4242424242424242", "4242424242424242"),
        None
    );
    assert_eq!(
        inside(credit_card, "1.4242424242424242", "4242424242424242"),
        None
    );
    // A trailing unrelated group is dropped, not the card.
    assert_eq!(
        inside(
            credit_card,
            "4111 1111 1111 1111 12 x",
            "4111 1111 1111 1111 12"
        )
        .as_deref(),
        Some("4111 1111 1111 1111")
    );
}

#[test]
fn ssn_rules() {
    assert_eq!(whole(us_ssn, "078-05-1120").as_deref(), Some("078-05-1120"));
    assert_eq!(whole(us_ssn, "123 45 6789").as_deref(), Some("123 45 6789"));
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",
    ] {
        assert_eq!(whole(us_ssn, bad), None, "{bad}");
    }
    assert_eq!(inside(us_ssn, "1-123-45-6789", "123-45-6789"), None);
}

#[test]
fn phone_formats() {
    for ok in [
        "+14155552671",
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 30 1234567",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-0199",
        "020 7946 0958",
        "07700 900123",
        "01 23 45 67 89",
        "030 1234567",
        "555-0123",
    ] {
        assert_eq!(whole(phone, ok).as_deref(), Some(ok), "{ok}");
    }
    for bad in [
        "4155552671",    // bare digits
        "2024-01-15",    // date
        "94105-1234",    // ZIP+4
        "123-456-7890",  // area starts with 1
        "415-555.2671",  // mixed separators
        "(415 555-2671", // unbalanced
        "+0 123 456 789",
        "12 34 56 78 90",
        "10.100.200.300",
    ] {
        assert_eq!(whole(phone, bad), None, "{bad}");
    }
    // Trailing numbers are cut off, glued ones reject.
    assert_eq!(
        inside(phone, "call 415-555-2671 2 times", "415-555-2671 2").as_deref(),
        Some("415-555-2671")
    );
    assert_eq!(inside(phone, "415-555-2671-99", "415-555-2671"), None);
    assert_eq!(inside(phone, "ORD-555-0123", "555-0123"), None);
    assert_eq!(whole(phone, "555 0123"), None);
    // A replacement where a glued value was is still glue: a second pass
    // over `::4242+1 424242420` redacted must not find a phone.
    assert_eq!(inside(phone, "4242+1 424242420", "+1 424242420"), None);
    assert_eq!(
        inside(phone, "[REDACTED:IPV6]+1 424242420", "+1 424242420"),
        None
    );
    assert_eq!(
        inside(phone, "+1 424242420[REDACTED:IPV6]", "+1 424242420"),
        None
    );
    assert_eq!(
        inside(phone, "tel: [+1 415 555 2671]", "+1 415 555 2671").as_deref(),
        Some("+1 415 555 2671")
    );
}

#[test]
fn ipv4_rules() {
    for ok in ["10.0.0.1", "192.168.100.200", "255.255.255.255", "0.0.0.0"] {
        assert_eq!(whole(ipv4, ok).as_deref(), Some(ok));
    }
    for bad in ["256.1.1.1", "1.2.3.04", "01.2.3.4"] {
        assert_eq!(whole(ipv4, bad), None, "{bad}");
    }
    assert_eq!(
        inside(ipv4, "from 10.0.0.1:8080.", "10.0.0.1").as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(inside(ipv4, "1.2.3.4.5", "1.2.3.4"), None);
    assert_eq!(inside(ipv4, "0.1.2.3.4", "1.2.3.4"), None);
}

#[test]
fn ipv6_forms() {
    for ok in [
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:db8:85a3::8a2e:370:7334",
        "2001:db8::",
        "::1",
        "fe80::1",
        "::ffff:192.168.1.1",
        "1:2:3:4:5:6:7::",
    ] {
        assert_eq!(whole(ipv6, ok).as_deref(), Some(ok), "{ok}");
    }
    for bad in ["::", "a::b", "12:30:45", "00:1a:2b:3c:4d:5e", "1::2::3"] {
        assert_eq!(whole(ipv6, bad), None, "{bad}");
    }
    assert_eq!(inside(ipv6, "Foo::bada", "::bada"), None);
    assert_eq!(
        inside(ipv6, "at 2001:db8::1: up", "2001:db8::1").as_deref(),
        Some("2001:db8::1")
    );
}

#[test]
fn iban_rules() {
    for ok in [
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NO9386011117947",
        "de89 3704 0044 0532 0130 00",
    ] {
        assert_eq!(whole(iban, ok).as_deref(), Some(ok), "{ok}");
    }
    for bad in [
        "DE89370400440532013001",     // mod-97
        "DE8937040044053201300",      // length
        "XX89370400440532013000",     // country
        "DE89 3704 0044 0532 013000", // grouping
        "DE89 37040044 0532 0130 00", // grouping
        "DE893704004405320130001234", // glued
    ] {
        assert_eq!(whole(iban, bad), None, "{bad}");
    }
    assert_eq!(
        inside(
            iban,
            "DE89 3704 0044 0532 0130 00 EUR",
            "DE89 3704 0044 0532 0130 00 EUR"
        )
        .as_deref(),
        Some("DE89 3704 0044 0532 0130 00")
    );
}

#[test]
fn jwt_header() {
    let jwt = |hay: &[u8], span: &Span| jwt_at(hay, span.start).ok().filter(|s| *s == *span);
    let ok = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(whole(jwt, ok).as_deref(), Some(ok));
    // alg:none, empty signature
    let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
    assert_eq!(whole(jwt, none).as_deref(), Some(none));
    // {"typ":"JWT"} has no alg; {"foo":"bar"} neither.
    assert_eq!(whole(jwt, "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.abc"), None);
    assert_eq!(
        whole(jwt, "eyJmb28iOiJiYXIifQ.eyJmb28iOiJiYXIifQ.abc"),
        None
    );
    assert_eq!(whole(jwt, "eyJhbGciOiJub25l.eyJzdWIiOiIxIn0.abc"), None);
}

#[test]
fn base64url_decoding() {
    assert_eq!(base64url(b"eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
    assert_eq!(base64url(b"_-8").unwrap(), [0xff, 0xef]);
    assert_eq!(base64url(b"abcde"), None);
    assert_eq!(base64url(b"ab+c"), None);
}

#[test]
fn email_limits() {
    let email = |hay: &[u8], span: &Span| {
        let at_sign = span.start + hay[span.clone()].iter().position(|&b| b == b'@')?;
        email_at(hay, at_sign).ok()
    };
    assert_eq!(
        whole(email, "jane.doe+tag@mail.example.co.uk").as_deref(),
        Some("jane.doe+tag@mail.example.co.uk")
    );
    for bad in ["jane.@example.com", "ja..ne@example.com", "jane@-x.com"] {
        assert_eq!(whole(email, bad), None, "{bad}");
    }
    let long = format!("{}@example.com", "a".repeat(65));
    assert_eq!(whole(email, &long), None);
    let ok = format!("{}@example.com", "a".repeat(64));
    assert_eq!(whole(email, &ok), Some(ok.clone()));
    assert_eq!(
        inside(email, "<..jane@x.example.com.>", "..jane@x.example.com.").as_deref(),
        Some("jane@x.example.com")
    );
    assert_eq!(
        inside(email, "jane@example.com_x", "jane@example.com"),
        None
    );
    assert_eq!(inside(email, "jane@localhost", "jane@localhost"), None);
    assert_eq!(
        whole(email, "jörg@müller.de").as_deref(),
        Some("jörg@müller.de")
    );
    assert_eq!(inside(email, "/img/logo@2x.png", "logo@2x.png"), None);
    assert_eq!(
        inside(
            email,
            "postgres://app:pw@db.example.com/x",
            "pw@db.example.com"
        ),
        None
    );
    assert_eq!(
        inside(
            email,
            "see https://x.io/a jane@example.com",
            "jane@example.com"
        )
        .as_deref(),
        Some("jane@example.com")
    );
}

#[test]
fn url_passwords() {
    let found = |text: &str| {
        let at = text.find("://").unwrap();
        url_password(text.as_bytes(), at)
            .ok()
            .map(|r| text[r].to_owned())
    };
    assert_eq!(
        found("postgres://app:s3cr%40t@db:5432/x").as_deref(),
        Some("s3cr%40t")
    );
    assert_eq!(found("https://user@host/x"), None);
    assert_eq!(found("https://host/a:b@c"), None);
    assert_eq!(found("redis://:pw@cache").as_deref(), Some("pw"));
    assert_eq!(found("https://u:@h"), None);
}

#[test]
fn tokens() {
    assert_eq!(
        inside(token, "AKIAIOSFODNN7EXAMPLE-x", "AKIAIOSFODNN7EXAMPLE"),
        None
    );
    assert!(whole(mixed_token, "sk-proj-4f9Tq2ZbX8yWc1LmN0pRs7").is_some());
    assert_eq!(whole(mixed_token, "sk-the-best-of-the-rest-of-it"), None);
}

#[test]
fn base64_of_printable_text() {
    assert!(base64_of_text(b"YnJvZHljbGFyYTpHYjAzMlBmKnAl"));
    assert!(base64_of_text(b"dXNlcjpodW50ZXIyPz8+"));
    assert!(!base64_of_text(b"ThisIsMyCacheKeyName"));
    assert!(!base64_of_text(b"dXNlcg"));
}
