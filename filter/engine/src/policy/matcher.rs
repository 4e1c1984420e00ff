//! Istio's string match forms, shared by principals, namespaces, methods and
//! plain (non-template, non-regex) paths.

/// `abc` (exact), `abc*` (prefix), `*abc` (suffix) or `*` (any non-empty
/// value). Istio has no other wildcard, so a `*` anywhere else is rejected
/// rather than silently treated as a literal that matches nobody.
#[derive(Debug)]
pub(crate) enum StringMatcher {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Presence,
}

impl StringMatcher {
    /// Parses `pattern`; `literal` canonicalises (or rejects) the text around
    /// the wildcard, so paths can be compared in their normalised form.
    pub(crate) fn parse(
        pattern: &str,
        literal: impl FnOnce(&str) -> Result<Box<str>, String>,
    ) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("empty pattern".into());
        }
        if pattern == "*" {
            return Ok(Self::Presence);
        }
        let (build, text): (fn(Box<str>) -> Self, &str) =
            if let Some(text) = pattern.strip_suffix('*') {
                (Self::Prefix, text)
            } else if let Some(text) = pattern.strip_prefix('*') {
                (Self::Suffix, text)
            } else {
                (Self::Exact, pattern)
            };
        if text.contains('*') {
            return Err(format!(
                "`*` is only allowed as the first or last character (prefix/suffix match): `{pattern}`"
            ));
        }
        literal(text).map(build)
    }

    /// Parses a pattern whose literal text is compared as written.
    pub(crate) fn parse_plain(pattern: &str) -> Result<Self, String> {
        Self::parse(pattern, |text| Ok(text.into()))
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(text) => value == &**text,
            Self::Prefix(text) => value.starts_with(&**text),
            Self::Suffix(text) => value.ends_with(&**text),
            Self::Presence => !value.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::StringMatcher;

    fn m(pattern: &str) -> StringMatcher {
        StringMatcher::parse_plain(pattern).unwrap()
    }

    #[test]
    fn exact_prefix_suffix_presence() {
        assert!(m("GET").matches("GET"));
        assert!(!m("GET").matches("GETX"));
        assert!(!m("GET").matches("get"), "case-sensitive");
        assert!(m("shop-*").matches("shop-eu"));
        assert!(m("shop-*").matches("shop-"));
        assert!(!m("shop-*").matches("shop"));
        assert!(m("*-eu").matches("shop-eu"));
        assert!(!m("*-eu").matches("shop-us"));
        assert!(m("*").matches("x"));
        assert!(!m("*").matches(""));
    }

    #[test]
    fn rejects_empty_and_inner_wildcards() {
        for bad in ["", "a*b", "**", "*a*", "a**"] {
            let err = StringMatcher::parse_plain(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert_eq!(StringMatcher::parse_plain("").unwrap_err(), "empty pattern");
        assert!(StringMatcher::parse_plain("cluster.local/ns/*/sa/x")
            .unwrap_err()
            .contains("first or last"));
    }
}
