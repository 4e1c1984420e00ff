//! Hex and base64 values under generic keys (`key`, `auth`, `code`) are
//! secrets; other values there (cache keys, names) are not.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn secret_shaped_values_under_generic_keys() {
    let line = "cache hit key=5f4dcc3b5aa765d61d8327deb882cf99 auth=bWFyaWE6c2VjcmV0IQ== \
                code=Q3x9Lm2Pz7Rt5Vw8 token=t0k3n";
    assert_eq!(
        found(line, Content::Text),
        pairs(&[
            ("5f4dcc3b5aa765d61d8327deb882cf99", "API_KEY"),
            ("bWFyaWE6c2VjcmV0IQ==", "PASSWORD"),
            ("Q3x9Lm2Pz7Rt5Vw8", "PASSWORD"),
            ("t0k3n", "PASSWORD"),
        ])
    );
    let json = r#"{"key": "ZGV2LWtleS0xMjM0NTY3OA", "auth": "dXNlcjpodW50ZXIy"}"#;
    assert_eq!(
        found(json, Content::Json),
        pairs(&[
            ("ZGV2LWtleS0xMjM0NTY3OA", "API_KEY"),
            ("dXNlcjpodW50ZXIy", "PASSWORD"),
        ])
    );
}

#[test]
fn padded_base64_without_digits_is_a_secret() {
    // Base64 of `user:password` need not hold a digit; its padding marks it.
    let line = "msg=refresh auth=ZHdhdGFuYWJlOjkmOWFZeTIpNnI= cache_key=orders:1450";
    assert_eq!(
        found(line, Content::Text),
        pairs(&[("ZHdhdGFuYWJlOjkmOWFZeTIpNnI=", "PASSWORD")])
    );
    // Unpadded and digit-less, it still decodes to printable `user:password`.
    let line = "msg=\"cache refresh\" auth=YnJvZHljbGFyYTpHYjAzMlBmKnAl cache_key=orders:11";
    assert_eq!(
        found(line, Content::Text),
        pairs(&[("YnJvZHljbGFyYTpHYjAzMlBmKnAl", "PASSWORD")])
    );
    // Without padding, a digit or a text inside, it may be a camel-case name.
    assert_eq!(found("key=ThisIsMyCacheKeyName", Content::Text), []);
}

#[test]
fn other_values_under_generic_keys_stay() {
    for line in [
        "cache key=orders:1234 hit=true",
        "key=my-cache-key-2024 code=ORDER_NOT_FOUND auth=none",
        r#"{"key": "feature.checkout.enabled", "code": 404}"#,
    ] {
        assert_eq!(found(line, Content::Text), [], "{line}");
    }
}
