//! Scale-out and failover: two collectors behind one collector cluster built as Istio builds
//! it from the consistent-hash DestinationRule (Maglev, outlier detection), four proxies
//! (Envoys with their own proxy id) streaming to it. Each proxy's stream sticks to the pod
//! its authority hashes to; one collector is SIGKILLed mid-load; its proxies move to the other
//! and resend what it had not acked. Then every request's record is stored (at least once;
//! duplicates are counted), and `verify` with the checkpoint key finds nothing in either
//! collector's trail: chains are per (collector, proxy), so a proxy that moved has one chain
//! on each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observatory_e2e::*;

const PROXIES: usize = 8;
const REQUESTS_PER_PROXY: usize = 200;
/// Requests sent in all before the collector is killed.
const KILL_AFTER: usize = PROXIES * REQUESTS_PER_PROXY / 3;
const KEY_ID: &str = "failover-key";

fn proxy_id(i: usize) -> String {
    format!("sidecar~10.0.0.{i}~orders-{i}.shop~shop.svc.cluster.local")
}

/// The proxies whose records `collector` holds.
fn proxies_on(collector: &Collector) -> BTreeSet<String> {
    collector
        .records()
        .iter()
        .filter(|r| r.get("correlation_id").is_some())
        .map(|r| s(r, "proxy_id").to_owned())
        .collect()
}

/// How many times each correlation id is stored on `collectors` together.
fn stored_ids(collectors: &[&Collector]) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for c in collectors {
        for r in c.records() {
            if let Some(id) = r.get("correlation_id").and_then(Value::as_str) {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    ids
}

/// `verify --jsonl` of `collector`'s trail with the key, as JSON.
fn verify(collector: &Collector, key_file: &std::path::Path) -> (i32, Value) {
    let out = std::process::Command::new(collector_bin())
        .arg("verify")
        .arg("--jsonl")
        .arg(collector.audit_path())
        .arg("--key-file")
        .arg(key_file)
        .args(["--key-id", KEY_ID, "--format", "json"])
        .output()
        .expect("run verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON report ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_collectors_proxies_move_and_nothing_acked_is_lost() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("checkpoint.key");
    std::fs::write(&key_file, "failover checkpoint secret\n").unwrap();
    let key = key_file.to_str().unwrap();
    let env = [
        ("OBSERVATORY_CHECKPOINT_KEY_FILE", key),
        ("OBSERVATORY_CHECKPOINT_KEY_ID", KEY_ID),
        ("OBSERVATORY_CHECKPOINT_WITHIN_SECS", "1"),
    ];
    let mut first = Collector::start_with(None, &env).await;
    let second = Collector::start_with(None, &env).await;

    let pki = Pki::new();
    let upstream = Upstream::start();
    let mut envoys = Vec::new();
    for i in 0..PROXIES {
        let mut setup = EnvoySetup::new(
            &pki,
            upstream.port,
            first.port,
            Some(plugin_config().to_string()),
        );
        setup.node_id = proxy_id(i);
        setup.collector_pool = Some(CollectorPool {
            lb_policy: "MAGLEV".into(),
            endpoints: vec![
                (first.port, "observatory-collector-0".into()),
                (second.port, "observatory-collector-1".into()),
            ],
        });
        envoys.push(Envoy::start(setup).await);
    }
    let client = plain_client();

    // Each proxy's first record shows which collector its stream hashed to; the hash keys
    // and proxy ids are fixed, so the split is too.
    let mut warm_ids = Vec::new();
    for envoy in &envoys {
        let id = unique_id("warm");
        assert_eq!(
            get_with_id(&client, &envoy.http_url("/public/warm"), &id)
                .await
                .status,
            200
        );
        warm_ids.push(id);
    }
    let all_warm = eventually(WAIT, || {
        let ids = stored_ids(&[&first, &second]);
        warm_ids.iter().all(|id| ids.contains_key(id)).then_some(())
    })
    .await;
    assert!(all_warm.is_some(), "warm-up records not stored");
    let on_first = proxies_on(&first);
    let on_second = proxies_on(&second);
    eprintln!("before the kill: first {on_first:?}, second {on_second:?}");
    assert!(
        !on_first.is_empty() && !on_second.is_empty(),
        "the proxies' streams are not spread over both collectors: {on_first:?} / {on_second:?}"
    );
    assert!(
        on_first.is_disjoint(&on_second),
        "a proxy's stream did not stick to one collector: {on_first:?} / {on_second:?}"
    );

    // Load from every proxy; the first collector is killed a third of the way through.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, envoy) in envoys.iter().enumerate() {
        let url = envoy.http_url("/public/load");
        let client = client.clone();
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            for n in 0..REQUESTS_PER_PROXY {
                let id = unique_id(&format!("load-{i}-{n}"));
                let status = get_with_id(&client, &url, &id).await.status;
                *statuses.entry(status).or_default() += 1;
                ids.push(id);
                sent.fetch_add(1, Ordering::Relaxed);
                if n % 10 == 9 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            (ids, statuses)
        }));
    }
    let killed = eventually(Duration::from_secs(60), || {
        (sent.load(Ordering::Relaxed) >= KILL_AFTER).then_some(())
    })
    .await;
    assert!(
        killed.is_some(),
        "the load did not reach {KILL_AFTER} requests"
    );
    first.kill();
    let stored_by_first_at_kill = first.records().len();

    let mut load_ids = Vec::new();
    for task in tasks {
        let (ids, statuses) = task.await.unwrap();
        assert_eq!(
            statuses.get(&200).copied(),
            Some(REQUESTS_PER_PROXY),
            "open mode: every request succeeds while a collector is down: {statuses:?}"
        );
        load_ids.extend(ids);
    }

    // The proxies of the killed collector now stream to the other one.
    let moved = eventually(Duration::from_secs(60), || {
        let on_second_now = proxies_on(&second);
        on_first.is_subset(&on_second_now).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "proxies {on_first:?} never reached the second collector; it holds {:?}",
        proxies_on(&second)
    );

    // The killed collector starts again on its WAL: what it acked reaches its store.
    first.restart().await;
    let complete = eventually(Duration::from_secs(60), || {
        let ids = stored_ids(&[&first, &second]);
        load_ids
            .iter()
            .all(|id| ids.contains_key(id))
            .then_some(ids)
    })
    .await;
    let ids = complete.unwrap_or_else(|| {
        let ids = stored_ids(&[&first, &second]);
        let missing: Vec<&String> = load_ids
            .iter()
            .filter(|id| !ids.contains_key(*id))
            .collect();
        panic!(
            "{} of {} records never stored, e.g. {:?}",
            missing.len(),
            load_ids.len(),
            &missing[..missing.len().min(5)]
        )
    });
    let duplicates: usize = load_ids.iter().map(|id| ids[id] - 1).sum();
    eprintln!(
        "{} records stored, {duplicates} duplicates; the first collector had stored {stored_by_first_at_kill} lines when killed",
        load_ids.len()
    );

    // Every chain of both trails verifies once the last lines have their checkpoints.
    for (name, collector) in [("first", &first), ("second", &second)] {
        let verified = eventually(Duration::from_secs(30), || {
            let (code, report) = verify(collector, &key_file);
            (code == 0 && report["summary"]["tail"] == 0).then_some(report)
        })
        .await;
        let report = verified.unwrap_or_else(|| {
            let (code, report) = verify(collector, &key_file);
            panic!("verify of the {name} collector's trail: exit {code}, {report:#}")
        });
        assert_eq!(report["findings"], json!([]), "{name}: {report:#}");
        for summary in report["proxies"].as_array().unwrap() {
            let proxy = &summary["proxy"];
            assert!(
                summary["checkpoints_verified"].as_u64() > Some(0),
                "{name}: no checkpoint verified for {proxy}: {report:#}"
            );
            assert_eq!(
                summary["proven"], summary["in_range"],
                "{name}: {proxy} not fully proven: {report:#}"
            );
        }
    }
}
