//! `Authorization` and `Proxy-Authorization` values (RFC 9110 §11.4):
//! `Scheme token68` (`Basic`, `Bearer`, `Token`, `ApiKey`) or
//! `Scheme auth-param, …` (`Digest`, `AWS4-HMAC-SHA256`). The scheme is
//! kept, the credentials are redacted: the token68, or each auth-param
//! whose value is not public.

use std::ops::Range;

/// Auth-params whose values say nothing secret (normalised: lowercase,
/// without `-`/`_`); every other param's value is redacted
/// (`response`, `cnonce`, `username`, `Credential`, `Signature`).
const PUBLIC_PARAMS: &[&[u8]] = &[
    b"realm",
    b"nonce",
    b"uri",
    b"algorithm",
    b"qop",
    b"nc",
    b"opaque",
    b"stale",
    b"domain",
    b"charset",
    b"userhash",
    b"signedheaders",
    b"error",
    b"errordescription",
    b"scope",
];

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&*+.^_`|~-".contains(&b)
}

/// Bytes that end a credential in text (the value's line, a quote around
/// the header, prose after it).
fn ends_token68(b: u8) -> bool {
    b.is_ascii_whitespace() || b"\"',;<>".contains(&b)
}

fn skip(text: &[u8], mut i: usize, end: usize, what: impl Fn(u8) -> bool) -> usize {
    while i < end && text.get(i).is_some_and(|&b| what(b)) {
        i += 1;
    }
    i
}

fn public(name: &[u8]) -> bool {
    let mut buf = [0u8; 24];
    let mut n = 0;
    for &b in name.iter().filter(|&&b| b != b'-' && b != b'_') {
        match buf.get_mut(n) {
            Some(slot) => *slot = b.to_ascii_lowercase(),
            None => return false,
        }
        n += 1;
    }
    let name = buf.get(..n).unwrap_or_default();
    PUBLIC_PARAMS.contains(&name)
}

/// The credentials in the value `text[range]`, each passed to `found`;
/// returns where the credentials end (the rest of `range` is not part of
/// the header value when it is read from free text). A value of one word
/// is all credential (`Proxy-Authorization: opaque-token`).
pub(super) fn credentials(
    text: &[u8],
    range: Range<usize>,
    mut found: impl FnMut(Range<usize>),
) -> usize {
    let end = range.end.min(text.len());
    let start = skip(text, range.start, end, |b| b == b' ' || b == b'\t');
    let scheme_end = skip(text, start, end, is_token);
    let after = skip(text, scheme_end, end, |b| b == b' ' || b == b'\t');
    if scheme_end == start
        || after == scheme_end
        || text
            .get(after)
            .is_none_or(|&b| after >= end || ends_token68(b))
    {
        // One word: the credential alone, without a scheme.
        let word = skip(text, start, end, |b| !ends_token68(b));
        if word > start {
            found(start..word);
        }
        return word;
    }
    let name_end = skip(text, after, end, is_token);
    // `name=value`, not a token68's `=` padding: the byte after the `=`
    // must be in the value (a JSON string's closing quote is not).
    let params = name_end + 1 < end
        && text.get(name_end) == Some(&b'=')
        && text
            .get(name_end + 1)
            .is_some_and(|&b| b != b'=' && !b.is_ascii_whitespace() && b != b',');
    if !params {
        let token = skip(text, after, end, |b| !ends_token68(b));
        found(after..token);
        return token;
    }
    // auth-param *( "," auth-param )
    let mut i = after;
    let mut last = after;
    loop {
        let name_start = i;
        let name_end = skip(text, i, end, is_token);
        if name_end == name_start || text.get(name_end) != Some(&b'=') {
            break;
        }
        let mut v = name_end + 1;
        let value = if text.get(v) == Some(&b'"') {
            v += 1;
            let mut j = v;
            while j < end && text.get(j) != Some(&b'"') {
                j += if text.get(j) == Some(&b'\\') { 2 } else { 1 };
            }
            let j = j.min(end);
            last = (j + 1).min(end);
            v..j
        } else {
            let j = skip(text, v, end, |b| {
                b != b',' && !b.is_ascii_whitespace() && b != b'"' && b != b'\''
            });
            last = j;
            v..j
        };
        let name = text.get(name_start..name_end).unwrap_or_default();
        if !value.is_empty() && !public(name) {
            found(value);
        }
        let comma = skip(text, last, end, |b| b == b' ' || b == b'\t');
        if text.get(comma) != Some(&b',') || comma >= end {
            break;
        }
        i = skip(text, comma + 1, end, |b| b == b' ' || b == b'\t');
    }
    last
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn creds(value: &str) -> (Vec<&str>, &str) {
        let mut out = Vec::new();
        let end = credentials(value.as_bytes(), 0..value.len(), |r| out.push(r));
        (out.into_iter().map(|r| &value[r]).collect(), &value[..end])
    }

    #[test]
    fn token68_schemes() {
        assert_eq!(
            creds("Basic dXNlcjpwYXNzd29yZA== next"),
            (vec!["dXNlcjpwYXNzd29yZA=="], "Basic dXNlcjpwYXNzd29yZA==")
        );
        assert_eq!(creds("Bearer abc.def").0, ["abc.def"]);
        assert_eq!(creds("ApiKey k-123").0, ["k-123"]);
        assert_eq!(creds("opaque-token").0, ["opaque-token"]);
        assert_eq!(creds("  Token   t0k3n\r\nHost: x").0, ["t0k3n"]);
    }

    #[test]
    fn auth_params_keep_public_values() {
        let digest = r#"Digest username="bob", realm="x", nonce="abc", uri="/a", response="6629fae4", cnonce="0a4f" rest"#;
        let (found, end) = creds(digest);
        assert_eq!(found, ["bob", "6629fae4", "0a4f"]);
        assert!(end.ends_with(r#"cnonce="0a4f""#), "{end}");
        let aws = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f7";
        assert_eq!(
            creds(aws).0,
            [
                "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
                "fe5f80f7"
            ]
        );
    }
}
