//! The `x-forwarded-client-cert` header Envoy writes for an mTLS peer:
//! elements separated by `,`, one per proxy, each `key=value` pairs
//! separated by `;`, a value holding `,` `;` `=` in double quotes (`\"`
//! inside). Istio's sidecars add theirs with `APPEND_FORWARD`: earlier
//! elements come from whoever sent the request and prove nothing, so only
//! the last one, the local sidecar's, names the peer.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XfccError {
    #[error("x-forwarded-client-cert is malformed (an unclosed quote)")]
    Unclosed,
    #[error("x-forwarded-client-cert's last element is empty")]
    Empty,
    #[error("x-forwarded-client-cert's last element has no URI (the peer's certificate has no SPIFFE id)")]
    NoUri,
    #[error("x-forwarded-client-cert's last element has {0} URIs; a SPIFFE certificate has one")]
    ManyUris(usize),
}

/// The URI (SPIFFE id) of the last element of the header, whose repeated
/// fields are given in order (HTTP joins them with `,`).
pub fn peer_uri<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<String, XfccError> {
    let joined = fields.into_iter().collect::<Vec<_>>().join(",");
    let elements = split_unquoted(&joined, ',')?;
    let last = elements.last().map_or("", |e| e.trim());
    if last.is_empty() {
        return Err(XfccError::Empty);
    }
    let mut uris = Vec::new();
    for pair in split_unquoted(last, ';')? {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("uri") {
            uris.push(unquote(value.trim()));
        }
    }
    match uris.len() {
        0 => Err(XfccError::NoUri),
        1 => Ok(uris.remove(0)),
        n => Err(XfccError::ManyUris(n)),
    }
}

/// `s` cut at every `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Result<Vec<&str>, XfccError> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return Err(XfccError::Unclosed);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A value without its quotes and escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDECAR: &str = "By=spiffe://cluster.local/ns/observatory/sa/observatory-collector;\
        Hash=4f1b;Subject=\"\";URI=spiffe://cluster.local/ns/shop/sa/orders";

    #[test]
    fn the_last_element_names_the_peer() {
        assert_eq!(
            peer_uri([SIDECAR]).as_deref(),
            Ok("spiffe://cluster.local/ns/shop/sa/orders")
        );
        // A forged element from the client comes first under APPEND_FORWARD.
        let forged = "URI=spiffe://cluster.local/ns/payments/sa/api";
        assert_eq!(
            peer_uri([&format!("{forged},{SIDECAR}") as &str]).as_deref(),
            Ok("spiffe://cluster.local/ns/shop/sa/orders")
        );
        // Repeated header fields are one list.
        assert_eq!(
            peer_uri([forged, SIDECAR]).as_deref(),
            Ok("spiffe://cluster.local/ns/shop/sa/orders")
        );
    }

    #[test]
    fn quoted_values_may_hold_separators() {
        let element = "Subject=\"CN=a,O=b;c \\\"q\\\"\";uri=\"spiffe://td/ns/x/sa/y\";DNS=a.b";
        assert_eq!(peer_uri([element]).as_deref(), Ok("spiffe://td/ns/x/sa/y"));
        assert_eq!(unquote("\"a\\\"b\""), "a\"b");
    }

    #[test]
    fn an_element_without_exactly_one_uri_names_nobody() {
        assert_eq!(peer_uri(["Hash=1;DNS=a.b"]), Err(XfccError::NoUri));
        assert_eq!(
            peer_uri(["URI=spiffe://td/ns/x/sa/y,"]),
            Err(XfccError::Empty)
        );
        assert_eq!(
            peer_uri(["URI=spiffe://a/ns/x/sa/y;URI=spiffe://b/ns/x/sa/y"]),
            Err(XfccError::ManyUris(2))
        );
        assert_eq!(
            peer_uri(["Subject=\"CN=a;URI=spiffe://td/ns/x/sa/y"]),
            Err(XfccError::Unclosed)
        );
        assert_eq!(peer_uri([]), Err(XfccError::Empty));
    }
}
