//! Tamper evidence end to end: records are chained per proxy with signed
//! checkpoints; `verify` passes the trail as stored (file and Loki) and
//! names a deleted, an edited and a reordered record in a tampered copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::loki::FakeLoki;
use common::{batch, record, start_with};

/// RFC 3339 of now plus `seconds`: Loki answers ranges up to 721 h.
fn around(seconds: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .format(&Rfc3339)
        .unwrap()
}

fn verify(args: &[&str], key: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
        .arg("verify")
        .args(args)
        .args(["--key-file", key.to_str().unwrap(), "--key-id", "k1"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// Two workers: the fake Loki answers while the test waits for `verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_the_trail_and_finds_deleted_edited_and_reordered_records() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("checkpoint.key");
    std::fs::write(&key, "a checkpoint secret\n").unwrap();
    let loki = FakeLoki::start().await;
    let config = loki.config();
    let key_file = key.clone();
    let collector = start_with(|c| {
        c.loki = Some(config);
        c.checkpoint_key_file = Some(key_file);
        c.checkpoint_key_id = "k1".into();
        c.checkpoint_every = 4.try_into().unwrap();
    })
    .await;
    let mut stream = collector.open().await;
    assert_eq!(
        stream
            .send(batch(1, (1..=5).map(record).collect()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stream
            .send(batch(2, (6..=10).map(record).collect()))
            .await
            .unwrap(),
        2
    );
    collector.settled().await;

    // As stored: seq 1..=10 and a checkpoint after every fourth record.
    let lines = collector.chained_lines().await;
    assert_eq!(lines.len(), 12);
    assert!(lines[0].contains(",\"seq\":1,\"chain\":\""), "{}", lines[0]);
    assert!(
        lines[4].contains("\"checkpoint\":{\"seq\":4,"),
        "{}",
        lines[4]
    );
    let path = collector.audit_path();
    let (ok, out) = verify(&["--jsonl", path.to_str().unwrap()], &key);
    assert!(ok, "{out}");
    assert!(
        out.ends_with("10 records, 0 duplicates, 2 checkpoints, 0 problems\n"),
        "{out}"
    );
    let (ok, out) = verify(
        &[
            "--loki",
            loki.url().as_str(),
            "--from",
            &around(-3600),
            "--to",
            &around(3600),
        ],
        &key,
    );
    assert!(ok, "{out}");
    assert!(
        out.ends_with("10 records, 0 duplicates, 2 checkpoints, 0 problems\n"),
        "{out}"
    );

    // A tampered copy: record 3 deleted, record 6 edited, 8 and 9 swapped.
    let seq_line = |seq: u32| {
        lines
            .iter()
            .position(|l| l.contains(&format!("\"seq\":{seq},")))
            .unwrap()
    };
    let mut tampered = lines.clone();
    tampered[seq_line(6)] = tampered[seq_line(6)].replace("/orders/6", "/orders/66");
    tampered.swap(seq_line(8), seq_line(9));
    tampered.remove(seq_line(3));
    let copy = keys.path().join("tampered.jsonl");
    std::fs::write(&copy, tampered.join("\n") + "\n").unwrap();
    let (ok, out) = verify(&["--jsonl", copy.to_str().unwrap()], &key);
    assert!(!ok, "{out}");
    for finding in [
        "missing seq 3..=3",
        "altered record seq 6 at line 6",
        "reordered: seq 8 at line 10 comes after seq 9",
    ] {
        assert!(out.contains(finding), "{finding} not in\n{out}");
    }
    // A wrong key fails every checkpoint.
    std::fs::write(&key, "another secret").unwrap();
    let (ok, out) = verify(&["--jsonl", path.to_str().unwrap()], &key);
    assert!(!ok && out.contains("signature does not match"), "{out}");
}
