//! Detection quality floors on seeded synthetic traffic (3 simulated hours
//! at a quarter of the default rate), against the naive max-z baseline.
//! The full report: `cargo run --release -p observatory-eval --example score_quality`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use observatory_collector::score::{Method, ScoreConfig};
use observatory_eval::eval::{compare, table};
use observatory_eval::sim::{Scenario, SimConfig};

#[test]
fn scorer_beats_floors_and_the_naive_baseline() {
    let sim = SimConfig {
        seed: 7,
        hours: 3.0,
        rate_scale: 0.25,
        ..Default::default()
    };
    let reports = compare(
        sim,
        &[
            ScoreConfig::default(),
            ScoreConfig {
                method: Method::MaxZ,
                ..Default::default()
            },
        ],
    );
    let (robust, naive) = (&reports[0], &reports[1]);
    println!("{}", table(&[("robust", robust), ("max z", naive)]));

    assert!(robust.record_roc_auc >= 0.97, "{}", robust.record_roc_auc);
    assert!(robust.record_pr_auc >= 0.9, "{}", robust.record_pr_auc);
    assert!(robust.window_roc_auc >= 0.95, "{}", robust.window_roc_auc);
    assert!(robust.window_pr_auc >= 0.8, "{}", robust.window_pr_auc);
    assert!(robust.precision >= 0.9, "{}", robust.precision);
    assert!(robust.recall >= 0.8, "{}", robust.recall);
    assert!(
        robust.false_alerts_per_hour <= 2.0,
        "{}",
        robust.false_alerts_per_hour
    );
    assert!(robust.record_pr_auc > naive.record_pr_auc);
    assert!(robust.false_alerts_per_hour < naive.false_alerts_per_hour);
    for fast in [
        Scenario::CredentialStuffing,
        Scenario::PathScanning,
        Scenario::PrivilegeEscalation,
        Scenario::BulkExfiltration,
        Scenario::NewPrincipal,
        Scenario::Plaintext,
    ] {
        let delay = robust.scenarios.get(&fast).and_then(|s| s.0);
        assert!(delay.is_some_and(|d| d <= 60.0), "{fast:?}: {delay:?}");
    }
    // The targets: a slow leak within 10 minutes; latency degrading
    // is a service-health signal, within 15.
    for (slow, limit) in [
        (Scenario::SlowExfiltration, 600.0),
        (Scenario::LatencyDegradation, 900.0),
    ] {
        let delay = robust.scenarios.get(&slow).and_then(|s| s.0);
        assert!(delay.is_some_and(|d| d <= limit), "{slow:?}: {delay:?}");
    }
}
