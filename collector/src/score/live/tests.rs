#![allow(clippy::unwrap_used)]
use super::*;
use observatory_proto::json::format_ts;
use std::collections::BTreeMap;

const T0: i64 = 1_795_731_300;

fn record(secs: i64, who: &str, path: &str, status: u32) -> Entry {
    Entry::from(CanonicalRecord {
        ts: format_ts(secs * 1_000_000_000),
        correlation_id: format!("c-{who}-{secs}"),
        trace_id: String::new(),
        source_principal: who.into(),
        source_ip: "10.0.0.1".into(),
        mtls: true,
        destination_workload: "orders".into(),
        destination_namespace: "shop".into(),
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        status,
        duration_ms: 5.0,
        request_bytes: 0,
        response_bytes: 1000,
        user_agent: String::new(),
        headers: BTreeMap::new(),
        request_body: String::new(),
        response_body: String::new(),
        decision: if status == 403 { "deny" } else { "allow" }.into(),
        shadow_decision: String::new(),
        rule: String::new(),
        redactions: BTreeMap::new(),
        proxy_id: "p".into(),
        audit_policy: String::new(),
        anomaly_score: None,
        anomaly_reasons: Vec::new(),
        ..Default::default()
    })
}

fn settings(dir: &Path) -> ScoreSettings {
    ScoreSettings {
        warmup_secs: 300,
        checkpoint_path: Some(dir.join("state.json")),
        ..ScoreSettings::default()
    }
}

/// Scores `batch` and has it stored, as the ingest does once the WAL has it.
async fn store(s: &LiveScorer, batch: Vec<Entry>) -> Vec<Entry> {
    let entries = s.score(batch).await.unwrap();
    s.stored(&entries);
    entries
}

/// Steady traffic of `who` for `secs` seconds from `from`, one batch per 10 s.
async fn steady(s: &LiveScorer, who: &str, from: i64, secs: i64) -> Vec<Entry> {
    let mut out = Vec::new();
    for start in (from..from + secs).step_by(10) {
        let batch = (start..start + 10)
            .map(|t| record(T0 + t, who, "/api/orders/1", 200))
            .collect();
        out.extend(store(s, batch).await);
    }
    out
}

fn scores(entries: &[Entry]) -> Vec<Option<f64>> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Record(r) => Some(r.anomaly_score),
            _ => None,
        })
        .collect()
}

fn anomalies(entries: &[Entry]) -> Vec<&AnomalyEvent> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Anomaly(a) => Some(&a.anomaly),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn records_are_scored_and_a_burst_is_one_event_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let s = LiveScorer::open(&settings(dir.path()), dir.path()).with_alerts(tx);
    let quiet = steady(&s, "a", 0, 900).await;
    assert!(anomalies(&quiet).is_empty());
    // Scored after the warm-up, and steady traffic stays low.
    let scores = scores(&quiet);
    assert_eq!(scores.len(), 900);
    assert!(
        scores[300..].iter().all(|x| x.is_some_and(|x| x < 0.5)),
        "{scores:?}"
    );
    // 90 s of denied requests in three batches: events for two minutes.
    let mut burst = Vec::new();
    for start in [900, 930, 960] {
        let batch = (start..start + 30)
            .map(|t| record(T0 + t, "a", "/admin/users", 403))
            .collect();
        burst.extend(store(&s, batch).await);
    }
    let events = anomalies(&burst);
    assert_eq!(events.len(), 2, "{events:#?}");
    let first = events[0];
    assert_eq!(
        (first.principal.as_str(), first.destination.as_str()),
        ("a", "orders")
    );
    assert!(first.score >= ALERT);
    assert!(!first.reasons.is_empty());
    assert_eq!(first.correlation_ids.len(), EXAMPLE_IDS);
    assert_eq!(rx.recv().await.unwrap(), *first);
    let scored = burst.iter().find_map(|e| match e {
        Entry::Record(r) if r.correlation_id == first.correlation_ids[0] => Some(r),
        _ => None,
    });
    let scored = scored.unwrap();
    assert!(scored.anomaly_score.unwrap() >= ALERT);
    assert!(!scored.reasons.is_empty());
    assert_eq!(s.stats().anomaly_events.get(), 2);
}

#[tokio::test]
async fn warmup_records_say_so_have_no_score_and_page_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    let batch = (0..60)
        .map(|t| record(T0 + t, "x", "/admin", 403))
        .collect();
    let out = store(&s, batch).await;
    assert!(anomalies(&out).is_empty());
    assert!(out
        .iter()
        .all(|e| matches!(e, Entry::Record(r) if r.warmup && r.anomaly_score.is_none())));
    assert_eq!(s.stats().records_warmup.get(), 60);
}

#[tokio::test]
async fn unparsable_ts_is_counted_and_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    let mut bad = record(T0 + 61, "x", "/", 200);
    if let Entry::Record(r) = &mut bad {
        r.ts = "yesterday".into();
    }
    let out = s.score(vec![bad]).await.unwrap();
    assert!(matches!(&out[0], Entry::Record(r) if r.anomaly_score.is_none() && !r.warmup));
    assert_eq!(s.stats().records_unscored.get(), 1);
}

#[tokio::test]
async fn a_restart_continues_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    steady(&s, "a", 0, 600).await;
    s.checkpoint().await.unwrap();
    // Past warm-up already: a restarted scorer does not warm up again,
    // so a burst right after the restart is an anomaly.
    let restarted = LiveScorer::open(&settings(dir.path()), dir.path());
    let burst = (600..660)
        .map(|t| record(T0 + t, "a", "/admin", 403))
        .collect();
    assert_eq!(anomalies(&store(&restarted, burst).await).len(), 1);
}

#[tokio::test]
async fn a_corrupt_checkpoint_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), "not json").unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    let out = s.score(vec![record(T0, "a", "/", 200)]).await.unwrap();
    assert!(
        matches!(&out[0], Entry::Record(r) if r.warmup),
        "fresh: warms up"
    );
    s.checkpoint().await.unwrap();
    assert!(
        checkpoint::load(&dir.path().join("state.json"), ScoreConfig::default())
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn scores_and_events_are_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    let telemetry = Telemetry::new();
    s.stats().register(&telemetry);
    s.score(vec![
        record(T0, "a", "/", 200),
        record(T0 + 1, "a", "/", 200),
    ])
    .await
    .unwrap();
    s.score(vec![record(T0 + 400, "a", "/", 200)])
        .await
        .unwrap();
    let text = telemetry.encode();
    assert!(text.contains("observatory_anomaly_score_count 1"), "{text}");
    assert!(
        text.contains("observatory_score_records_warmup_total 2"),
        "{text}"
    );
    assert!(
        text.contains("observatory_anomaly_score_bucket{le=\"0.85\"}"),
        "{text}"
    );
    assert!(text.contains("observatory_score_records_total 3"), "{text}");
    assert!(
        text.contains("observatory_anomaly_events_total 0"),
        "{text}"
    );
}

#[test]
fn threshold_outside_zero_one_is_refused() {
    let ok: ScoreSettings = toml::from_str("threshold = 0.9").unwrap();
    assert_eq!(ok.threshold, 0.9);
    let err = toml::from_str::<ScoreSettings>("threshold = 1.5").unwrap_err();
    assert!(err.to_string().contains("threshold"), "{err}");
}

fn plaintext(secs: i64) -> Entry {
    let mut e = record(T0 + secs, "", "/api/orders/1", 200);
    if let Entry::Record(r) = &mut e {
        (r.mtls, r.source_ip) = (false, "10.9.9.9".into());
    }
    e
}

#[tokio::test]
async fn events_leave_only_once_stored_and_a_refused_batch_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let settings = ScoreSettings {
        mesh: MeshMode::Strict,
        ..settings(dir.path())
    };
    let s = LiveScorer::open(&settings, dir.path()).with_alerts(tx);
    steady(&s, "a", 0, 400).await;
    // Plaintext in a strict mesh: an anomaly on its first record.
    let refused = s.score(vec![plaintext(400)]).await.unwrap();
    assert_eq!(anomalies(&refused).len(), 1);
    assert!(rx.try_recv().is_err(), "not stored: no alert");
    assert_eq!(s.stats().anomaly_events.get(), 0);
    // The sender sends the batch again; this time the WAL takes it.
    let stored = store(&s, vec![plaintext(401)]).await;
    assert_eq!(
        anomalies(&stored).len(),
        1,
        "its minute had no stored event"
    );
    assert_eq!(rx.try_recv().unwrap().principal, "10.9.9.9");
    // The rest of the minute is that event's.
    assert!(anomalies(&store(&s, vec![plaintext(402)]).await).is_empty());
    assert_eq!(s.stats().anomaly_events.get(), 1);
}

#[tokio::test]
async fn a_slow_destination_is_a_service_health_event_not_its_callers_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let s = LiveScorer::open(&settings(dir.path()), dir.path());
    steady(&s, "a", 0, 600).await;
    let slow: Vec<Entry> = (600..660)
        .map(|t| {
            let mut e = record(T0 + t, "a", "/api/orders/1", 200);
            if let Entry::Record(r) = &mut e {
                r.duration_ms = 3_000.0;
            }
            e
        })
        .collect();
    let out = store(&s, slow).await;
    assert!(anomalies(&out).is_empty(), "{out:#?}");
    assert!(scores(&out).iter().all(|x| x.is_some_and(|x| x < ALERT)));
    let health: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Entry::Health(h) => Some(&h.service_health),
            _ => None,
        })
        .collect();
    assert_eq!(health.len(), 1, "one per destination-minute: {health:#?}");
    assert_eq!(health[0].destination, "orders");
    assert!(health[0].score >= ALERT);
    assert_eq!(s.stats().health_events.get(), 1);
}
