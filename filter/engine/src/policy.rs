//! Authorization decisions with Istio AuthorizationPolicy semantics.
//!
//! The rules mirror Istio's spec so operators need no new mental model.
//! Everything is compiled once at configure time ([`PolicySet`]); per
//! request [`PolicySet::decide`] only walks the compiled matchers and, when
//! the path is not already canonical, allocates its normalised copy.

mod matcher;
mod path;

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::ConfigError;
use matcher::StringMatcher;
pub use path::normalize_path;
pub(crate) use path::PathMatcher;

/// Rule name reported when `requireMtls` rejects a plaintext request.
const REQUIRE_MTLS: &str = "require-mtls";
/// Rule name reported when ALLOW policies exist and none matched.
const DEFAULT_DENY: &str = "default-deny";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// Facts about one request needed to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Peer URI SAN (`spiffe://cluster.local/ns/shop/sa/frontend`), with or
    /// without the scheme; `None` for plaintext.
    pub principal: Option<&'a str>,
    pub mtls: bool,
    pub method: &'a str,
    /// Raw `:path`; query, fragment and encoding are handled here.
    pub path: &'a str,
}

/// The outcome for one request; names borrow from the [`PolicySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    pub verdict: Verdict,
    /// What the verdict would be with the dry-run policies enforced too;
    /// `None` when no dry-run policy exists.
    pub shadow: Option<Verdict>,
    /// What decided: `<policy>` or `<policy>/<rule>`, `require-mtls`,
    /// `default-deny`, or empty when no ALLOW policy exists.
    pub rule: &'a str,
    /// The first AUDIT policy that matched.
    pub audit_policy: Option<&'a str>,
}

/// Compiled policies, grouped by action in configuration order.
#[derive(Debug)]
pub struct PolicySet {
    require_mtls: bool,
    deny: Vec<Policy>,
    allow: Vec<Policy>,
    audit: Vec<Policy>,
    has_dry_run: bool,
}

#[derive(Debug)]
struct Policy {
    name: String,
    dry_run: bool,
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    /// Precomputed `<policy>` or `<policy>/<rule>`, so deciding never formats.
    label: String,
    from: Vec<Source>,
    to: Vec<Operation>,
}

/// An empty matcher list means the field was not set.
#[derive(Debug)]
struct Source {
    principals: Vec<StringMatcher>,
    not_principals: Vec<StringMatcher>,
    namespaces: Vec<StringMatcher>,
    not_namespaces: Vec<StringMatcher>,
}

#[derive(Debug)]
struct Operation {
    methods: Vec<StringMatcher>,
    not_methods: Vec<StringMatcher>,
    paths: Vec<PathMatcher>,
    not_paths: Vec<PathMatcher>,
}

/// The request as matchers see it: principal without scheme, namespace
/// extracted, path normalised.
struct Facts<'r> {
    principal: Option<&'r str>,
    namespace: Option<&'r str>,
    method: &'r str,
    path: &'r str,
}

impl PolicySet {
    pub fn decide(&self, req: &Request<'_>) -> Decision<'_> {
        let path = normalize_path(req.path);
        let principal = req
            .principal
            .map(|p| p.strip_prefix("spiffe://").unwrap_or(p))
            .filter(|p| !p.is_empty());
        let facts = Facts {
            principal,
            namespace: principal.and_then(namespace_of),
            method: req.method,
            path: &path,
        };
        let (verdict, rule) = self.evaluate(req.mtls, &facts, false);
        let shadow = self
            .has_dry_run
            .then(|| self.evaluate(req.mtls, &facts, true).0);
        let audit_policy = self
            .audit
            .iter()
            .find(|p| p.matching_rule(&facts).is_some())
            .map(|p| p.name.as_str());
        Decision {
            verdict,
            shadow,
            rule,
            audit_policy,
        }
    }

    /// Istio's order: mTLS requirement, then DENY, then ALLOW (default deny
    /// once any ALLOW policy is in force).
    fn evaluate(&self, mtls: bool, facts: &Facts<'_>, with_dry_run: bool) -> (Verdict, &str) {
        if self.require_mtls && !mtls {
            return (Verdict::Deny, REQUIRE_MTLS);
        }
        let in_force = |p: &&Policy| with_dry_run || !p.dry_run;
        if let Some(rule) = self
            .deny
            .iter()
            .filter(in_force)
            .find_map(|p| p.matching_rule(facts))
        {
            return (Verdict::Deny, rule);
        }
        let mut allow = self.allow.iter().filter(in_force).peekable();
        if allow.peek().is_none() {
            return (Verdict::Allow, "");
        }
        match allow.find_map(|p| p.matching_rule(facts)) {
            Some(rule) => (Verdict::Allow, rule),
            None => (Verdict::Deny, DEFAULT_DENY),
        }
    }
}

/// `cluster.local/ns/shop/sa/frontend` → `shop`.
fn namespace_of(principal: &str) -> Option<&str> {
    let (_, rest) = principal.split_once("/ns/")?;
    let namespace = rest.split_once('/').map_or(rest, |(ns, _)| ns);
    (!namespace.is_empty()).then_some(namespace)
}

impl Policy {
    /// The label of the first rule that matches; a policy without rules
    /// matches nothing.
    fn matching_rule(&self, facts: &Facts<'_>) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.matches(facts))
            .map(|r| r.label.as_str())
    }
}

impl Rule {
    fn matches(&self, facts: &Facts<'_>) -> bool {
        (self.from.is_empty() || self.from.iter().any(|s| s.matches(facts)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.matches(facts)))
    }
}

impl Source {
    fn matches(&self, facts: &Facts<'_>) -> bool {
        any_of(&self.principals, facts.principal)
            && none_of(&self.not_principals, facts.principal)
            && any_of(&self.namespaces, facts.namespace)
            && none_of(&self.not_namespaces, facts.namespace)
    }
}

impl Operation {
    fn matches(&self, facts: &Facts<'_>) -> bool {
        let method = Some(facts.method);
        let path = facts.path;
        any_of(&self.methods, method)
            && none_of(&self.not_methods, method)
            && (self.paths.is_empty() || self.paths.iter().any(|m| m.matches(path)))
            && !self.not_paths.iter().any(|m| m.matches(path))
    }
}

/// Unset (empty) matches anything; an absent value (plaintext) matches no
/// entry, not even `*`.
fn any_of(matchers: &[StringMatcher], value: Option<&str>) -> bool {
    matchers.is_empty() || value.is_some_and(|v| matchers.iter().any(|m| m.matches(v)))
}

/// An absent value is in no list, so it passes every not-list.
fn none_of(matchers: &[StringMatcher], value: Option<&str>) -> bool {
    value.is_none_or(|v| !matchers.iter().any(|m| m.matches(v)))
}

// ---- configuration (the `policies` section, Istio's spec shape) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Action {
    Allow,
    Deny,
    Audit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
pub(crate) struct PolicySpec {
    name: String,
    action: Action,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RuleSpec {
    name: Option<String>,
    #[serde(default)]
    from: Vec<FromSpec>,
    #[serde(default)]
    to: Vec<ToSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct FromSpec {
    source: SourceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct SourceSpec {
    #[serde(default)]
    principals: Vec<String>,
    #[serde(default)]
    not_principals: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    not_namespaces: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct ToSpec {
    operation: OperationSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct OperationSpec {
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    not_methods: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    not_paths: Vec<String>,
}

impl PolicySet {
    /// Validates and compiles the `policies` section; errors name the JSON
    /// path (`policies[0].rules[1].to[0].operation.paths[2]`).
    pub(crate) fn compile(require_mtls: bool, specs: &[PolicySpec]) -> Result<Self, ConfigError> {
        let mut set = Self {
            require_mtls,
            deny: Vec::new(),
            allow: Vec::new(),
            audit: Vec::new(),
            has_dry_run: false,
        };
        let mut seen = HashMap::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let at = format!("policies[{i}]");
            if let Some(first) = seen.insert(spec.name.as_str(), i) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!(
                        "duplicate policy name `{}` (also policies[{first}])",
                        spec.name
                    ),
                ));
            }
            let policy = compile_policy(&at, spec)?;
            set.has_dry_run |= policy.dry_run;
            match spec.action {
                Action::Allow => set.allow.push(policy),
                Action::Deny => set.deny.push(policy),
                Action::Audit => set.audit.push(policy),
            }
        }
        Ok(set)
    }
}

fn compile_policy(at: &str, spec: &PolicySpec) -> Result<Policy, ConfigError> {
    let name = &spec.name;
    let name_error = |problem: &str| Err(ConfigError::new(format!("{at}.name"), problem));
    if name.is_empty() {
        return name_error("must not be empty");
    }
    if name.contains('/') {
        // `/` separates policy and rule in the reported rule name.
        return name_error("must not contain `/`");
    }
    if name == REQUIRE_MTLS || name == DEFAULT_DENY {
        return name_error("is reserved (used as a rule name by the filter itself)");
    }
    if spec.dry_run && spec.action == Action::Audit {
        return Err(ConfigError::new(
            format!("{at}.dryRun"),
            "not supported for AUDIT policies (they never change the verdict)",
        ));
    }
    let mut rule_names = HashMap::new();
    let mut rules = Vec::with_capacity(spec.rules.len());
    for (j, rule) in spec.rules.iter().enumerate() {
        let at = format!("{at}.rules[{j}]");
        let label = match &rule.name {
            None => name.clone(),
            Some(rule_name) if rule_name.is_empty() => {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    "must not be empty (omit it instead)",
                ))
            }
            Some(rule_name) => {
                if let Some(first) = rule_names.insert(rule_name.as_str(), j) {
                    return Err(ConfigError::new(
                        format!("{at}.name"),
                        format!("duplicate rule name `{rule_name}` (also rules[{first}])"),
                    ));
                }
                format!("{name}/{rule_name}")
            }
        };
        rules.push(Rule {
            label,
            from: compile_each(&format!("{at}.from"), &rule.from, |at, f| {
                compile_source(&format!("{at}.source"), &f.source)
            })?,
            to: compile_each(&format!("{at}.to"), &rule.to, |at, t| {
                compile_operation(&format!("{at}.operation"), &t.operation)
            })?,
        });
    }
    Ok(Policy {
        name: name.clone(),
        dry_run: spec.dry_run,
        rules,
    })
}

fn compile_source(at: &str, spec: &SourceSpec) -> Result<Source, ConfigError> {
    // Istio writes principals without the scheme; accept both spellings.
    let principal = |p: &str| StringMatcher::parse_plain(p.strip_prefix("spiffe://").unwrap_or(p));
    Ok(Source {
        principals: compile_patterns(&format!("{at}.principals"), &spec.principals, principal)?,
        not_principals: compile_patterns(
            &format!("{at}.notPrincipals"),
            &spec.not_principals,
            principal,
        )?,
        namespaces: compile_patterns(
            &format!("{at}.namespaces"),
            &spec.namespaces,
            StringMatcher::parse_plain,
        )?,
        not_namespaces: compile_patterns(
            &format!("{at}.notNamespaces"),
            &spec.not_namespaces,
            StringMatcher::parse_plain,
        )?,
    })
}

fn compile_operation(at: &str, spec: &OperationSpec) -> Result<Operation, ConfigError> {
    Ok(Operation {
        methods: compile_patterns(
            &format!("{at}.methods"),
            &spec.methods,
            StringMatcher::parse_plain,
        )?,
        not_methods: compile_patterns(
            &format!("{at}.notMethods"),
            &spec.not_methods,
            StringMatcher::parse_plain,
        )?,
        paths: compile_patterns(&format!("{at}.paths"), &spec.paths, PathMatcher::parse)?,
        not_paths: compile_patterns(
            &format!("{at}.notPaths"),
            &spec.not_paths,
            PathMatcher::parse,
        )?,
    })
}

/// Compiles every element of a list, naming the element on error.
fn compile_each<S, T>(
    at: &str,
    specs: &[S],
    compile: impl Fn(&str, &S) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    specs
        .iter()
        .enumerate()
        .map(|(k, spec)| compile(&format!("{at}[{k}]"), spec))
        .collect()
}

fn compile_patterns<T>(
    at: &str,
    patterns: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    compile_each(at, patterns, |at, pattern| {
        parse(pattern).map_err(|problem| ConfigError::new(at, problem))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::{json, Value};

    use super::{Decision, PolicySet, PolicySpec, Request, Verdict};

    const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
    const ADMIN_TOOL: &str = "spiffe://cluster.local/ns/ops/sa/admin-tool";

    fn compile(require_mtls: bool, policies: Value) -> PolicySet {
        let specs: Vec<PolicySpec> = serde_json::from_value(policies).unwrap();
        PolicySet::compile(require_mtls, &specs).unwrap()
    }

    fn set(policies: Value) -> PolicySet {
        compile(false, policies)
    }

    fn req<'a>(principal: Option<&'a str>, method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            principal,
            mtls: principal.is_some(),
            method,
            path,
        }
    }

    fn decide<'s>(
        set: &'s PolicySet,
        principal: Option<&str>,
        method: &str,
        path: &str,
    ) -> Decision<'s> {
        set.decide(&req(principal, method, path))
    }

    fn verdict(set: &PolicySet, principal: Option<&str>, method: &str, path: &str) -> Verdict {
        decide(set, principal, method, path).verdict
    }

    /// A single ALLOW policy with one rule holding `rule`.
    fn allow_rule(rule: Value) -> PolicySet {
        set(json!([{"name": "p", "action": "ALLOW", "rules": [rule]}]))
    }

    fn allow_paths(paths: Value) -> PolicySet {
        allow_rule(json!({"to": [{"operation": {"paths": paths}}]}))
    }

    fn allowed(set: &PolicySet, path: &str) -> bool {
        verdict(set, Some(FRONTEND), "GET", path) == Verdict::Allow
    }

    #[test]
    fn verdict_strings() {
        assert_eq!(Verdict::Allow.as_str(), "allow");
        assert_eq!(Verdict::Deny.as_str(), "deny");
    }

    #[test]
    fn no_policies_allows_everything_with_empty_rule() {
        let s = set(json!([]));
        let d = decide(&s, None, "DELETE", "/anything");
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Allow,
                shadow: None,
                rule: "",
                audit_policy: None
            }
        );
    }

    #[test]
    fn exact_path() {
        let s = allow_paths(json!(["/healthz"]));
        assert!(allowed(&s, "/healthz"));
        assert!(!allowed(&s, "/healthz/"));
        assert!(!allowed(&s, "/healthzx"));
    }

    #[test]
    fn prefix_path() {
        let s = allow_paths(json!(["/static*"]));
        assert!(allowed(&s, "/static/app.js"));
        assert!(allowed(&s, "/static"));
        assert!(!allowed(&s, "/api/static"));
    }

    #[test]
    fn suffix_path() {
        let s = allow_paths(json!(["*.css"]));
        assert!(allowed(&s, "/static/site.css"));
        assert!(!allowed(&s, "/static/site.css.map"));
    }

    #[test]
    fn presence_path() {
        let s = allow_paths(json!(["*"]));
        assert!(allowed(&s, "/"));
        assert!(allowed(&s, "/x/y"));
    }

    #[test]
    fn single_segment_template_path() {
        let s = allow_paths(json!(["/api/orders/{*}"]));
        assert!(allowed(&s, "/api/orders/42"));
        assert!(allowed(&s, "/api/orders/42?expand=items"));
        assert!(!allowed(&s, "/api/orders/42/items"));
        assert!(!allowed(&s, "/api/orders/"));
        assert!(!allowed(&s, "/api/orders"));
    }

    #[test]
    fn rest_template_path() {
        let s = allow_paths(json!(["/api/{*}/orders/{**}"]));
        assert!(allowed(&s, "/api/v1/orders/42"));
        assert!(allowed(&s, "/api/v1/orders/42/items/1"));
        assert!(!allowed(&s, "/api/v1/orders"));
        assert!(!allowed(&s, "/api/v1/users/42"));
    }

    #[test]
    fn regex_path() {
        let s = allow_paths(json!(["regex:/v[0-9]+/orders"]));
        assert!(allowed(&s, "/v12/orders"));
        assert!(allowed(&s, "/v12/orders?x=1"));
        assert!(!allowed(&s, "/v12/orders/1"));
        assert!(!allowed(&s, "/x/v12/orders"));
        assert!(!allowed(&s, "/vX/orders"));
    }

    #[test]
    fn query_and_fragment_are_ignored() {
        let s = set(json!([{"name": "no-admin", "action": "DENY",
            "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]}]));
        assert_eq!(verdict(&s, None, "GET", "/admin?x=1"), Verdict::Deny);
        assert_eq!(verdict(&s, None, "GET", "/admin#top"), Verdict::Deny);
        assert_eq!(
            verdict(&s, None, "GET", "/public?next=/admin"),
            Verdict::Allow
        );
    }

    #[test]
    fn normalisation_attacks_do_not_bypass_deny() {
        let s = set(json!([{"name": "no-admin", "action": "DENY",
            "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}]));
        for path in [
            "/admin",
            "/admin/",
            "/admin/users",
            "/api/../admin",
            "/%61dmin",
            "/%61%64%6d%69%6e/users",
            "//admin",
            "/./admin",
            "/api/./../admin",
            "/api/%2e%2e/admin",
            "/api/%2E%2e/admin",
            "/../../admin",
        ] {
            let d = decide(&s, None, "GET", path);
            assert_eq!((d.verdict, d.rule), (Verdict::Deny, "no-admin"), "{path}");
        }
        // An encoded slash is not a separator: this is one segment named
        // "api%2F..%2Fadmin", not /admin.
        assert_eq!(
            verdict(&s, None, "GET", "/api%2F..%2Fadmin"),
            Verdict::Allow
        );
        assert_eq!(verdict(&s, None, "GET", "/api/admin"), Verdict::Allow);
    }

    #[test]
    fn trailing_slash_needs_prefix_rule_like_istio() {
        let s = set(json!([{"name": "no-admin", "action": "DENY",
            "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]}]));
        assert_eq!(
            verdict(&s, None, "GET", "/admin/.."),
            Verdict::Allow,
            "resolves to /"
        );
        assert_eq!(
            verdict(&s, None, "GET", "/admin/./"),
            Verdict::Allow,
            "exact, so /admin/ differs"
        );
        assert_eq!(verdict(&s, None, "GET", "/x/../admin"), Verdict::Deny);
    }

    #[test]
    fn not_paths() {
        let s = allow_rule(
            json!({"to": [{"operation": {"paths": ["/static*"], "notPaths": ["*.map"]}}]}),
        );
        assert!(allowed(&s, "/static/app.js"));
        assert!(!allowed(&s, "/static/app.js.map"));
        let only_not = allow_rule(json!({"to": [{"operation": {"notPaths": ["/private*"]}}]}));
        assert!(allowed(&only_not, "/public"));
        assert!(!allowed(&only_not, "/private/x"));
        assert!(!allowed(&only_not, "/public/../private/x"));
    }

    #[test]
    fn methods_and_not_methods() {
        let s = allow_rule(json!({"to": [{"operation": {"methods": ["GET", "HEAD"]}}]}));
        assert_eq!(verdict(&s, None, "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&s, None, "HEAD", "/"), Verdict::Allow);
        assert_eq!(verdict(&s, None, "POST", "/"), Verdict::Deny);
        assert_eq!(
            verdict(&s, None, "get", "/"),
            Verdict::Deny,
            "case-sensitive"
        );
        let not = allow_rule(json!({"to": [{"operation": {"notMethods": ["DELETE", "P*"]}}]}));
        assert_eq!(verdict(&not, None, "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&not, None, "DELETE", "/"), Verdict::Deny);
        assert_eq!(verdict(&not, None, "PUT", "/"), Verdict::Deny);
        assert_eq!(verdict(&not, None, "PATCH", "/"), Verdict::Deny);
    }

    #[test]
    fn operation_fields_are_anded_and_operations_ored() {
        let s = allow_rule(json!({"to": [
            {"operation": {"methods": ["GET"], "paths": ["/read*"]}},
            {"operation": {"methods": ["POST"], "paths": ["/write"]}}
        ]}));
        assert_eq!(verdict(&s, None, "GET", "/read/1"), Verdict::Allow);
        assert_eq!(verdict(&s, None, "POST", "/write"), Verdict::Allow);
        assert_eq!(verdict(&s, None, "POST", "/read/1"), Verdict::Deny);
        assert_eq!(verdict(&s, None, "GET", "/write"), Verdict::Deny);
    }

    #[test]
    fn principals_with_and_without_spiffe_scheme() {
        for pattern in [
            "cluster.local/ns/shop/sa/frontend",
            "spiffe://cluster.local/ns/shop/sa/frontend",
        ] {
            let s = allow_rule(json!({"from": [{"source": {"principals": [pattern]}}]}));
            assert_eq!(
                verdict(&s, Some(FRONTEND), "GET", "/"),
                Verdict::Allow,
                "{pattern}"
            );
            assert_eq!(
                verdict(&s, Some("cluster.local/ns/shop/sa/frontend"), "GET", "/"),
                Verdict::Allow,
                "{pattern}, request without scheme"
            );
            assert_eq!(
                verdict(&s, Some(ADMIN_TOOL), "GET", "/"),
                Verdict::Deny,
                "{pattern}"
            );
        }
    }

    #[test]
    fn principal_wildcards() {
        let prefix =
            allow_rule(json!({"from": [{"source": {"principals": ["cluster.local/ns/shop/*"]}}]}));
        assert_eq!(verdict(&prefix, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(
            verdict(&prefix, Some(ADMIN_TOOL), "GET", "/"),
            Verdict::Deny
        );
        let suffix = allow_rule(json!({"from": [{"source": {"principals": ["*/sa/admin-tool"]}}]}));
        assert_eq!(
            verdict(&suffix, Some(ADMIN_TOOL), "GET", "/"),
            Verdict::Allow
        );
        assert_eq!(verdict(&suffix, Some(FRONTEND), "GET", "/"), Verdict::Deny);
    }

    #[test]
    fn plaintext_matches_no_principal_not_even_presence() {
        let s = allow_rule(json!({"from": [{"source": {"principals": ["*"]}}]}));
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&s, None, "GET", "/"), Verdict::Deny);
        assert_eq!(
            verdict(&s, Some(""), "GET", "/"),
            Verdict::Deny,
            "empty principal = none"
        );
        assert_eq!(verdict(&s, Some("spiffe://"), "GET", "/"), Verdict::Deny);
        let ns = allow_rule(json!({"from": [{"source": {"namespaces": ["*"]}}]}));
        assert_eq!(verdict(&ns, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&ns, None, "GET", "/"), Verdict::Deny);
    }

    #[test]
    fn not_principals() {
        let s = set(
            json!([{"name": "plaintext-or-admin", "action": "DENY", "rules": [
            {"from": [{"source": {"notPrincipals": ["cluster.local/ns/shop/*"]}}]}]}]),
        );
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&s, Some(ADMIN_TOOL), "GET", "/"), Verdict::Deny);
        assert_eq!(
            verdict(&s, None, "GET", "/"),
            Verdict::Deny,
            "plaintext is in no list"
        );
        // The Istio idiom for "deny plaintext".
        let any = set(
            json!([{"name": "require-identity", "action": "DENY", "rules": [
            {"from": [{"source": {"notPrincipals": ["*"]}}]}]}]),
        );
        assert_eq!(verdict(&any, None, "GET", "/"), Verdict::Deny);
        assert_eq!(verdict(&any, Some(FRONTEND), "GET", "/"), Verdict::Allow);
    }

    #[test]
    fn namespaces_are_extracted_from_the_principal() {
        let s = allow_rule(json!({"from": [{"source": {"namespaces": ["shop"]}}]}));
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(
            verdict(&s, Some("cluster.local/ns/shop/sa/x"), "GET", "/"),
            Verdict::Allow
        );
        assert_eq!(verdict(&s, Some(ADMIN_TOOL), "GET", "/"), Verdict::Deny);
        assert_eq!(
            verdict(&s, Some("cluster.local/ns/shopping/sa/x"), "GET", "/"),
            Verdict::Deny
        );
        assert_eq!(
            verdict(&s, Some("cluster.local/sa/shop"), "GET", "/"),
            Verdict::Deny,
            "no /ns/"
        );
        assert_eq!(
            verdict(&s, Some("cluster.local/ns//sa/x"), "GET", "/"),
            Verdict::Deny
        );
        assert_eq!(verdict(&s, None, "GET", "/"), Verdict::Deny);
        let prefix = allow_rule(json!({"from": [{"source": {"namespaces": ["shop-*"]}}]}));
        assert_eq!(
            verdict(&prefix, Some("cluster.local/ns/shop-eu/sa/x"), "GET", "/"),
            Verdict::Allow
        );
    }

    #[test]
    fn not_namespaces() {
        let s = allow_rule(json!({"from": [{"source": {"notNamespaces": ["dev"]}}]}));
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(
            verdict(&s, Some("cluster.local/ns/dev/sa/x"), "GET", "/"),
            Verdict::Deny
        );
        assert_eq!(
            verdict(&s, None, "GET", "/"),
            Verdict::Allow,
            "plaintext is in no list"
        );
    }

    #[test]
    fn source_fields_are_anded_and_sources_ored() {
        let s = allow_rule(json!({"from": [
            {"source": {"principals": ["cluster.local/ns/shop/*"], "notPrincipals": ["*/sa/batch"]}},
            {"source": {"namespaces": ["ops"]}}
        ]}));
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(
            verdict(&s, Some("cluster.local/ns/shop/sa/batch"), "GET", "/"),
            Verdict::Deny
        );
        assert_eq!(
            verdict(&s, Some(ADMIN_TOOL), "GET", "/"),
            Verdict::Allow,
            "second source"
        );
        assert_eq!(
            verdict(&s, Some("cluster.local/ns/dev/sa/x"), "GET", "/"),
            Verdict::Deny
        );
    }

    #[test]
    fn from_and_to_must_both_match() {
        let s = allow_rule(json!({
            "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"]}}],
            "to": [{"operation": {"methods": ["GET"]}}]
        }));
        assert_eq!(verdict(&s, Some(FRONTEND), "GET", "/"), Verdict::Allow);
        assert_eq!(verdict(&s, Some(FRONTEND), "POST", "/"), Verdict::Deny);
        assert_eq!(verdict(&s, Some(ADMIN_TOOL), "GET", "/"), Verdict::Deny);
    }

    #[test]
    fn empty_rule_matches_everything_but_no_rules_match_nothing() {
        let all = set(json!([{"name": "all", "action": "DENY", "rules": [{}]}]));
        assert_eq!(decide(&all, None, "GET", "/").rule, "all");
        assert_eq!(verdict(&all, Some(FRONTEND), "PUT", "/x"), Verdict::Deny);
        let empty_lists =
            set(json!([{"name": "all", "action": "DENY", "rules": [{"from": [], "to": []}]}]));
        assert_eq!(verdict(&empty_lists, None, "GET", "/"), Verdict::Deny);
        for rules in [json!([]), Value::Null] {
            let mut policy = json!({"name": "none", "action": "DENY"});
            if !rules.is_null() {
                policy["rules"] = rules;
            }
            let s = set(json!([policy]));
            assert_eq!(verdict(&s, None, "GET", "/"), Verdict::Allow);
        }
        // An ALLOW policy with no rules still switches on default deny.
        let allow_none = set(json!([{"name": "nobody", "action": "ALLOW"}]));
        let d = decide(&allow_none, Some(FRONTEND), "GET", "/");
        assert_eq!((d.verdict, d.rule), (Verdict::Deny, "default-deny"));
    }

    fn shop() -> PolicySet {
        set(json!([
            {"name": "frontend-reads", "action": "ALLOW", "rules": [{"name": "orders",
                "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"]}}],
                "to": [{"operation": {"methods": ["GET"], "paths": ["/api/orders/{*}", "/admin/stats"]}}]}]},
            {"name": "health", "action": "ALLOW", "rules": [{"to": [{"operation": {"paths": ["/healthz"]}}]}]},
            {"name": "no-admin", "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}
        ]))
    }

    #[test]
    fn deny_wins_over_allow() {
        let s = shop();
        let d = decide(&s, Some(FRONTEND), "GET", "/admin/stats");
        assert_eq!((d.verdict, d.rule), (Verdict::Deny, "no-admin"));
    }

    #[test]
    fn allow_names_policy_and_rule() {
        let s = shop();
        let d = decide(&s, Some(FRONTEND), "GET", "/api/orders/7");
        assert_eq!(
            (d.verdict, d.rule),
            (Verdict::Allow, "frontend-reads/orders")
        );
        let d = decide(&s, None, "GET", "/healthz");
        assert_eq!((d.verdict, d.rule), (Verdict::Allow, "health"));
    }

    #[test]
    fn default_deny_when_no_allow_matches() {
        let s = shop();
        for (principal, method, path) in [
            (Some(FRONTEND), "POST", "/api/orders/7"),
            (Some(ADMIN_TOOL), "GET", "/api/orders/7"),
            (None, "GET", "/api/orders/7"),
            (Some(FRONTEND), "GET", "/other"),
        ] {
            let d = decide(&s, principal, method, path);
            assert_eq!(
                (d.verdict, d.rule),
                (Verdict::Deny, "default-deny"),
                "{method} {path}"
            );
            assert_eq!(d.shadow, None);
        }
    }

    #[test]
    fn first_matching_rule_and_policy_name_the_decision() {
        let s = set(json!([
            {"name": "a", "action": "DENY", "rules": [
                {"name": "r1", "to": [{"operation": {"methods": ["POST"]}}]},
                {"name": "r2", "to": [{"operation": {"paths": ["/x*"]}}]},
                {"to": [{"operation": {"paths": ["/xy"]}}]}]},
            {"name": "b", "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/x*"]}}]}]}
        ]));
        assert_eq!(decide(&s, None, "POST", "/x").rule, "a/r1");
        assert_eq!(decide(&s, None, "GET", "/xy").rule, "a/r2");
        let unnamed = set(json!([{"name": "a", "action": "DENY", "rules": [
            {"name": "r1", "to": [{"operation": {"methods": ["POST"]}}]},
            {"to": [{"operation": {"paths": ["/xy"]}}]}]}]));
        assert_eq!(decide(&unnamed, None, "GET", "/xy").rule, "a");
    }

    #[test]
    fn audit_marks_without_blocking() {
        let s = set(json!([
            {"name": "audit-exports", "action": "AUDIT", "rules": [{"to": [{"operation": {"paths": ["/api/export*"]}}]}]},
            {"name": "audit-all-posts", "action": "AUDIT", "rules": [{"to": [{"operation": {"methods": ["POST"]}}]}]}
        ]));
        let d = decide(&s, None, "POST", "/api/export/all");
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Allow,
                shadow: None,
                rule: "",
                audit_policy: Some("audit-exports")
            }
        );
        assert_eq!(
            decide(&s, None, "POST", "/x").audit_policy,
            Some("audit-all-posts")
        );
        assert_eq!(decide(&s, None, "GET", "/x").audit_policy, None);
        // Denied requests are still marked.
        let with_deny = set(json!([
            {"name": "audit-exports", "action": "AUDIT", "rules": [{"to": [{"operation": {"paths": ["/api/export*"]}}]}]},
            {"name": "deny-all", "action": "DENY", "rules": [{}]}
        ]));
        let d = decide(&with_deny, None, "GET", "/api/export");
        assert_eq!(
            (d.verdict, d.rule, d.audit_policy),
            (Verdict::Deny, "deny-all", Some("audit-exports"))
        );
    }

    #[test]
    fn dry_run_deny_only_shadows() {
        let s = set(json!([
            {"name": "no-admin", "action": "DENY", "dryRun": true,
             "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}
        ]));
        let d = decide(&s, None, "GET", "/admin");
        assert_eq!(
            d,
            Decision {
                verdict: Verdict::Allow,
                shadow: Some(Verdict::Deny),
                rule: "",
                audit_policy: None
            }
        );
        let d = decide(&s, None, "GET", "/public");
        assert_eq!(
            (d.verdict, d.shadow),
            (Verdict::Allow, Some(Verdict::Allow))
        );
    }

    #[test]
    fn dry_run_allow_would_switch_on_default_deny() {
        let s = set(json!([
            {"name": "frontend-only", "action": "ALLOW", "dryRun": true,
             "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"]}}]}]}
        ]));
        let d = decide(&s, Some(ADMIN_TOOL), "GET", "/");
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Allow, "", Some(Verdict::Deny))
        );
        let d = decide(&s, Some(FRONTEND), "GET", "/");
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Allow, "", Some(Verdict::Allow))
        );
    }

    #[test]
    fn dry_run_allow_next_to_enforced_allow() {
        let s = set(json!([
            {"name": "reads", "action": "ALLOW", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]},
            {"name": "writes", "action": "ALLOW", "dryRun": true, "rules": [{"to": [{"operation": {"methods": ["POST"]}}]}]}
        ]));
        let d = decide(&s, None, "POST", "/");
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Deny, "default-deny", Some(Verdict::Allow))
        );
        let d = decide(&s, None, "GET", "/");
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Allow, "reads", Some(Verdict::Allow))
        );
        let d = decide(&s, None, "PUT", "/");
        assert_eq!((d.verdict, d.shadow), (Verdict::Deny, Some(Verdict::Deny)));
    }

    #[test]
    fn dry_run_deny_can_override_an_enforced_allow_in_the_shadow() {
        let s = set(json!([
            {"name": "all", "action": "ALLOW", "rules": [{}]},
            {"name": "no-delete", "action": "DENY", "dryRun": true, "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]}
        ]));
        let d = decide(&s, None, "DELETE", "/");
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Allow, "all", Some(Verdict::Deny))
        );
    }

    #[test]
    fn require_mtls() {
        let s = compile(
            true,
            json!([{"name": "all", "action": "ALLOW", "rules": [{}]}]),
        );
        let plaintext = Request {
            principal: None,
            mtls: false,
            method: "GET",
            path: "/",
        };
        let d = s.decide(&plaintext);
        assert_eq!(
            (d.verdict, d.rule, d.shadow),
            (Verdict::Deny, "require-mtls", None)
        );
        let d = decide(&s, Some(FRONTEND), "GET", "/");
        assert_eq!((d.verdict, d.rule), (Verdict::Allow, "all"));
        // Also applies with no policies at all, and in the shadow.
        let bare = compile(true, json!([]));
        assert_eq!(bare.decide(&plaintext).verdict, Verdict::Deny);
        let dry = compile(
            true,
            json!([{"name": "x", "action": "DENY", "dryRun": true}]),
        );
        let d = dry.decide(&plaintext);
        assert_eq!((d.verdict, d.shadow), (Verdict::Deny, Some(Verdict::Deny)));
        let off = compile(false, json!([]));
        assert_eq!(off.decide(&plaintext).verdict, Verdict::Allow);
    }

    #[test]
    fn decide_never_panics_on_odd_requests() {
        let s = shop();
        for path in [
            "",
            "%",
            "%4",
            "%zz",
            "?",
            "#",
            "*",
            "\u{e9}%\u{e9}",
            "/%%%/../..",
            "/a/{*}",
        ] {
            for principal in [
                None,
                Some(""),
                Some("spiffe://"),
                Some("/ns/"),
                Some("\u{e9}/ns/\u{e9}"),
            ] {
                let d = decide(&s, principal, "", path);
                assert_eq!(d.verdict, Verdict::Deny, "{path:?} {principal:?}");
            }
        }
    }
}
