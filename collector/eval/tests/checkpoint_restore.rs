//! The scorer's checkpoint on seeded traffic: a restored scorer goes on
//! exactly as the one that never stopped.
#![allow(clippy::unwrap_used)]

use observatory_collector::score::checkpoint::{load, save};
use observatory_collector::score::{Observation, ScoreConfig, Scorer};
use observatory_eval::sim::{SimConfig, Traffic};

/// Restored state scores the rest of the traffic exactly as the
/// scorer that never stopped.
#[test]
fn restore_is_equivalent() {
    let sim = SimConfig {
        seed: 7,
        hours: 0.5,
        rate_scale: 0.2,
        ..SimConfig::default()
    };
    let stream: Vec<_> = Traffic::new(sim).map(|l| l.record).collect();
    let records: Vec<Observation> = stream.iter().map(Observation::from).collect();
    let half = records.len() / 2;
    let config = ScoreConfig {
        warmup_secs: 600.0,
        max_principals: 12,
        ..Default::default()
    };
    let mut a = Scorer::new(config.clone());
    for o in &records[..half] {
        a.score(o.time().unwrap(), o);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("score.json");
    save(&path, &a.snapshot()).unwrap();
    let mut b = load(&path, config).unwrap().unwrap();
    assert_eq!(b.snapshot(), a.snapshot());
    assert!(a.evictions().principals > 0, "LRU order is exercised");
    for o in &records[half..] {
        let t = o.time().unwrap();
        assert_eq!(a.score(t, o), b.score(t, o), "{}", o.correlation_id);
    }
    assert_eq!(a.evictions(), b.evictions());
}
