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
    let s =
        allow_rule(json!({"to": [{"operation": {"paths": ["/static*"], "notPaths": ["*.map"]}}]}));
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
