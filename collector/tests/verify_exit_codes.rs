//! `verify` exits 0 when the trail is clean, 1 on findings, 2 when it could
//! not check; its report reads as text or as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::signed::{run, signed, time};
use common::{record, PROXY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_and_report_say_what_was_found() {
    let mut trail = signed(|_| {}).await;
    trail.store((1..=5).map(record).collect()).await;

    // Clean, as text: a line per proxy, the summary last.
    let audit = trail.collector.audit_path();
    let mut text = vec![
        "verify".to_owned(),
        "--jsonl".to_owned(),
        audit.to_str().unwrap().to_owned(),
    ];
    text.extend(trail.key_args());
    let outcome = run(text).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stdout.contains(&format!(
            "{PROXY}: 5 lines, seq 1..5, 2 checkpoints verified; in range 5, proven 5, tail 0"
        )),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.trim_end().ends_with("clean (exit 0)"),
        "{}",
        outcome.stdout
    );

    // Clean, as JSON.
    let report = trail.verify_loki(&[]).await.report();
    assert_eq!(
        (report["verdict"].as_str(), report["exit"].as_u64()),
        (Some("clean"), Some(0))
    );
    let proxy = &report["proxies"][0];
    assert_eq!(proxy["proxy"], PROXY);
    assert_eq!(
        (proxy["first_seq"].as_u64(), proxy["last_seq"].as_u64()),
        (Some(1), Some(5))
    );
    assert_eq!(proxy["checkpoints_verified"], 2);

    // A finding: 1.
    let copy = trail.collector.dir.path().join("copy.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(",\"seq\":2,\"chain\""))
        .map(str::to_owned)
        .collect();
    std::fs::write(&copy, lines.join("\n")).unwrap();
    let outcome = trail.verify_file(Some(&copy)).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    let finding = &outcome.report()["findings"][0];
    assert_eq!(
        (finding["kind"].as_str(), finding["proxy"].as_str()),
        (Some("missing"), Some(PROXY))
    );
    assert_eq!(
        (finding["seq"].as_u64(), finding["line"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(outcome.report()["verdict"], "findings");

    // Could not check: 2, with why on stderr. No Loki there (the admin
    // server answers 404):
    let url = format!("http://{}", trail.collector.admin);
    for args in [
        vec![
            "--loki",
            url.as_str(),
            "--from",
            &time(-60),
            "--to",
            &time(60),
        ],
        vec!["--jsonl", "/nonexistent/audit.jsonl"],
        vec![
            "--jsonl",
            audit.to_str().unwrap(),
            "--from",
            "yesterday",
            "--to",
            &time(0),
        ],
        vec![
            "--jsonl",
            audit.to_str().unwrap(),
            "--key-file",
            "/nonexistent/key",
        ],
    ] {
        let mut all = vec!["verify".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let outcome = run(all).await;
        assert_eq!(
            outcome.code, 2,
            "{args:?}: {}{}",
            outcome.stdout, outcome.stderr
        );
        assert!(
            outcome.stderr.contains("could not check"),
            "{}",
            outcome.stderr
        );
    }
}
