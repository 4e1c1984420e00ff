//! The redaction engine through its public API: every detector with
//! positives and hard negatives (with UTF-8 around them), the structure
//! walkers, replacement modes and operator rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use observatory_redact::{Content, PiiType, RedactionConfig, Redactor};
use serde_json::{json, Value};

fn redactor(cfg: Value) -> Redactor {
    let cfg: RedactionConfig = serde_json::from_value(cfg).unwrap();
    Redactor::new(&cfg).unwrap()
}

fn default() -> Redactor {
    redactor(json!({}))
}

/// `(matched text, type)` of every finding.
fn found(r: &Redactor, input: &str, content: Content<'_>) -> Vec<(String, String)> {
    let out = r.redact(input, content);
    out.findings
        .iter()
        .map(|f| (input[f.start..f.end].to_owned(), f.kind.to_string()))
        .collect()
}

fn text(input: &str) -> Vec<(String, String)> {
    found(&default(), input, Content::Text)
}

fn one(value: &str, ty: &str) -> Vec<(String, String)> {
    vec![(value.to_owned(), ty.to_owned())]
}

/// Each value is found, alone and with UTF-8 text around it.
fn positives(ty: &str, values: &[&str]) {
    for value in values {
        assert_eq!(text(value), one(value, ty), "{value}");
        let wrapped = format!("Grüße — {value} — 日本語 ✓");
        assert_eq!(text(&wrapped), one(value, ty), "{wrapped}");
        let json = json!({"message": format!("naïve: {value}.")}).to_string();
        assert_eq!(
            found(&default(), &json, Content::Json),
            one(value, ty),
            "{json}"
        );
    }
}

fn negatives(values: &[&str]) {
    for value in values {
        assert_eq!(text(value), [], "{value}");
        let wrapped = format!("état: {value} ✓");
        assert_eq!(text(&wrapped), [], "{wrapped}");
    }
}

#[test]
fn email() {
    positives(
        "EMAIL",
        &[
            "jane@example.com",
            "jane.doe+tag@mail.example.co.uk",
            "j_o-e%x@sub-domain.example.io",
        ],
    );
    negatives(&[
        "jane@localhost",
        "@example.com",
        "jane@",
        "user@@example.com",
        "a@b.c",
        "git@github",
    ]);
}

#[test]
fn credit_card() {
    positives(
        "CREDIT_CARD",
        &[
            "4242424242424242",
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "3530111333300000",
        ],
    );
    negatives(&[
        "4242424242424241",         // Luhn
        "1234567812345670",         // Luhn-valid, no issuer
        "order #4242424242424242",  // order number
        "4242-4242-4242-4242-4242", // longer dashed number
        "1700000000000",            // epoch millis
        "9400111899223100001234",   // USPS tracking
    ]);
}

#[test]
fn us_ssn() {
    positives("US_SSN", &["078-05-1120", "219-09-9999", "123 45 6789"]);
    negatives(&[
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "2024-01-15",
        "123-45-6789-1",
    ]);
}

#[test]
fn phone() {
    positives(
        "PHONE",
        &[
            "+14155552671",
            "+1 415 555 2671",
            "+1 (415) 555-2671",
            "+44 20 7946 0958",
            "(415) 555-2671",
            "415-555-2671",
            "415.555.2671",
            "020 7946 0958",
            "01 23 45 67 89",
        ],
    );
    negatives(&[
        "4155552671",
        "20240115103045",
        "2024-01-15 10:30:45",
        "94105-1234",
        "1,299.99",
        "v1.2.3",
        "ORD-2024-000123",
        "123-456-7890",
    ]);
}

#[test]
fn ip_addresses() {
    positives("IPV4", &["10.0.0.1", "192.168.100.200", "8.8.8.8"]);
    positives(
        "IPV6",
        &[
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:db8:85a3::8a2e:370:7334",
            "fe80::1",
            "::1",
            "2001:db8::",
            "::ffff:192.168.1.1",
        ],
    );
    negatives(&[
        "256.1.1.1",
        "1.2.3.4.5",
        "v1.2.3.4",
        "12:30:45",
        "std::vector",
        "00:1a:2b:3c:4d:5e",
    ]);
    // Ports and brackets are not part of the address.
    assert_eq!(text("from 10.0.0.1:8080"), one("10.0.0.1", "IPV4"));
    assert_eq!(text("[2001:db8::1]:443"), one("2001:db8::1", "IPV6"));
}

#[test]
fn iban() {
    positives(
        "IBAN",
        &[
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
        ],
    );
    negatives(&[
        "DE89370400440532013001",
        "XX89370400440532013000",
        "DE89 3704",
    ]);
}

#[test]
fn jwt() {
    let token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.\
                 SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    positives("JWT", &[token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."]);
    negatives(&[
        "eyJmb28iOiJiYXIifQ",                         // base64 JSON, no dots
        "eyJmb28iOiJiYXIifQ.eyJmb28iOiJiYXIifQ.c2ln", // header without alg
        "aGVsbG8.d29ybGQ.Zm9v",                       // not JSON
        "SGVsbG8gV29ybGQhIFRoaXMgaXMgYmFzZTY0Lg==",   // base64 blob
    ]);
}

#[test]
fn api_keys() {
    positives(
        "API_KEY",
        &[
            "AKIAIOSFODNN7EXAMPLE",
            "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",
            "xoxb-2048-1234567890-AbCdEfGhIjKlMnOpQrStUvWx",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "sk-proj-4f9Tq2ZbX8yWc1LmN0pRs7",
            "glpat-xYz12AbC34dEf56GhI78",
        ],
    );
    negatives(&[
        "AKIA1234",
        "sk-the-best-of-the-rest-of-them",
        "ghp_short",
        "d41d8cd98f00b204e9800998ecf8427e",
    ]);
}

#[test]
fn hard_negatives_stay_untouched() {
    let r = default();
    let json = json!({
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "md5": "d41d8cd98f00b204e9800998ecf8427e",
        "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "ts": 1_700_000_000_123u64,
        "created": "2024-01-15T10:30:00.123Z",
        "date": "Mon, 15 Jan 2024 10:30:00 GMT",
        "version": "10.2.0.1",
        "app_version": "2.14.3",
        "sdk": "v1.2.3-rc.1",
        "price": "$1,299.99",
        "amount": 4_111_111_111_111_112u64,
        "zip": "94105",
        "zip4": "94105-1234",
        "order_id": "4000056655665556",
        "tracking": "1Z999AA10123456784",
        "usps": "9400111899223100001234",
        "blob": "SGVsbG8gV29ybGQhIFRoaXMgaXMgYmFzZTY0Lg==",
        "count": 1234567,
        "ratio": 0.123456789
    })
    .to_string();
    let out = r.redact(&json, Content::Json);
    assert_eq!(out.findings, [], "{}", out.text);
    assert!(matches!(out.text, Cow::Borrowed(_)));
    let log = "2024-01-15T10:30:00Z INFO req=550e8400-e29b-41d4-a716-446655440000 took=12.5ms \
               version=1.2.3.4 sha=da39a3ee5e6b4b0d3255bfef95601890afd80709 status=200 bytes=4096";
    assert_eq!(text(log), []);
}

#[test]
fn key_rules_in_json() {
    let r = default();
    let json = r#"{"user": {"full_name": "Jane Q. Doe", "dob": "1990-01-05", "password": "hunter2",
        "address": {"city": "Paris"}, "apiKey": "abc123", "pin": 1234},
        "credentials": {"client_secret": "s3cr3t", "refresh_token": "rt-1"},
        "secret": ["a", "b"], "usage": {"total_tokens": 12}, "token": {"value": "v", "n": 42, "ok": true},
        "Authorization": "Bearer abc.def.ghi"}"#;
    assert_eq!(
        found(&r, json, Content::Json),
        [
            ("Jane Q. Doe", "PERSON"),
            ("1990-01-05", "DATE_OF_BIRTH"),
            ("hunter2", "PASSWORD"),
            ("abc123", "API_KEY"),
            ("1234", "PASSWORD"),
            ("s3cr3t", "PASSWORD"),
            ("rt-1", "PASSWORD"),
            ("a", "PASSWORD"),
            ("b", "PASSWORD"),
            ("v", "PASSWORD"),
            ("42", "PASSWORD"),
            ("abc.def.ghi", "PASSWORD"),
        ]
        .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    // A number is replaced by a string, keeping the JSON valid.
    let out = r.redact(r#"{"password": 1234, "ok": 1}"#, Content::Json);
    assert_eq!(out.text, r#"{"password": "[REDACTED:PASSWORD]", "ok": 1}"#);
}

#[test]
fn specific_detector_wins_over_key_type() {
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
    let json = format!(r#"{{"token": "{token}", "api_key": "AKIAIOSFODNN7EXAMPLE"}}"#);
    assert_eq!(
        found(&default(), &json, Content::Json),
        [(token, "JWT"), ("AKIAIOSFODNN7EXAMPLE", "API_KEY")]
            .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
}

#[test]
fn json_escapes_map_back_to_the_input() {
    let r = default();
    let input = r#"{"m": "mail: jane\u0040example.com\nnext", "n": "4242\u00204242 4242 4242"}"#;
    let out = r.redact(input, Content::Json);
    let spans: Vec<&str> = out
        .findings
        .iter()
        .map(|f| &input[f.start..f.end])
        .collect();
    assert_eq!(
        spans,
        [r"jane\u0040example.com", r"4242\u00204242 4242 4242"]
    );
    assert_eq!(
        out.text,
        r#"{"m": "mail: [REDACTED:EMAIL]\nnext", "n": "[REDACTED:CREDIT_CARD]"}"#
    );
    serde_json::from_str::<Value>(&out.text).unwrap();
}

#[test]
fn malformed_and_truncated_json_fall_back_to_text() {
    let r = default();
    for input in [
        r#"{"email": "jane@example.com", "password": "hunt"#,
        r#"{'email': 'jane@example.com', 'password': 'hunt'}"#,
        r#"{"email": "jane@example.com",, "password": "hunt"}"#,
    ] {
        assert_eq!(
            found(&r, input, Content::Json),
            [("jane@example.com", "EMAIL"), ("hunt", "PASSWORD")]
                .map(|(v, t)| (v.to_owned(), t.to_owned())),
            "{input}"
        );
    }
    // Not JSON at all.
    assert_eq!(
        found(&r, "user jane@example.com logged in", Content::Json),
        one("jane@example.com", "EMAIL")
    );
}

#[test]
fn json_lines() {
    let input = "{\"a\": \"jane@example.com\"}\n{\"password\": \"x\"}\n";
    assert_eq!(
        found(&default(), input, Content::Json),
        [("jane@example.com", "EMAIL"), ("x", "PASSWORD")]
            .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
}

#[test]
fn forms_and_queries() {
    let r = default();
    let form =
        "email=jane%40example.com&password=p%40ss+word&name=Jane+Doe&card=4242+4242+4242+4242&q=hi";
    assert_eq!(
        found(&r, form, Content::Form),
        [
            ("jane%40example.com", "EMAIL"),
            ("p%40ss+word", "PASSWORD"),
            ("Jane+Doe", "PERSON"),
            ("4242+4242+4242+4242", "CREDIT_CARD"),
        ]
        .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    let out = r.redact(form, Content::Form);
    assert_eq!(
        out.text,
        "email=[REDACTED:EMAIL]&password=[REDACTED:PASSWORD]&name=[REDACTED:PERSON]\
         &card=[REDACTED:CREDIT_CARD]&q=hi"
    );
    let query = "/api/users?api_key=abc&ip=10.0.0.1&v=1.2.3.4#frag=jane@example.com";
    assert_eq!(
        found(&r, query, Content::Query),
        [("abc", "API_KEY"), ("10.0.0.1", "IPV4")].map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
}

#[test]
fn headers() {
    let r = default();
    let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
    assert_eq!(
        found(
            &r,
            &format!("Bearer {jwt}"),
            Content::Header("Authorization")
        ),
        one(jwt, "JWT")
    );
    assert_eq!(
        found(&r, "Basic dXNlcjpwYXNz", Content::Header("authorization")),
        one("dXNlcjpwYXNz", "PASSWORD")
    );
    assert_eq!(
        found(&r, "opaque-token", Content::Header("Proxy-Authorization")),
        one("opaque-token", "PASSWORD")
    );
    assert_eq!(
        found(
            &r,
            "theme=dark; session_id=abc123; email=jane%40example.com",
            Content::Header("Cookie")
        ),
        [("abc123", "PASSWORD"), ("jane%40example.com", "EMAIL")]
            .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    assert_eq!(
        found(
            &r,
            "sid=xyz; Path=/; HttpOnly",
            Content::Header("set-cookie")
        ),
        one("xyz", "PASSWORD")
    );
    assert_eq!(
        found(&r, "k-123", Content::Header("X-Api-Key")),
        one("k-123", "API_KEY")
    );
    assert_eq!(
        found(&r, "10.0.0.1, 10.0.0.2", Content::Header("X-Forwarded-For")),
        [("10.0.0.1", "IPV4"), ("10.0.0.2", "IPV4")].map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    assert_eq!(
        found(
            &r,
            "Mozilla/5.0 (X11; Linux x86_64)",
            Content::Header("user-agent")
        ),
        []
    );
}

#[test]
fn text_key_values() {
    assert_eq!(
        text("login failed user=bob password=hunter2 from 10.0.0.1"),
        [("hunter2", "PASSWORD"), ("10.0.0.1", "IPV4")].map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    assert_eq!(
        text("Name: Jane Doe\nDate of birth: 1990-01-05\nSSN: 078-05-1120"),
        [
            ("Jane Doe", "PERSON"),
            ("1990-01-05", "DATE_OF_BIRTH"),
            ("078-05-1120", "US_SSN")
        ]
        .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    assert_eq!(
        text("GET /cb?email=jane%40example.com&x=1 HTTP/1.1"),
        one("jane%40example.com", "EMAIL")
    );
    assert_eq!(
        text("Authorization: Bearer abc123 Host: x"),
        one("abc123", "PASSWORD")
    );
}

#[test]
fn auto_content() {
    let r = default();
    assert_eq!(
        found(
            &r,
            r#"{"password": "x"}"#,
            Content::Auto("application/json; charset=utf-8")
        ),
        one("x", "PASSWORD")
    );
    assert_eq!(
        found(&r, r#" {"password": "x"}"#, Content::Auto("")),
        one("x", "PASSWORD")
    );
    assert_eq!(
        found(
            &r,
            "password=a+b",
            Content::Auto("application/x-www-form-urlencoded")
        ),
        one("a+b", "PASSWORD")
    );
    assert_eq!(
        found(&r, "mail jane@example.com", Content::Auto("text/plain")),
        one("jane@example.com", "EMAIL")
    );
}

#[test]
fn replacement_modes() {
    let r = redactor(json!({
        "types": {
            "CREDIT_CARD": {"mode": "partial", "keep": 4},
            "EMAIL": {"mode": "hash"},
            "PHONE": {"mode": "partial"}
        },
        "hmacKey": "0123456789abcdef0123", "hmacKeyId": "k1"
    }));
    let out = r.redact(
        "card 4242424242424242, mail jane@example.com",
        Content::Text,
    );
    let pseudonym = &out.text["card ************4242, mail ".len()..];
    assert!(
        out.text
            .starts_with("card ************4242, mail [EMAIL:hmac:k1:"),
        "{}",
        out.text
    );
    assert_eq!(pseudonym.len(), "[EMAIL:hmac:k1:]".len() + 16);
    // Stable for the same value, whatever its encoding; different per value.
    let again = r.redact(r#"{"m": "jane\u0040example.com"}"#, Content::Json);
    assert!(again.text.contains(pseudonym), "{}", again.text);
    let other = r.redact("john@example.com", Content::Text);
    assert!(!other.text.contains(pseudonym));
    // Partial inside escaped JSON keeps a valid escaped tail.
    let out = r.redact(
        r#"{"n": 4242424242424242, "t": "+1 415 555 2671"}"#,
        Content::Json,
    );
    assert_eq!(
        out.text,
        r#"{"n": "************4242", "t": "***********2671"}"#
    );
    // A different key gives different pseudonyms.
    let r2 = redactor(json!({"types": {"EMAIL": {"mode": "hash"}},
        "hmacKey": "another key of 16+ bytes", "hmacKeyId": "k2"}));
    let out2 = r2.redact("jane@example.com", Content::Text);
    assert_ne!(out2.text[13..], pseudonym[13..]);
}

#[test]
fn custom_rules_keys_allow_list_and_disabled_types() {
    let r = redactor(json!({
        "custom": [{"type": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"},
                   {"type": "API_KEY", "pattern": "myco_[a-z0-9]{16}"}],
        "keys": {"PASSWORD": ["pin"], "EMPLOYEE_ID": ["emp"]},
        "allow": {"values": ["support@example.com"], "keys": ["contact", "name"]},
        "types": {"IPV4": {"enabled": false}, "EMPLOYEE_ID": {"mode": "mask"}}
    }));
    let input = r#"{"id": "EMP-123456", "pin": "0000", "emp": "x1", "k": "myco_abcdefghij012345",
        "to": "support@example.com", "cc": "jane@example.com", "contact": "john@example.com",
        "name": "Jane", "ip": "10.0.0.1"}"#;
    assert_eq!(
        found(&r, input, Content::Json),
        [
            ("EMP-123456", "EMPLOYEE_ID"),
            ("0000", "PASSWORD"),
            ("x1", "EMPLOYEE_ID"),
            ("myco_abcdefghij012345", "API_KEY"),
            ("jane@example.com", "EMAIL"),
        ]
        .map(|(v, t)| (v.to_owned(), t.to_owned()))
    );
    let out = r.redact(input, Content::Json);
    assert!(out.text.contains("[REDACTED:EMPLOYEE_ID]"));
    let mut counts = BTreeMap::new();
    out.count_into(&mut counts);
    out.count_into(&mut counts);
    assert_eq!(counts["EMPLOYEE_ID"], 4);
    assert_eq!(counts["EMAIL"], 2);
    assert_eq!(out.findings[0].kind, PiiType::Custom("EMPLOYEE_ID".into()));
}

#[test]
fn scan_cap_is_recorded() {
    let r = redactor(json!({"maxScanBytes": 1024}));
    let input = format!(
        "{} jane@example.com {} john@example.com",
        "é".repeat(100),
        "x".repeat(2000)
    );
    let out = r.redact(&input, Content::Text);
    assert!(out.truncated);
    assert_eq!(out.findings.len(), 1);
    assert!(
        out.text.ends_with("john@example.com"),
        "the unscanned rest is passed through"
    );
    // The cap never splits a character.
    let input = "é".repeat(600);
    let out = r.redact(&input, Content::Text);
    assert!(out.truncated && out.findings.is_empty());
    assert!(!r.redact("short", Content::Text).truncated);
}

#[test]
fn findings_are_ordered_and_disjoint() {
    let input = "password=jane@example.com 4242424242424242 jane@example.com";
    let out = default().redact(input, Content::Text);
    assert!(out.findings.windows(2).all(|w| w[0].end <= w[1].start));
    assert_eq!(out.findings.len(), 3);
}
