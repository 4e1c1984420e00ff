#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_redact::{Content, RedactionConfig, Redactor};
use serde_json::{json, Value};

use super::{BatchConfig, DestinationOverride, FailureMode, FilterConfig, PathNormalization};
use crate::policy::{Request, Verdict};

const CLUSTER: &str = "outbound|9090||observatory-collector.observatory.svc.cluster.local";

fn parse(v: &Value) -> Result<FilterConfig, super::ConfigError> {
    FilterConfig::from_json(v.to_string().as_bytes())
}

/// A minimal valid configuration with `extra` merged in at the top.
fn with(extra: Value) -> Value {
    let mut v = json!({"collector": {"cluster": CLUSTER}});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// The error text for a configuration that must be rejected.
fn error(v: &Value) -> String {
    parse(v).expect_err("must be rejected").to_string()
}

fn policy_error(policies: Value) -> String {
    error(&with(json!({ "policies": policies })))
}

fn paths_error(paths: Value) -> String {
    policy_error(json!([{"name": "p", "action": "ALLOW",
        "rules": [{"to": [{"operation": {"paths": paths}}]}]}]))
}

#[test]
fn full_example() {
    let v = json!({
      "collector": {"cluster": CLUSTER, "authority": "collector.example:9090",
                    "minBackoffMs": 100, "maxBackoffMs": 5000},
      "requireMtls": false,
      "policies": [
        {"name": "frontend-reads", "action": "ALLOW", "dryRun": false,
         "rules": [{"name": "orders",
                    "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"], "notNamespaces": ["dev"]}}],
                    "to":   [{"operation": {"methods": ["GET","HEAD"], "paths": ["/api/orders/{*}", "/static*"], "notPaths": ["*.map"]}}]}]},
        {"name": "no-admin", "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*", "regex:^/internal/v[0-9]+/.*$"]}}]}]}
      ],
      "batch": {"maxRecords": 128, "maxAgeMs": 250, "maxBufferedBytes": 1048576},
      "auditFailureMode": "closed",
      "auditFailureTimeoutMs": 2000,
      "pathNormalization": "decide-only",
      "requestIdMaxBytes": 64,
      "correlationHeader": "X-Request-ID",
      "destination": {"workload": "orders", "namespace": "shop"},
      "proxyId": "orders-7d9f/worker"
    });
    let c = parse(&v).unwrap();
    assert_eq!(
        (
            c.collector.cluster.as_str(),
            c.collector.authority.as_str(),
            c.collector.min_backoff_ms,
            c.collector.max_backoff_ms
        ),
        (CLUSTER, "collector.example:9090", 100, 5000)
    );
    assert_eq!(c.audit_failure_timeout_ms, 2000);
    assert_eq!(c.path_normalization, PathNormalization::DecideOnly);
    assert_eq!(c.request_id_max_bytes, 64);
    assert_eq!(
        c.batch,
        BatchConfig {
            max_records: 128,
            max_age_ms: 250,
            max_buffered_bytes: 1 << 20
        }
    );
    assert_eq!(c.audit_failure_mode, FailureMode::Closed);
    assert_eq!(c.correlation_header, "x-request-id");
    assert_eq!(
        c.destination,
        DestinationOverride {
            workload: Some("orders".into()),
            namespace: Some("shop".into())
        }
    );
    assert_eq!(c.proxy_id.as_deref(), Some("orders-7d9f/worker"));

    let frontend = Some("spiffe://cluster.local/ns/shop/sa/frontend");
    let req = |method, path| Request {
        principal: frontend,
        mtls: true,
        method,
        path,
    };
    let d = c.policies.decide(&req("GET", "/api/orders/1"));
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::Allow, "frontend-reads/orders")
    );
    let d = c.policies.decide(&req("GET", "/internal/v2/debug"));
    assert_eq!((d.verdict, d.rule), (Verdict::Deny, "no-admin"));
    let d = c.policies.decide(&req("GET", "/static/app.js.map"));
    assert_eq!((d.verdict, d.rule), (Verdict::Deny, "default-deny"));
}

#[test]
fn defaults() {
    let c = parse(&with(json!({}))).unwrap();
    assert_eq!(
        (
            c.collector.cluster.as_str(),
            c.collector.authority.as_str(),
            c.collector.min_backoff_ms,
            c.collector.max_backoff_ms
        ),
        (
            CLUSTER,
            "observatory-collector.observatory.svc.cluster.local:9090",
            500,
            30_000
        )
    );
    assert_eq!(c.audit_failure_timeout_ms, 5000);
    assert_eq!(c.path_normalization, PathNormalization::Rewrite);
    assert_eq!(c.request_id_max_bytes, 128);
    assert_eq!(
        c.batch,
        BatchConfig {
            max_records: 256,
            max_age_ms: 1000,
            max_buffered_bytes: 4 * 1024 * 1024
        }
    );
    assert_eq!(c.audit_failure_mode, FailureMode::Open);
    assert_eq!(c.correlation_header, "x-correlation-id");
    assert_eq!(c.destination, DestinationOverride::default());
    assert_eq!(c.proxy_id, None);
    // No policies: everything allowed, plaintext included.
    let d = c.policies.decide(&Request {
        principal: None,
        mtls: false,
        method: "DELETE",
        path: "/admin",
    });
    assert_eq!((d.verdict, d.rule, d.shadow), (Verdict::Allow, "", None));
}

#[test]
fn partial_batch_keeps_other_defaults() {
    let c = parse(&with(json!({"batch": {"maxRecords": 1}}))).unwrap();
    assert_eq!(
        c.batch,
        BatchConfig {
            max_records: 1,
            max_age_ms: 1000,
            max_buffered_bytes: 4 * 1024 * 1024
        }
    );
}

#[test]
fn require_mtls_reaches_the_policy_set() {
    let c = parse(&with(json!({"requireMtls": true}))).unwrap();
    let d = c.policies.decide(&Request {
        principal: None,
        mtls: false,
        method: "GET",
        path: "/",
    });
    assert_eq!((d.verdict, d.rule), (Verdict::Deny, "require-mtls"));
}

#[test]
fn empty_body() {
    for body in [&b""[..], b"  \n\t"] {
        let err = FilterConfig::from_json(body).unwrap_err();
        assert_eq!(err.field, "configuration");
        assert_eq!(
            err.to_string(),
            "configuration: empty (expected JSON with at least collector.cluster)"
        );
    }
}

#[test]
fn not_json() {
    for body in [
        &b"collector: x"[..],
        b"{\"collector\": ",
        b"{\"collector\": {\"cluster\": \"c\"}} trailing",
        b"\xff\xfe",
    ] {
        let err = FilterConfig::from_json(body).unwrap_err();
        assert_eq!(err.field, "configuration", "{err}");
        assert!(err.problem.starts_with("not valid JSON: "), "{err}");
    }
}

#[test]
fn not_an_object() {
    assert_eq!(
        FilterConfig::from_json(b"\"x\"").unwrap_err().to_string(),
        "configuration: invalid type: string \"x\", expected an object"
    );
}

#[test]
fn collector_cluster_required_and_non_empty() {
    assert_eq!(error(&json!({})), "collector: missing field");
    assert_eq!(
        error(&json!({"collector": {}})),
        "collector.cluster: missing field"
    );
    assert_eq!(
        error(&json!({"collector": {"cluster": " "}})),
        "collector.cluster: must not be empty"
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let e = error(&with(json!({"requireMTLS": true})));
    assert!(
        e.starts_with("requireMTLS: unknown field `requireMTLS`, expected one of"),
        "{e}"
    );
    let e = error(&json!({"collector": {"cluster": "c", "port": 1}}));
    assert!(e.starts_with("collector.port: unknown field"), "{e}");
    let e = error(&with(json!({"batch": {"maxAge": 1}})));
    assert!(e.starts_with("batch.maxAge: unknown field"), "{e}");
    let e = error(&with(json!({"destination": {"cluster": "x"}})));
    assert!(e.starts_with("destination.cluster: unknown field"), "{e}");
    let e = policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
        {"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}]}]));
    assert!(
        e.starts_with("policies[0].rules[0].from[0].source.ipBlocks: unknown field"),
        "{e}"
    );
    let e = policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
        {"to": [{"operation": {"notPath": ["/x"]}}]}]}]));
    assert!(
        e.starts_with("policies[0].rules[0].to[0].operation.notPath: unknown field"),
        "{e}"
    );
    let e = policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [{"when": []}]}]));
    assert!(
        e.starts_with("policies[0].rules[0].when: unknown field"),
        "{e}"
    );
    let e = policy_error(json!([{"name": "p", "action": "ALLOW", "selector": {}}]));
    assert!(e.starts_with("policies[0].selector: unknown field"), "{e}");
}

#[test]
fn wrong_types() {
    assert_eq!(
        error(&json!({"collector": {"cluster": 5}})),
        "collector.cluster: invalid type: integer `5`, expected a string"
    );
    assert_eq!(
        error(&with(json!({"requireMtls": "yes"}))),
        "requireMtls: invalid type: string \"yes\", expected a boolean"
    );
    assert_eq!(
        error(&with(json!({"batch": null}))),
        "batch: invalid type: null, expected an object"
    );
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
            {"to": [{"operation": {"methods": "GET"}}]}]}])),
        "policies[0].rules[0].to[0].operation.methods: invalid type: string \"GET\", expected a sequence"
    );
    assert_eq!(
        error(&with(json!({"batch": {"maxRecords": 1.5}}))),
        "batch.maxRecords: invalid type: floating point `1.5`, expected usize"
    );
}

#[test]
fn audit_failure_mode_values() {
    assert_eq!(
        parse(&with(json!({"auditFailureMode": "open"})))
            .unwrap()
            .audit_failure_mode,
        FailureMode::Open
    );
    assert_eq!(
        error(&with(json!({"auditFailureMode": "Closed"}))),
        "auditFailureMode: unknown variant `Closed`, expected `open` or `closed`"
    );
}

#[test]
fn numbers_out_of_range() {
    for (batch, field, problem) in [
        (
            json!({"maxRecords": 0}),
            "maxRecords",
            "must be between 1 and 10000, got 0",
        ),
        (
            json!({"maxRecords": 10_001}),
            "maxRecords",
            "must be between 1 and 10000, got 10001",
        ),
        (
            json!({"maxAgeMs": 9}),
            "maxAgeMs",
            "must be between 10 and 60000, got 9",
        ),
        (
            json!({"maxAgeMs": 60_001}),
            "maxAgeMs",
            "must be between 10 and 60000, got 60001",
        ),
        (
            json!({"maxBufferedBytes": 65_535}),
            "maxBufferedBytes",
            "must be between 65536 and 268435456, got 65535",
        ),
        (
            json!({"maxBufferedBytes": 268_435_457u64}),
            "maxBufferedBytes",
            "must be between 65536 and 268435456, got 268435457",
        ),
    ] {
        assert_eq!(
            error(&with(json!({"batch": batch}))),
            format!("batch.{field}: {problem}")
        );
    }
    // Bounds themselves are accepted.
    let c = parse(&with(
        json!({"batch": {"maxRecords": 10_000, "maxAgeMs": 10, "maxBufferedBytes": 65_536}}),
    ))
    .unwrap();
    assert_eq!(
        c.batch,
        BatchConfig {
            max_records: 10_000,
            max_age_ms: 10,
            max_buffered_bytes: 65_536
        }
    );
    assert_eq!(
        error(&with(json!({"batch": {"maxRecords": -1}}))),
        "batch.maxRecords: invalid value: integer `-1`, expected usize"
    );
}

#[test]
fn delivery_and_request_bounds() {
    for (extra, expected) in [
        (
            json!({"auditFailureTimeoutMs": 99}),
            "auditFailureTimeoutMs: must be between 100 and 600000, got 99",
        ),
        (
            json!({"auditFailureTimeoutMs": 600_001}),
            "auditFailureTimeoutMs: must be between 100 and 600000, got 600001",
        ),
        (
            json!({"requestIdMaxBytes": 2000}),
            "requestIdMaxBytes: must be between 16 and 1024, got 2000",
        ),
        (
            json!({"pathNormalization": "merge-slashes"}),
            "pathNormalization: unknown variant `merge-slashes`, expected one of `rewrite`, `reject`, `decide-only`",
        ),
    ] {
        assert_eq!(error(&with(extra.clone())), expected, "{extra}");
    }
    let c = parse(&with(json!({"pathNormalization": "reject"}))).unwrap();
    assert_eq!(c.path_normalization, PathNormalization::Reject);
}

#[test]
fn backoff_bounds() {
    let collector = |c: Value| {
        let mut v = json!({"cluster": CLUSTER});
        for (k, val) in c.as_object().unwrap() {
            v[k] = val.clone();
        }
        error(&json!({ "collector": v }))
    };
    assert_eq!(
        collector(json!({"minBackoffMs": 0})),
        "collector.minBackoffMs: must be between 1 and 3600000, got 0"
    );
    assert_eq!(
        collector(json!({"minBackoffMs": 60_000})),
        "collector.maxBackoffMs: must be at least collector.minBackoffMs (60000), got 30000"
    );
    assert_eq!(
        collector(json!({"maxBackoffMs": 3_600_001})),
        "collector.maxBackoffMs: must be between 500 and 3600000, got 3600001"
    );
}

#[test]
fn correlation_header_must_be_a_header_name() {
    for bad in ["", "x correlation", ":path", "x-id\n", "caf\u{e9}"] {
        let e = error(&with(json!({ "correlationHeader": bad })));
        assert!(
            e.starts_with("correlationHeader: not a valid HTTP header name"),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn optional_strings_must_not_be_empty() {
    assert_eq!(
        error(&with(json!({"destination": {"workload": ""}}))),
        "destination.workload: must not be empty (omit it instead)"
    );
    assert_eq!(
        error(&with(json!({"destination": {"namespace": ""}}))),
        "destination.namespace: must not be empty (omit it instead)"
    );
    assert_eq!(
        error(&with(json!({"proxyId": ""}))),
        "proxyId: must not be empty (omit it instead)"
    );
    let c = parse(&with(json!({"destination": {"namespace": "shop"}}))).unwrap();
    assert_eq!(
        c.destination,
        DestinationOverride {
            workload: None,
            namespace: Some("shop".into())
        }
    );
}

#[test]
fn policy_names() {
    assert_eq!(
        policy_error(json!([{"action": "ALLOW"}])),
        "policies[0].name: missing field"
    );
    assert_eq!(
        policy_error(json!([{"name": "", "action": "ALLOW"}])),
        "policies[0].name: must not be empty"
    );
    assert_eq!(
        policy_error(json!([
            {"name": "a", "action": "ALLOW"}, {"name": "b", "action": "DENY"}, {"name": "a", "action": "AUDIT"}
        ])),
        "policies[2].name: duplicate policy name `a` (also policies[0])"
    );
    assert_eq!(
        policy_error(json!([{"name": "a/b", "action": "ALLOW"}])),
        "policies[0].name: must not contain `/`"
    );
    for reserved in ["default-deny", "require-mtls"] {
        assert!(policy_error(json!([{"name": reserved, "action": "DENY"}]))
            .starts_with("policies[0].name: is reserved"));
    }
}

#[test]
fn rule_names() {
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [{"name": ""}]}])),
        "policies[0].rules[0].name: must not be empty (omit it instead)"
    );
    assert_eq!(
        policy_error(
            json!([{"name": "p", "action": "ALLOW", "rules": [{"name": "r"}, {}, {"name": "r"}]}])
        ),
        "policies[0].rules[2].name: duplicate rule name `r` (also rules[0])"
    );
}

#[test]
fn bad_action() {
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "PERMIT"}])),
        "policies[0].action: unknown variant `PERMIT`, expected one of `ALLOW`, `DENY`, `AUDIT`"
    );
    assert_eq!(
        policy_error(json!([{"name": "p"}])),
        "policies[0].action: missing field"
    );
    assert!(policy_error(json!([{"name": "p", "action": "allow"}]))
        .starts_with("policies[0].action: unknown variant"));
}

#[test]
fn dry_run_audit_is_rejected() {
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "AUDIT", "dryRun": true}])),
        "policies[0].dryRun: not supported for AUDIT policies (they never change the verdict)"
    );
}

#[test]
fn source_and_operation_are_required_in_their_entries() {
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [{"from": [{}]}]}])),
        "policies[0].rules[0].from[0].source: missing field"
    );
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [{"to": [{}]}]}])),
        "policies[0].rules[0].to[0].operation: missing field"
    );
}

#[test]
fn invalid_path_patterns_name_the_element() {
    let at = "policies[0].rules[0].to[0].operation.paths";
    let e = paths_error(json!(["/ok", "/api/{**}/x"]));
    assert!(
        e.starts_with(&format!("{at}[1]: `{{**}}` must be the last segment")),
        "{e}"
    );
    let e = paths_error(json!(["/a{*}b"]));
    assert!(
        e.starts_with(&format!(
            "{at}[0]: `{{*}}` and `{{**}}` must each be a whole path segment"
        )),
        "{e}"
    );
    let e = paths_error(json!(["/api/*/orders"]));
    assert!(
        e.starts_with(&format!(
            "{at}[0]: `*` is only allowed as the first or last character"
        )),
        "{e}"
    );
    assert_eq!(
        paths_error(json!(["/a", "/b", ""])),
        format!("{at}[2]: empty pattern")
    );
    assert_eq!(
        paths_error(json!(["regex:("])),
        format!("{at}[0]: invalid regex: unclosed group")
    );
    let e = paths_error(json!([r"regex:(\w+\s+){200}"]));
    assert!(
        e.starts_with(&format!("{at}[0]: invalid regex: ")) && e.contains("size limit"),
        "{e}"
    );
    let e = policy_error(
        json!([{"name": "p", "action": "DENY", "rules": [{}, {"to": [
        {"operation": {"methods": ["GET"]}}, {"operation": {"notPaths": ["/x", "/%zz"]}}]}]}]),
    );
    assert!(
        e.starts_with("policies[0].rules[1].to[1].operation.notPaths[1]: `%` must start an escape"),
        "{e}"
    );
}

#[test]
fn empty_strings_in_lists() {
    let source = |field: &str| {
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
            {"from": [{"source": { field: ["ok*", ""] }}]}]}]))
    };
    for field in ["principals", "notPrincipals", "namespaces", "notNamespaces"] {
        assert_eq!(
            source(field),
            format!("policies[0].rules[0].from[0].source.{field}[1]: empty pattern")
        );
    }
    for field in ["methods", "notMethods"] {
        let e = policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
            {"to": [{"operation": { field: [""] }}]}]}]));
        assert_eq!(
            e,
            format!("policies[0].rules[0].to[0].operation.{field}[0]: empty pattern")
        );
    }
    assert_eq!(
        policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
            {"from": [{"source": {"principals": ["spiffe://"]}}]}]}])),
        "policies[0].rules[0].from[0].source.principals[0]: empty pattern"
    );
}

#[test]
fn inner_wildcard_principal_is_rejected() {
    let e = policy_error(json!([{"name": "p", "action": "ALLOW", "rules": [
        {"from": [{"source": {"principals": ["cluster.local/ns/*/sa/frontend"]}}]}]}]));
    assert!(
        e.starts_with("policies[0].rules[0].from[0].source.principals[0]: `*` is only allowed"),
        "{e}"
    );
}

#[test]
fn second_policy_errors_are_indexed() {
    let e = policy_error(json!([
        {"name": "a", "action": "ALLOW"},
        {"name": "b", "action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["x", "a*b"]}}]}]}
    ]));
    assert!(
        e.starts_with("policies[1].rules[0].from[0].source.namespaces[1]: "),
        "{e}"
    );
}

fn redaction_error(redaction: Value) -> String {
    error(&with(json!({ "redaction": redaction })))
}

#[test]
fn redaction_is_off_unless_configured() {
    assert!(parse(&with(json!({}))).unwrap().redaction.is_none());
    // `{}`: every built-in type, masked.
    let c = parse(&with(json!({"redaction": {}}))).unwrap();
    let r = c.redaction.unwrap();
    let out = r.redact(
        r#"{"email": "jane@example.com", "password": "x"}"#,
        Content::Json,
    );
    assert_eq!(
        out.text,
        r#"{"email": "[REDACTED:EMAIL]", "password": "[REDACTED:PASSWORD]"}"#
    );
}

#[test]
fn redaction_full_example() {
    let c = parse(&with(json!({"redaction": {
        "types": {"EMAIL": {"enabled": true, "mode": "hash"},
                  "CREDIT_CARD": {"mode": "partial", "keep": 4},
                  "IPV4": {"enabled": false},
                  "EMPLOYEE_ID": {"mode": "mask"}},
        "custom": [{"type": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"}],
        "keys": {"PASSWORD": ["pin"], "EMPLOYEE_ID": ["emp"]},
        "allow": {"values": ["support@example.com"], "keys": ["trace_id"]},
        "hmacKey": "0123456789abcdef", "hmacKeyId": "k2024",
        "maxScanBytes": 131072
    }})))
    .unwrap();
    let r = c.redaction.unwrap();
    let debug = format!("{r:?}");
    assert!(
        debug.contains("k2024") && !debug.contains("0123456789abcdef"),
        "{debug}"
    );
    let out = r.redact(
        "EMP-123456 pin=1234 4242424242424242 10.0.0.1 support@example.com",
        Content::Text,
    );
    assert_eq!(
        out.text,
        "[REDACTED:EMPLOYEE_ID] pin=[REDACTED:PASSWORD] ************4242 10.0.0.1 support@example.com"
    );
    let out = r.redact("jane@example.com", Content::Text);
    assert!(out.text.starts_with("[EMAIL:hmac:k2024:"), "{}", out.text);
}

#[test]
fn redaction_field_errors() {
    for (redaction, expected) in [
        (json!({"mode": "mask"}), "redaction.mode: unknown field `mode`"),
        (json!({"types": {"EMAIL": {"mode": "blur"}}}),
         "redaction.types.EMAIL.mode: unknown variant `blur`, expected one of `mask`, `partial`, `hash`"),
        (json!({"types": {"EMAIL": {"enable": false}}}),
         "redaction.types.EMAIL.enable: unknown field `enable`"),
        (json!({"types": {"E_MAIL": {}}}), "redaction.types.E_MAIL: unknown type"),
        (json!({"types": {"EMAIL": {"keep": 2}}}),
         "redaction.types.EMAIL.keep: only used with mode `partial`"),
        (json!({"types": {"CREDIT_CARD": {"mode": "partial", "keep": 0}}}),
         "redaction.types.CREDIT_CARD.keep: must be between 1 and 64, got 0"),
        (json!({"types": {"EMAIL": {"mode": "hash"}}}),
         "redaction.types.EMAIL.mode: `hash` needs hmacKey (or hmacKeyEnv) and hmacKeyId"),
        (json!({"types": {"EMAIL": {"mode": "hash"}}, "hmacKeyEnv": "K", "hmacKeyId": "k"}),
         "redaction.hmacKeyEnv: environment variable `K` is not set"),
        (json!({"hmacKey": "short", "hmacKeyId": "k"}),
         "redaction.hmacKey: must be at least 16 bytes"),
        (json!({"hmacKey": "0123456789abcdef"}), "redaction.hmacKeyId: missing"),
        (json!({"hmacKey": "0123456789abcdef", "hmacKeyId": "k 1"}), "redaction.hmacKeyId: 1–32 characters"),
        (json!({"hmacKey": "0123456789abcdef", "hmacKeyEnv": "K", "hmacKeyId": "k"}),
         "redaction.hmacKeyEnv: set either hmacKey or hmacKeyEnv, not both"),
        (json!({"hmacKeyId": "k"}), "redaction.hmacKeyId: set without hmacKey or hmacKeyEnv"),
        (json!({"custom": [{"type": "X", "pattern": "a"}, {"type": "Y", "pattern": "("}]}),
         "redaction.custom[1].pattern: invalid regex: unclosed group"),
        (json!({"custom": [{"type": "X", "pattern": "a*"}]}),
         "redaction.custom[0].pattern: can match the empty string"),
        (json!({"custom": [{"type": "X", "pattern": ""}]}), "redaction.custom[0].pattern: empty regex"),
        (json!({"custom": [{"type": "X", "pattern": r"(\w+\s+){500}"}]}), "redaction.custom[0].pattern: invalid regex: "),
        (json!({"custom": [{"type": "employee", "pattern": "a"}]}),
         "redaction.custom[0].type: `employee` is not a type name"),
        (json!({"custom": [{"kind": "X", "pattern": "a"}]}), "redaction.custom[0].kind: unknown field"),
        (json!({"keys": {"NOPE": ["x"]}}), "redaction.keys.NOPE: unknown type"),
        (json!({"keys": {"PASSWORD": ["ok", "__"]}}), "redaction.keys.PASSWORD[1]: `__` is not a key name"),
        (json!({"keys": {"PASSWORD": ["pin"], "PERSON": ["PIN"]}}),
         "redaction.keys.PERSON[0]: key already listed under redaction.keys.PASSWORD"),
        (json!({"allow": {"values": ["a", ""]}}), "redaction.allow.values[1]: must not be empty"),
        (json!({"allow": {"keys": [""]}}), "redaction.allow.keys[0]: `` is not a key name"),
        (json!({"maxScanBytes": 1000}), "redaction.maxScanBytes: must be between 1024 and 16777216, got 1000"),
        (json!("on"), "redaction: invalid type: string \"on\", expected an object"),
    ] {
        let e = redaction_error(redaction.clone());
        assert!(e.starts_with(expected), "{redaction}: {e}");
    }
}

#[test]
fn recording_and_dlp_need_redaction() {
    for (extra, expected) in [
        (
            json!({"recordHeaders": ["referer"]}),
            "recordHeaders: needs the `redaction` section",
        ),
        (
            json!({"recordBodies": {}}),
            "recordBodies: needs the `redaction` section",
        ),
        (
            json!({"dlp": [{"name": "d", "redactResponses": true}]}),
            "dlp[0]: needs the `redaction` section",
        ),
        (
            json!({"recordBodies": {"maxBytes": 1}, "redaction": {}}),
            "recordBodies.maxBytes: must be between 16 and 65536, got 1",
        ),
        (
            json!({"recordBodies": {"bytes": 10}, "redaction": {}}),
            "recordBodies.bytes: unknown field",
        ),
    ] {
        let e = error(&with(extra.clone()));
        assert!(e.starts_with(expected), "{extra}: {e}");
    }
    let c = parse(&with(json!({
        "redaction": {},
        "recordHeaders": ["Referer"],
        "recordBodies": {"maxBytes": 512},
        "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"]}]
    })))
    .unwrap();
    assert_eq!(c.capture.headers, ["referer"]);
    assert_eq!(c.capture.body_bytes, Some(512));
    let (_, rule) = c.dlp.find("/pay/now").unwrap();
    assert!(rule.denies_requests());
    let plain = parse(&with(json!({}))).unwrap();
    assert!(plain.capture.is_empty() && plain.dlp.is_empty());
}

#[test]
fn redaction_key_from_the_environment() {
    let cfg = hashed_by_env();
    let mut c: RedactionConfig = serde_json::from_value(cfg.clone()).unwrap();
    let e = c.resolve_hmac_key_env(|_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "redaction.hmacKeyEnv: environment variable `OBS_KEY` is not set"
    );
    let mut c: RedactionConfig = serde_json::from_value(cfg).unwrap();
    c.resolve_hmac_key_env(|name| (name == "OBS_KEY").then(|| "0123456789abcdef".to_owned()))
        .unwrap();
    let r = Redactor::new(&c).unwrap();
    assert!(r
        .redact("jane@example.com", Content::Text)
        .text
        .starts_with("[EMAIL:hmac:k1:"));
    assert!(!format!("{c:?}").contains("0123456789abcdef"));

    // The filter's configuration resolves it from the VM's environment.
    let filter =
        serde_json::to_vec(&json!({"collector": {"cluster": "c"}, "redaction": hashed_by_env()}))
            .unwrap();
    let e = FilterConfig::from_json(&filter).err().unwrap();
    assert_eq!(
        e.to_string(),
        "redaction.hmacKeyEnv: environment variable `OBS_KEY` is not set"
    );
    let config = FilterConfig::from_json_with_env(&filter, |name| {
        (name == "OBS_KEY").then(|| "0123456789abcdef".to_owned())
    })
    .unwrap();
    assert!(config
        .redaction
        .unwrap()
        .redact("jane@example.com", Content::Text)
        .text
        .starts_with("[EMAIL:hmac:k1:"));
}

fn hashed_by_env() -> serde_json::Value {
    json!({"types": {"EMAIL": {"mode": "hash"}}, "hmacKeyEnv": "OBS_KEY", "hmacKeyId": "k1"})
}
