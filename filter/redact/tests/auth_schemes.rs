//! Every auth scheme keeps its scheme and loses its credentials: in a
//! header value, in a header block of text, in JSON and in HAR-style
//! `{"name", "value"}` pairs.

mod support;

use observatory_redact::Content;
use support::{found, pairs, redacted};

#[test]
fn token68_schemes_mask_the_credential_not_the_scheme() {
    for (value, credential) in [
        ("Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
        ("Basic bWFyaWE6c2VjcmV0IQ==", "bWFyaWE6c2VjcmV0IQ=="),
        ("Bearer 8f2a1c9e7d3b4a6f", "8f2a1c9e7d3b4a6f"),
        ("ApiKey k-7Hq2ZpX9", "k-7Hq2ZpX9"),
        ("Token tok_51HqLm", "tok_51HqLm"),
    ] {
        for name in ["Authorization", "proxy-authorization"] {
            assert_eq!(
                found(value, Content::Header(name)),
                pairs(&[(credential, "PASSWORD")]),
                "{name}: {value}"
            );
        }
        let block = format!("Host: api.example.com\r\nAuthorization: {value}\r\nAccept: */*\r\n");
        let out = redacted(&block, Content::Text);
        assert!(!out.contains(credential), "{out}");
        let scheme = value.split(' ').next().unwrap_or_default();
        assert!(
            out.contains(&format!("Authorization: {scheme} [REDACTED:PASSWORD]")),
            "{out}"
        );
    }
}

#[test]
fn digest_keeps_public_params() {
    let value = r#"Digest username="maria", realm="api", nonce="dcd98b7102dd2f0e", uri="/a", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c""#;
    assert_eq!(
        found(value, Content::Header("Proxy-Authorization")),
        pairs(&[
            ("maria", "PASSWORD"),
            ("0a4f113b", "PASSWORD"),
            ("6629fae49393a05397450978507c4ef1", "PASSWORD"),
        ])
    );
    let out = redacted(&format!("Proxy-Authorization: {value}\n"), Content::Text);
    assert!(
        out.starts_with("Proxy-Authorization: Digest username=\"[REDACTED"),
        "{out}"
    );
    assert!(out.contains(r#"nonce="dcd98b7102dd2f0e""#), "{out}");
    assert!(!out.contains("6629fae4"), "{out}");
}

#[test]
fn aws_sigv4_masks_credential_and_signature() {
    let value = "AWS4-HMAC-SHA256 Credential=AKIAZ7EXAMPLEKEY1234/20240115/eu-west-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let out = redacted(value, Content::Header("authorization"));
    assert_eq!(
        out,
        "AWS4-HMAC-SHA256 Credential=[REDACTED:PASSWORD], SignedHeaders=host;x-amz-date, \
         Signature=[REDACTED:PASSWORD]"
    );
}

#[test]
fn har_name_value_pairs_take_the_rule_of_the_name() {
    let har = r#"{"request": {"headers": [
        {"name": "Authorization", "value": "Basic dXNlcjpodW50ZXIy"},
        {"name": "Cookie", "value": "theme=dark"},
        {"name": "X-Api-Key", "value": "k7Hq2ZpX9mN4"}],
      "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}}"#;
    assert_eq!(
        found(har, Content::Json),
        pairs(&[
            ("dXNlcjpodW50ZXIy", "PASSWORD"),
            ("k7Hq2ZpX9mN4", "API_KEY"),
            ("hunter2", "PASSWORD"),
        ])
    );
}

#[test]
fn a_padded_token68_in_a_json_string_is_not_an_auth_param() {
    // One `=` of padding right before the string's closing quote: the
    // quote is outside the value, so this is no `name=value`.
    let har = r#"{"headers": [{"name": "Authorization", "value": "Basic Z2VvcmdlczY5OldwNERWWm5AWSE="}]}"#;
    assert_eq!(
        found(har, Content::Json),
        pairs(&[("Z2VvcmdlczY5OldwNERWWm5AWSE=", "PASSWORD")])
    );
}
