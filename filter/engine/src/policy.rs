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
mod tests;
