//! What both targets share: the configurations under test and the checks
//! every redaction result must pass.

use std::sync::OnceLock;

use observatory_redact::{Redacted, RedactionConfig, Redactor};

/// Default (mask), every mode with custom rules and key lists, and a small
/// scan limit so truncation is reached; compiled once per process.
pub fn redactors() -> &'static [Redactor] {
    static REDACTORS: OnceLock<Vec<Redactor>> = OnceLock::new();
    REDACTORS.get_or_init(compile)
}

fn compile() -> Vec<Redactor> {
    [
        r#"{}"#,
        r#"{"types": {"CREDIT_CARD": {"mode": "partial", "keep": 4}, "PHONE": {"mode": "partial"},
             "EMAIL": {"mode": "hash"}, "IPV4": {"enabled": false}},
            "custom": [{"type": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"}],
            "keys": {"PASSWORD": ["pin"], "EMPLOYEE_ID": ["emp"]},
            "allow": {"values": ["support@example.com"], "keys": ["trace_id"]},
            "hmacKey": "fuzzing-key-0123456789", "hmacKeyId": "fz"}"#,
        r#"{"maxScanBytes": 1024}"#,
    ]
    .iter()
    .filter_map(|cfg| serde_json::from_str::<RedactionConfig>(cfg).ok())
    .filter_map(|cfg| Redactor::new(&cfg).ok())
    .collect()
}

/// Findings inside the input, sorted, disjoint and on character
/// boundaries; nothing found means the input comes back as it was.
pub fn check(input: &str, out: &Redacted<'_>) {
    let mut end = 0;
    for f in &out.findings {
        assert!(f.start < f.end && f.end <= input.len(), "{f:?} in {input:?}");
        assert!(f.start >= end, "overlap at {f:?} in {input:?}");
        assert!(input.is_char_boundary(f.start) && input.is_char_boundary(f.end));
        end = f.end;
    }
    if out.findings.is_empty() {
        assert_eq!(out.text, input);
    }
}
