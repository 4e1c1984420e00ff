//! Path → route template, so `/api/orders/123` and `/api/orders/456` are one
//! route: novelty and enumeration features count routes, not ids.

/// What an identifier segment becomes.
pub const ID: &str = "{id}";

/// Reduces `path` (query and fragment dropped) to its route template:
/// segments that look like identifiers (numbers, UUIDs, hex digests, emails,
/// long tokens with digits) become [`ID`].
pub fn template(path: &str) -> String {
    let mut out = String::new();
    template_into(path, &mut out);
    out
}

/// [`template`] into `out` (cleared first), which keeps its allocation.
pub fn template_into(path: &str, out: &mut String) {
    out.clear();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if is_identifier(segment) {
            out.push_str(ID);
        } else {
            out.push_str(segment);
        }
    }
}

fn is_identifier(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let all_digits = digits == s.len();
    let hex = s.len() >= 8 && digits > 0 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let email = s.contains('@') && s.contains('.');
    // Opaque tokens (base64url ids, slugs with numbers): long and digit-bearing.
    let token = s.len() >= 16
        && digits > 0
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    all_digits || hex || email || token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_placeholders() {
        assert_eq!(template("/api/orders/123"), "/api/orders/{id}");
        assert_eq!(template("/api/orders/456?x=1"), "/api/orders/{id}");
        assert_eq!(
            template("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/cart"),
            "/u/{id}/cart"
        );
        assert_eq!(template("/blobs/deadbeef01"), "/blobs/{id}");
        assert_eq!(template("/users/jane.doe@example.com"), "/users/{id}");
        assert_eq!(template("/t/aZ09_kLmNoPqRsTu9"), "/t/{id}");
    }

    #[test]
    fn words_and_versions_stay() {
        assert_eq!(template("/api/v1/orders"), "/api/v1/orders");
        assert_eq!(template("/"), "/");
        assert_eq!(template(""), "");
        assert_eq!(template("/admin/cafe"), "/admin/cafe");
        assert_eq!(template("/healthz#frag"), "/healthz");
    }
}
