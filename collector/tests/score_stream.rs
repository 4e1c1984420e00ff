//! `commands::score::run`: JSON lines in, one score line per record out, and clear
//! errors for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use observatory_collector::commands::score::{run, RunStats, ScoreError};
use observatory_collector::score::{MeshMode, ScoreConfig, Scorer};
use serde_json::Value;

fn record(ts: &str, id: &str) -> String {
    format!(
        r#"{{"ts":"{ts}","correlation_id":"{id}","source_principal":"spiffe://cluster.local/ns/shop/sa/web","source_ip":"10.0.0.1","mtls":true,"destination_workload":"orders","method":"GET","path":"/api/orders/7","status":200,"duration_ms":3.5,"response_bytes":120,"decision":"allow","redactions":{{}},"some_future_field":[1,2]}}"#
    )
}

fn score(input: &str) -> Result<(Vec<Value>, RunStats), ScoreError> {
    let mut out = Vec::new();
    let stats = run(
        input.as_bytes(),
        &mut out,
        &mut Scorer::new(ScoreConfig::default()),
    )?;
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Ok((lines, stats))
}

#[test]
fn one_line_per_record_in_order() {
    let input = [
        record("2026-11-27T10:00:00.000000001Z", "a"),
        String::new(),
        r#"{"ts":"2026-11-27T10:00:00.5Z","proxy_id":"p","audit_gap":{"instance_id":"i","seq":3,"dropped_records":2,"dropped_batches":1}}"#.to_owned(),
        r#"{"ts":"2026-11-27T10:00:00.6Z","proxy_id":"p","invalid":{"instance_id":"i","seq":4,"index":0,"reason":"method must not be empty","record":{"ts":"2026-11-27T10:00:00.6Z","correlation_id":"x"}}}"#.to_owned(),
        // Missing optional fields are tolerated.
        r#"{"ts":"2026-11-27T10:00:01Z","correlation_id":"b"}"#.to_owned(),
        record("2026-11-27T10:00:02+00:00", "c"),
    ]
    .join("\n");
    let (lines, stats) = score(&input).unwrap();
    let ids: Vec<_> = lines
        .iter()
        .map(|l| l["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        (
            stats.records,
            stats.skipped_gap_lines,
            stats.skipped_blank_lines
        ),
        (3, 2, 1)
    );
    // All within the warm-up: learnt, not scored.
    for l in &lines {
        assert_eq!(l["warmup"], Value::Bool(true));
        assert!(l.get("score").is_none(), "{l}");
        assert!(l["reasons"].as_array().unwrap().is_empty(), "{l}");
    }
}

#[test]
fn after_the_warmup_every_record_has_a_score_and_a_strict_mesh_pages_plaintext() {
    let mut input: Vec<String> = (0..132)
        .map(|i| {
            record(
                &format!("2026-11-27T10:{:02}:{:02}Z", i / 4, i % 4 * 15),
                "w",
            )
        })
        .collect();
    input.push(
        r#"{"ts":"2026-11-27T10:33:00Z","correlation_id":"p","source_ip":"10.9.9.9","mtls":false,"destination_workload":"orders","method":"GET","path":"/api/orders/7","status":200}"#
            .to_owned(),
    );
    let mut out = Vec::new();
    let scorer = &mut Scorer::new(ScoreConfig {
        mesh: MeshMode::Strict,
        ..ScoreConfig::default()
    });
    run(input.join("\n").as_bytes(), &mut out, scorer).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = &lines[lines.len() - 1];
    assert_eq!(last["warmup"], Value::Bool(false));
    assert!(last["score"].as_f64().unwrap() >= 0.85, "{last}");
    assert_eq!(last["reasons"][0]["feature"], "plaintext_in_strict_mesh");
    let before = &lines[lines.len() - 2];
    assert!(before["score"].as_f64().unwrap() < 0.5, "{before}");
}

#[test]
fn a_bad_line_names_its_number() {
    let input = format!(
        "{}\n{}\nnot json\n",
        record("2026-11-27T10:00:00Z", "a"),
        record("2026-11-27T10:00:01Z", "b")
    );
    let err = score(&input).unwrap_err();
    assert!(matches!(err, ScoreError::Parse { line: 3, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("input line 3: not an audit record"),
        "{err}"
    );

    let err = score(r#"{"ts":"yesterday"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"input line 1: `ts` "yesterday" is not an RFC 3339 time"#
    );

    let err = score(r#"{"correlation_id":"x"}"#).unwrap_err();
    assert!(matches!(err, ScoreError::Time { line: 1, .. }), "{err}");
}
