#![allow(clippy::unwrap_used)]
//! The judgement on trails stamped by [`Chains`] as the WAL writer stamps
//! them, read as a file: each kind of tampering found once, on the right
//! line; what is only unproven told apart from it.

use std::collections::HashMap;
use std::time::Duration;

use super::args::Params;
use super::check::check;
use super::memory::Memory;
use super::report::{FindingKind, NoticeKind, Report, Verdict};
use super::source::Source;
use crate::chain::{next, split, ChainSettings, Chains, CheckpointKey};
use observatory_proto::json::format_ts;

const SECOND: i64 = 1_000_000_000;
/// Records are stamped from here on, a second apart.
const START: i64 = 1_800_000_000 * SECOND;

fn key() -> CheckpointKey {
    CheckpointKey {
        id: "k1".into(),
        secret: b"a secret of some length".to_vec(),
    }
}

/// A record of `proxy` as the ingest writes it (before `seq`/`chain`).
fn record(proxy: &str, n: u64, ts: i64) -> String {
    format!(
        r#"{{"ts":"{}","correlation_id":"c{n}","trace_id":"","source_principal":"p","source_ip":"10.0.0.1","mtls":true,"destination_workload":"w","destination_namespace":"n","method":"GET","path":"/{n}","status":200,"duration_ms":1.0,"request_bytes":0,"response_bytes":0,"user_agent":"","decision":"allow","shadow_decision":"","rule":"","redactions":{{}},"proxy_id":"{proxy}","audit_policy":""}}"#,
        format_ts(ts)
    )
}

/// Chains as the WAL writer keeps them: a checkpoint every `every` lines
/// of a proxy, and 10 s after any line.
fn chains(every: u64) -> Chains {
    let settings = ChainSettings {
        key: Some(key()),
        every,
        within: Duration::from_secs(10),
    };
    Chains::new(HashMap::new(), settings)
}

fn stored(out: Vec<u8>) -> Vec<String> {
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `n` records of proxy `p`, stored a second apart (request starts jittered
/// so their time order is not their seq order), a checkpoint every 4 and
/// one 10 s after the last: the stored lines.
fn trail(n: u64) -> Vec<String> {
    let mut chains = chains(4);
    let mut out = Vec::new();
    for i in 1..=n {
        let stored = START + i as i64 * SECOND;
        // Slow requests start long before they are stored.
        let started = stored - (i as i64 % 3) * 2 * SECOND;
        chains.stamp(
            "p",
            record("p", i, started).as_bytes(),
            stored,
            &format_ts(stored),
            &mut out,
        );
    }
    let last = START + (n as i64 + 10) * SECOND;
    chains.seal_due(last, &format_ts(last), &mut out);
    stored(out)
}

fn params(key: Option<CheckpointKey>) -> Params {
    Params::whole_file(key, START + 3600 * SECOND)
}

async fn run(lines: &[String], params: Params) -> Report {
    let text = lines.join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, text).unwrap();
    let mut source = Source::Memory(Memory::file(&path).unwrap());
    check(&mut source, &params, "test".into())
        .await
        .unwrap()
        .report
}

async fn verify(lines: &[String]) -> Report {
    run(lines, params(Some(key()))).await
}

/// (kind, seq) of every finding.
fn findings(report: &Report) -> Vec<(FindingKind, Option<u64>)> {
    report.findings.iter().map(|f| (f.kind, f.seq)).collect()
}

fn notices(report: &Report) -> Vec<NoticeKind> {
    report.notices.iter().map(|n| n.kind).collect()
}

fn position(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| l.contains(&format!(",\"seq\":{seq},\"chain\"")))
        .unwrap()
}

/// A line of `proxy` with `seq` whose chain follows from `previous`.
fn forge(body: &str, seq: u64, previous: &str) -> String {
    let (_, _, chain) = split(previous).unwrap();
    let chain = crate::chain::hex(&next(&chain, body.as_bytes()));
    format!(
        "{},\"seq\":{seq},\"chain\":\"{chain}\"}}",
        body.strip_suffix('}').unwrap()
    )
}

#[tokio::test]
async fn a_trail_as_stored_is_proven_whatever_its_time_order() {
    let lines = trail(10);
    let report = verify(&lines).await;
    assert_eq!(findings(&report), vec![], "{report}");
    assert_eq!(notices(&report), vec![], "{report}");
    let s = &report.summary;
    assert_eq!(
        (s.records, s.checkpoints, s.checkpoints_verified),
        (10, 3, 3)
    );
    assert_eq!((s.in_range, s.proven, s.tail), (10, 10, 0));
    assert_eq!(report.verdict, Verdict::Clean);
    let p = &report.proxies[0];
    assert_eq!(
        (p.first_seq, p.last_seq, p.checkpoints_verified),
        (1, 10, 3)
    );
}

#[tokio::test]
async fn a_deleted_an_edited_and_a_moved_record_are_each_found_once() {
    let mut lines = trail(10);
    let edited = position(&lines, 6);
    lines[edited] = lines[edited].replace("\"path\":\"/6\"", "\"path\":\"/66\"");
    let moved = lines.remove(position(&lines, 8));
    lines.push(moved);
    lines.remove(position(&lines, 3));
    let report = verify(&lines).await;
    assert_eq!(
        findings(&report),
        vec![
            (FindingKind::Missing, Some(3)),
            (FindingKind::Altered, Some(6)),
            (FindingKind::Reordered, Some(8)),
        ],
        "{report}"
    );
    assert_eq!(report.verdict, Verdict::Findings);
}

#[tokio::test]
async fn an_edited_chain_blames_its_line_not_the_next() {
    let mut lines = trail(10);
    let at = position(&lines, 5);
    let (_, _, chain) = split(&lines[at]).unwrap();
    let mut other = chain;
    other[0] ^= 1;
    lines[at] = lines[at].replace(&crate::chain::hex(&chain), &crate::chain::hex(&other));
    assert_eq!(
        findings(&verify(&lines).await),
        vec![(FindingKind::Altered, Some(5))]
    );
}

#[tokio::test]
async fn a_forged_record_with_a_valid_seq_and_chain_is_blamed_not_the_genuine_one() {
    let mut lines = trail(10);
    let body = record("p", 99, START).replace("\"/99\"", "\"/api/admin/export-all\"");
    let forged = forge(&body, 6, &lines[position(&lines, 5)]);
    lines.push(forged);
    let report = verify(&lines).await;
    assert_eq!(
        findings(&report),
        vec![(FindingKind::Forged, Some(6))],
        "{report}"
    );
    // The forged line is named: the last one.
    assert_eq!(
        report.findings[0].place.as_ref().unwrap().line,
        Some(lines.len() as u64)
    );
}

#[tokio::test]
async fn a_record_appended_after_the_last_is_uncovered_once_a_checkpoint_is_overdue() {
    let mut lines = trail(10);
    let old = record("p", 11, START + 5 * SECOND);
    lines.push(forge(&old, 11, &lines[position(&lines, 10)]));
    let report = verify(&lines).await;
    assert_eq!(
        findings(&report),
        vec![(FindingKind::Uncovered, Some(11))],
        "{report}"
    );

    // Stamped a moment ago: it may just wait for its checkpoint.
    let mut recent = params(Some(key()));
    recent.now = START + 20 * SECOND;
    let report = run(&lines, recent).await;
    assert_eq!(findings(&report), vec![], "{report}");
    assert_eq!(notices(&report), vec![NoticeKind::UnverifiableTail]);
    assert_eq!((report.summary.proven, report.summary.tail), (10, 1));
    assert_eq!(report.verdict, Verdict::Clean);
}

#[tokio::test]
async fn lines_the_collector_never_writes_are_injected() {
    let mut lines = trail(4);
    lines.insert(2, "GET /api/admin/export-all 200".into());
    lines.push(r#"{"correlation_id":"FORGED","path":"/api/admin/export-all"}"#.into());
    lines.push(record("p", 5, START));
    let report = verify(&lines).await;
    assert_eq!(
        findings(&report),
        vec![(FindingKind::Injected, None); 3],
        "{report}"
    );
    let places: Vec<u64> = report
        .findings
        .iter()
        .map(|f| f.place.as_ref().unwrap().line.unwrap())
        .collect();
    assert_eq!(places, vec![3, 7, 8]);
}

#[tokio::test]
async fn a_forged_checkpoint_is_found_and_proves_nothing() {
    let mut lines = trail(4);
    let at = lines
        .iter()
        .position(|l| l.contains("\"checkpoint\""))
        .unwrap();
    lines[at] = lines[at].replace("\"hmac\":\"", "\"hmac\":\"00");
    let report = verify(&lines).await;
    assert_eq!(
        findings(&report),
        vec![(FindingKind::ForgedCheckpoint, Some(4))]
    );
    assert_eq!(report.summary.proven, 0);
}

#[tokio::test]
async fn an_unknown_kind_of_chained_line_is_checked_and_named() {
    let mut chains = chains(2);
    let mut out = Vec::new();
    let ts = format_ts(START);
    chains.stamp("p", record("p", 1, START).as_bytes(), START, &ts, &mut out);
    let sealed = format!(r#"{{"ts":"{ts}","proxy_id":"p","sealed":{{"why":"x"}}}}"#);
    chains.stamp("p", sealed.as_bytes(), START, &ts, &mut out);
    let report = verify(&stored(out)).await;
    assert_eq!(findings(&report), vec![]);
    assert_eq!(notices(&report), vec![NoticeKind::UnknownKind]);
    assert_eq!(report.summary.proven, 2);
}

#[tokio::test]
async fn two_signed_chains_of_one_proxy_are_a_fork_not_a_forgery() {
    let mut lines = trail(4);
    // Another collector stamped the same proxy from seq 1 with its own records.
    let mut chains = chains(4);
    let mut out = Vec::new();
    for i in 1..=4 {
        let ts = START + 100 * SECOND + i * SECOND;
        chains.stamp(
            "p",
            record("p", 50 + i as u64, ts).as_bytes(),
            ts,
            &format_ts(ts),
            &mut out,
        );
    }
    lines.extend(stored(out));
    let report = verify(&lines).await;
    assert_eq!(findings(&report), vec![], "{report}");
    assert_eq!(notices(&report), vec![NoticeKind::Fork]);
    assert_eq!(report.summary.proven, 8);
}

#[tokio::test]
async fn without_the_key_checkpoints_are_taken_at_their_word() {
    let mut lines = trail(4);
    lines.push(lines[0].clone());
    let report = run(&lines, params(None)).await;
    assert_eq!(findings(&report), vec![]);
    assert_eq!(notices(&report), vec![NoticeKind::NoKey]);
    assert_eq!(report.summary.duplicates, 1);
    assert_eq!(report.key_id, None);
}
