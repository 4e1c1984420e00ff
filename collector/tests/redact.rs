//! Re-redaction on ingest (through a real gRPC stream) and the `redact`
//! command (the built binary, stdin to stdout).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{record, start, start_with};
use serde_json::{json, Value};

fn leaky_record() -> observatory_proto::audit::AuditRecord {
    let mut r = record(1);
    r.path = "/users/jane.doe@example.com/orders".into();
    r.user_agent = "probe (ops: +1 415 555 0123)".into();
    r
}

#[tokio::test]
async fn records_are_re_redacted_and_the_additions_counted() {
    let collector = start().await;
    assert_eq!(collector.deliver(vec![leaky_record(), record(2)]).await, 1);
    let lines = collector.json_lines().await;
    assert_eq!(lines[0]["path"], "/users/[REDACTED:EMAIL]/orders");
    assert_eq!(lines[0]["user_agent"], "probe (ops: [REDACTED:PHONE])");
    // The filter's own count stays; the collector's findings are added.
    assert_eq!(
        lines[0]["redactions"],
        json!({"email": 2, "EMAIL": 1, "PHONE": 1})
    );
    assert_eq!(lines[1]["path"], "/orders/2");
    assert_eq!(lines[1]["redactions"], json!({"email": 2}));
    let stats = collector.stats.snapshot();
    assert_eq!((stats.records_redacted, stats.redactions_added), (1, 2));
}

#[tokio::test]
async fn re_redaction_can_be_turned_off() {
    let collector = start_with(|c| c.redact = false).await;
    assert_eq!(collector.deliver(vec![leaky_record()]).await, 1);
    let lines = collector.json_lines().await;
    assert_eq!(lines[0]["path"], "/users/jane.doe@example.com/orders");
    assert_eq!(collector.stats.snapshot().records_redacted, 0);
}

#[tokio::test]
async fn the_redaction_config_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("redaction.json");
    std::fs::write(
        &path,
        r#"{"types": {"EMAIL": {"mode": "hash"}}, "hmacKey": "0123456789abcdef-test", "hmacKeyId": "k1"}"#,
    )
    .unwrap();
    let collector = start_with(|c| c.redaction_config = Some(path)).await;
    collector.deliver(vec![leaky_record()]).await;
    let path = collector.json_lines().await[0]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(path.starts_with("/users/[EMAIL:hmac:k1:"), "{path}");
}

fn redact_cli(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
        .arg("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cli_redacts_stdin_to_stdout() {
    let out = redact_cli(
        &[],
        "{\"id\": 7, \"text\": \"card 4242 4242 4242 4242 ok\"}\n",
    );
    assert!(out.status.success(), "{out:?}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        line,
        json!({"id": 7, "redacted": "card [REDACTED:CREDIT_CARD] ok",
               "findings": [{"start": 5, "end": 24, "type": "CREDIT_CARD"}]})
    );
}

#[test]
fn cli_names_the_bad_line_and_fails() {
    let out = redact_cli(&[], "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2}\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("input line 2: expected {\"id\": …, \"text\": \"…\"}: missing field `text`"),
        "{stderr}"
    );
    // The good line before it was written.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    let out = redact_cli(&["--input", "/nonexistent/corpus.jsonl"], "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("opening /nonexistent/corpus.jsonl"),
        "{stderr}"
    );
}
