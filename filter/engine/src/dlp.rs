//! In-flight data loss prevention (`dlp`), opt-in per path and content
//! type: response bodies rewritten so the client receives redacted content,
//! and request bodies carrying a listed PII type denied (`denyOnPii`).
//!
//! ```json
//! "dlp": [
//!   {"name": "customer-api", "paths": ["/api/customers/{**}"],
//!    "contentTypes": ["application/json"], "redactResponses": true},
//!   {"name": "no-cards", "paths": ["/api/notes*"], "denyOnPii": ["CREDIT_CARD"],
//!    "maxBodyBytes": 32768, "denyUnscanned": true}
//! ]
//! ```
//!
//! A body is buffered whole (up to `maxBodyBytes`) and scanned once; a body
//! over the limit is passed on unmodified (and counted `dlp_skipped`). A
//! request body checked for `denyOnPii` is first searched for the listed
//! types alone ([`Probe`]), and scanned for every type only when they may
//! be there. A request body the rule cannot scan (over the limit,
//! compressed, or a scan that stopped being complete) passes too, unless
//! `denyUnscanned` says a sender must not get around the rule that way.

use observatory_redact::{Content, Finding, PiiType, Probe, Redactor};
use serde::Deserialize;

use crate::error::{in_range, ConfigError};
use crate::policy::{normalize_path, PathMatcher};
use crate::record::path_without_query;

const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
const MIN_MAX_BODY_BYTES: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
pub(crate) struct RawDlpRule {
    name: String,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    content_types: Vec<String>,
    #[serde(default)]
    redact_responses: bool,
    #[serde(default)]
    deny_on_pii: Vec<String>,
    #[serde(default)]
    deny_unscanned: bool,
    max_body_bytes: Option<usize>,
}

/// The compiled `dlp` rules; the first whose paths match a request applies.
#[derive(Debug, Default)]
pub struct DlpRules(Vec<DlpRule>);

#[derive(Debug)]
pub struct DlpRule {
    pub name: String,
    /// Empty: every path.
    paths: Vec<PathMatcher>,
    /// Lowercase media types, `type/*` for a whole type; empty: every type.
    content_types: Vec<String>,
    pub redact_responses: bool,
    deny_on_pii: Vec<PiiType>,
    /// A search for the `deny_on_pii` types alone, which clears a clean
    /// body without a scan for every type.
    deny_probe: Option<Probe>,
    /// A request body this rule cannot scan is denied rather than passed.
    pub deny_unscanned: bool,
    pub max_body_bytes: usize,
}

impl DlpRules {
    /// `redactor` is the compiled `redaction` section, which DLP requires.
    pub(crate) fn compile(
        specs: &[RawDlpRule],
        redactor: Option<&Redactor>,
    ) -> Result<DlpRules, ConfigError> {
        let mut rules: Vec<DlpRule> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let at = format!("dlp[{i}]");
            let Some(redactor) = redactor else {
                return Err(ConfigError::new(at, "needs the `redaction` section"));
            };
            if spec.name.is_empty() {
                return Err(ConfigError::new(format!("{at}.name"), "must not be empty"));
            }
            if rules.iter().any(|r| r.name == spec.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("duplicate name `{}`", spec.name),
                ));
            }
            if !spec.redact_responses && spec.deny_on_pii.is_empty() {
                return Err(ConfigError::new(
                    &at,
                    "does nothing: set redactResponses or denyOnPii",
                ));
            }
            if spec.deny_unscanned && spec.deny_on_pii.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.denyUnscanned"),
                    "applies to request bodies checked for denyOnPii: set denyOnPii",
                ));
            }
            let mut paths = Vec::with_capacity(spec.paths.len());
            for (j, path) in spec.paths.iter().enumerate() {
                let matcher = PathMatcher::parse(path)
                    .map_err(|p| ConfigError::new(format!("{at}.paths[{j}]"), p))?;
                paths.push(matcher);
            }
            let mut content_types = Vec::with_capacity(spec.content_types.len());
            for (j, ct) in spec.content_types.iter().enumerate() {
                let ct = ct.trim().to_ascii_lowercase();
                let valid = ct.split_once('/').is_some_and(|(t, s)| {
                    !t.is_empty() && !s.is_empty() && !ct.contains([';', ' ', ','])
                });
                if !valid {
                    return Err(ConfigError::new(
                        format!("{at}.contentTypes[{j}]"),
                        format!("`{ct}` is not a media type (`application/json`, `text/*`)"),
                    ));
                }
                content_types.push(ct);
            }
            let mut deny_on_pii = Vec::with_capacity(spec.deny_on_pii.len());
            for (j, name) in spec.deny_on_pii.iter().enumerate() {
                let ty = redactor.enabled_type(name).ok_or_else(|| {
                    ConfigError::new(
                        format!("{at}.denyOnPii[{j}]"),
                        format!("`{name}` is not an enabled redaction type"),
                    )
                })?;
                deny_on_pii.push(ty);
            }
            // The whole buffered body must be scanned, or a value past the
            // scan limit would slip through.
            let max_body_bytes = in_range(
                &format!("{at}.maxBodyBytes"),
                spec.max_body_bytes
                    .unwrap_or(DEFAULT_MAX_BODY_BYTES.min(redactor.max_scan_bytes())),
                MIN_MAX_BODY_BYTES,
                redactor.max_scan_bytes(),
            )?;
            let deny_probe = if deny_on_pii.is_empty() {
                None
            } else {
                Some(
                    redactor
                        .probe(&deny_on_pii)
                        .map_err(|e| ConfigError::new(format!("{at}.denyOnPii"), e.problem))?,
                )
            };
            rules.push(DlpRule {
                name: spec.name.clone(),
                paths,
                content_types,
                redact_responses: spec.redact_responses,
                deny_on_pii,
                deny_probe,
                deny_unscanned: spec.deny_unscanned,
                max_body_bytes,
            });
        }
        Ok(DlpRules(rules))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rule for a request's `:path` (matched without query, after the
    /// same normalisation as policies), with its index for later lookups.
    pub fn find(&self, path: &str) -> Option<(usize, &DlpRule)> {
        if self.0.is_empty() {
            return None;
        }
        let path = normalize_path(path_without_query(path));
        self.0
            .iter()
            .enumerate()
            .find(|(_, r)| r.paths.is_empty() || r.paths.iter().any(|p| p.matches(&path)))
    }

    pub fn get(&self, index: usize) -> Option<&DlpRule> {
        self.0.get(index)
    }
}

impl DlpRule {
    /// Whether a body of this `Content-Type` is covered (a body without one
    /// is, so leaving the header out does not get around a rule).
    pub fn covers(&self, content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return true;
        };
        if self.content_types.is_empty() {
            return true;
        }
        let media = media_type(ct);
        self.content_types
            .iter()
            .any(|want| match want.strip_suffix("/*") {
                Some(kind) => media
                    .split_once('/')
                    .is_some_and(|(t, _)| t.eq_ignore_ascii_case(kind)),
                None => media.eq_ignore_ascii_case(want),
            })
    }

    pub fn denies_requests(&self) -> bool {
        !self.deny_on_pii.is_empty()
    }

    /// Whether a request body may hold a type listed in `denyOnPii`:
    /// `false` means the whole scan would find none there.
    pub fn may_deny(&self, text: &str, content: Content<'_>) -> bool {
        self.deny_probe
            .as_ref()
            .is_none_or(|probe| probe.may_hold(text, content))
    }

    /// The first finding of a type listed in `denyOnPii`.
    pub fn denied_type<'f>(&self, findings: &'f [Finding]) -> Option<&'f PiiType> {
        findings
            .iter()
            .map(|f| &f.kind)
            .find(|kind| self.deny_on_pii.contains(kind))
    }
}

/// Whether a response body of this `Content-Type` can be rewritten: text
/// (`text/*`, JSON, XML, forms, scripts, YAML, GraphQL, with their `+json` /
/// `+xml` kinds) or untyped. Other media types keep lengths and framing
/// inside (a gRPC message, a protobuf, a PDF) that a rewrite would break, even
/// when their bytes happen to be UTF-8.
pub fn rewritable(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let Some((kind, sub)) = media_type(ct).split_once('/') else {
        return false;
    };
    let ends = |suffix: &str| {
        sub.len() >= suffix.len()
            && sub
                .get(sub.len() - suffix.len()..)
                .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
    };
    const TEXT: [&str; 9] = [
        "json",
        "x-ndjson",
        "xml",
        "x-www-form-urlencoded",
        "javascript",
        "ecmascript",
        "graphql",
        "yaml",
        "x-yaml",
    ];
    kind.eq_ignore_ascii_case("text")
        || (kind.eq_ignore_ascii_case("application")
            && (ends("+json") || ends("+xml") || TEXT.iter().any(|t| sub.eq_ignore_ascii_case(t))))
}

/// The `type/subtype` of a `Content-Type` value, without its parameters.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// What to do with a body chunk while buffering it for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffering {
    /// More is coming and it still fits: hold it (Envoy buffers).
    Wait,
    /// The whole body is buffered: scan it.
    Complete,
    /// Over `maxBodyBytes`: pass it on unscanned.
    TooLarge,
}

/// `buffered`: bytes Envoy holds for this body so far.
pub fn buffering(buffered: usize, end_of_stream: bool, limit: usize) -> Buffering {
    if buffered > limit {
        Buffering::TooLarge
    } else if end_of_stream {
        Buffering::Complete
    } else {
        Buffering::Wait
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use observatory_redact::{Content, RedactionConfig};
    use serde_json::json;

    use super::*;

    fn compile(rules: serde_json::Value) -> Result<DlpRules, ConfigError> {
        let redactor = Redactor::new(
            &serde_json::from_value::<RedactionConfig>(
                json!({"types": {"IPV4": {"enabled": false}}}),
            )
            .unwrap(),
        )
        .unwrap();
        let specs: Vec<RawDlpRule> = serde_json::from_value(rules).unwrap();
        DlpRules::compile(&specs, Some(&redactor))
    }

    #[test]
    fn first_matching_rule_applies_on_the_normalised_path() {
        let rules = compile(json!([
            {"name": "cust", "paths": ["/api/customers/{**}"], "redactResponses": true},
            {"name": "all", "denyOnPii": ["CREDIT_CARD"]}
        ]))
        .unwrap();
        let (i, rule) = rules.find("/api/x/../customers/7?x=1").unwrap();
        assert_eq!((i, rule.name.as_str()), (0, "cust"));
        assert!(rule.redact_responses && !rule.denies_requests());
        assert_eq!(rule.max_body_bytes, 64 * 1024);
        assert_eq!(rules.find("/other").unwrap().1.name, "all");
        assert!(compile(json!([])).unwrap().find("/a").is_none());
    }

    #[test]
    fn content_types_match_media_type_or_whole_type() {
        let rules = compile(json!([{"name": "r", "redactResponses": true,
            "contentTypes": ["application/json", "Text/*"]}]))
        .unwrap();
        let rule = rules.get(0).unwrap();
        assert!(rule.covers(Some("application/json; charset=utf-8")));
        assert!(rule.covers(Some("text/html")));
        assert!(rule.covers(None));
        assert!(!rule.covers(Some("image/png")));
        assert!(!rule.covers(Some("application/jsonx")));
        let any = compile(json!([{"name": "r", "redactResponses": true}])).unwrap();
        assert!(any.get(0).unwrap().covers(Some("image/png")));
    }

    #[test]
    fn listed_types_deny() {
        let rules =
            compile(json!([{"name": "r", "denyOnPii": ["CREDIT_CARD", "US_SSN"]}])).unwrap();
        let rule = rules.get(0).unwrap();
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let scan = |text| redactor.redact(text, Content::Text).findings;
        assert_eq!(
            rule.denied_type(&scan("mail a@b.example card 4242 4242 4242 4242")),
            Some(&PiiType::CreditCard)
        );
        assert_eq!(rule.denied_type(&scan("mail a@b.example")), None);
    }

    #[test]
    fn errors_name_the_field() {
        for (rules, expected) in [
            (json!([{"name": "r"}]), "dlp[0]: does nothing"),
            (
                json!([{"name": "", "redactResponses": true}]),
                "dlp[0].name: must not be empty",
            ),
            (
                json!([{"name": "a", "redactResponses": true}, {"name": "a", "redactResponses": true}]),
                "dlp[1].name: duplicate name `a`",
            ),
            (
                json!([{"name": "r", "denyOnPii": ["CARD"]}]),
                "dlp[0].denyOnPii[0]: `CARD` is not an enabled",
            ),
            (
                json!([{"name": "r", "denyOnPii": ["IPV4"]}]),
                "dlp[0].denyOnPii[0]: `IPV4` is not an enabled",
            ),
            (
                json!([{"name": "r", "redactResponses": true, "paths": ["/a/{**}/b"]}]),
                "dlp[0].paths[0]: ",
            ),
            (
                json!([{"name": "r", "redactResponses": true, "contentTypes": ["json"]}]),
                "dlp[0].contentTypes[0]: `json` is not a media type",
            ),
            (
                json!([{"name": "r", "redactResponses": true, "maxBodyBytes": 1_000_000}]),
                "dlp[0].maxBodyBytes: must be between 1024 and 65536",
            ),
            (
                json!([{"name": "r", "redactResponses": true, "denyUnscanned": true}]),
                "dlp[0].denyUnscanned: applies to request bodies checked for denyOnPii",
            ),
        ] {
            let e = compile(rules.clone()).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{rules}: {e}");
        }
        let specs: Vec<RawDlpRule> =
            serde_json::from_value(json!([{"name": "r", "redactResponses": true}])).unwrap();
        let e = DlpRules::compile(&specs, None).unwrap_err().to_string();
        assert_eq!(e, "dlp[0]: needs the `redaction` section");
    }

    #[test]
    fn only_text_is_rewritten() {
        for text in [
            None,
            Some("application/json; charset=utf-8"),
            Some("Application/Problem+JSON"),
            Some("text/html"),
            Some("application/xml"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert!(rewritable(text), "{text:?}");
        }
        for framed in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc-web-text",
            "application/x-protobuf",
            "application/octet-stream",
            "application/pdf",
            "image/png",
            "multipart/form-data; boundary=x",
            "json",
        ] {
            assert!(!rewritable(Some(framed)), "{framed}");
        }
    }

    #[test]
    fn buffering_waits_completes_or_gives_up() {
        assert_eq!(buffering(10, false, 100), Buffering::Wait);
        assert_eq!(buffering(100, true, 100), Buffering::Complete);
        assert_eq!(buffering(0, true, 100), Buffering::Complete);
        assert_eq!(buffering(101, false, 100), Buffering::TooLarge);
        assert_eq!(buffering(101, true, 100), Buffering::TooLarge);
    }
}
