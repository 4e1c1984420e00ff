//! What an identity and a route say by themselves: the workload behind a
//! SPIFFE ID across trust domains, and routes that administer.

/// The workload part of a SPIFFE ID (`ns/<ns>/sa/<sa>`), the same in every
/// cluster's trust domain; `None` for anything else (source IPs).
pub fn workload(principal: &str) -> Option<&str> {
    let rest = principal.strip_prefix("spiffe://")?;
    let (_trust_domain, path) = rest.split_once('/')?;
    path.starts_with("ns/").then_some(path)
}

/// Route segments that administer rather than serve.
const ADMIN_SEGMENTS: [&str; 8] = [
    "admin",
    "internal",
    "debug",
    "actuator",
    "management",
    "console",
    "roles",
    "grants",
];

/// Whether a route (see [`super::template`]) administers something.
pub fn is_admin(route: &str) -> bool {
    route
        .split('/')
        .any(|s| ADMIN_SEGMENTS.iter().any(|a| s.eq_ignore_ascii_case(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_the_same_across_trust_domains() {
        let east = workload("spiffe://east.example/ns/shop/sa/web");
        assert_eq!(east, Some("ns/shop/sa/web"));
        assert_eq!(east, workload("spiffe://west.example/ns/shop/sa/web"));
        assert_eq!(workload("10.0.0.1"), None);
        assert_eq!(workload("spiffe://td"), None);
    }

    #[test]
    fn admin_routes() {
        assert!(is_admin("/admin/users/{id}"));
        assert!(is_admin("/internal/accounts/{id}/roles"));
        assert!(!is_admin("/api/orders/{id}"));
        assert!(!is_admin("/api/administration-guide"));
    }
}
