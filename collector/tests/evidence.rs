//! `evidence` writes a time range of the trail — every entry as read, the
//! records, the checkpoints, the report and a manifest of SHA-256 sums — to
//! a directory that `verify --evidence` checks again offline: clean as at
//! export, and a changed file shows both in the sums and in the chains.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::record;
use common::signed::{run, signed, time};
use observatory_collector::chain::hex;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evidence_bundle_verifies_offline_and_shows_changes() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=6).map(record).collect()).await;
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    let mut args = vec!["evidence".to_owned()];
    args.extend(trail.loki_args(&time(-3600), &time(3600)));
    args.extend(trail.key_args());
    args.extend(["--out".to_owned(), bundle.to_str().unwrap().to_owned()]);
    let exported = run(args.clone()).await;
    assert_eq!(exported.code, 0, "{}{}", exported.stdout, exported.stderr);

    let read = |name: &str| std::fs::read_to_string(bundle.join(name)).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&read("manifest.json")).unwrap();
    let sha256 = |text: String| hex(&Sha256::digest(text.as_bytes()));
    let sha = sha256(read("manifest.json"));
    assert!(exported.stdout.contains(&sha), "{}", exported.stdout);
    for name in [
        "entries.jsonl",
        "records.jsonl",
        "checkpoints.jsonl",
        "report.json",
    ] {
        let sum = sha256(read(name));
        assert_eq!(manifest["files"][name]["sha256"], sum, "{name}");
    }
    assert_eq!(read("records.jsonl").lines().count(), 6);
    assert!(read("checkpoints.jsonl")
        .lines()
        .all(|l| l.contains("\"checkpoint\"")));
    assert_eq!(manifest["verdict"], "clean");
    // Evidence is never overwritten.
    assert_eq!(run(args).await.code, 2);
    // From the file sink as well.
    let from_file = out.path().join("from-file");
    let mut args = vec!["evidence".to_owned(), "--jsonl".to_owned()];
    args.push(trail.collector.audit_path().to_str().unwrap().to_owned());
    args.extend([
        "--from".to_owned(),
        time(-3600),
        "--to".to_owned(),
        time(3600),
    ]);
    args.extend(trail.key_args());
    args.extend(["--out".to_owned(), from_file.to_str().unwrap().to_owned()]);
    let exported = run(args).await;
    assert_eq!(exported.code, 0, "{}{}", exported.stdout, exported.stderr);

    // Offline: Loki and the collector are gone; the auditor has the key.
    let key = out.path().join("checkpoint.key");
    std::fs::copy(&trail.key, &key).unwrap();
    let key_args = [
        "--key-file",
        key.to_str().unwrap(),
        "--key-id",
        common::signed::KEY_ID,
    ]
    .map(str::to_owned);
    drop(trail);
    let verify = |dir: &std::path::Path| {
        let mut args = vec!["verify".to_owned(), "--evidence".to_owned()];
        args.push(dir.to_str().unwrap().to_owned());
        args.extend(key_args.clone());
        args.extend(["--format".to_owned(), "json".to_owned()]);
        run(args)
    };
    let again = verify(&bundle).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    let report = again.report();
    assert_eq!(report["summary"]["proven"], 6);
    assert_eq!(report["read_at"], manifest["read_at"]);
    let again = verify(&from_file).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(again.report()["summary"]["proven"], 6);

    // A record changed in the bundle: its sum and its chain tell.
    let entries = read("entries.jsonl").replace("/orders/3", "/orders/33");
    std::fs::write(bundle.join("entries.jsonl"), entries).unwrap();
    let changed = verify(&bundle).await;
    assert_eq!(changed.code, 1, "{}", changed.stdout);
    assert_eq!(
        changed.findings(),
        vec![
            ("altered".to_owned(), Some(3)),
            ("bundle_changed".to_owned(), None)
        ]
    );
}
