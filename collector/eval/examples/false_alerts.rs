//! Why the scorer pages where it should not: every principal-minute at or
//! above 0.85 with no attack record in it, with the label of its highest
//! record (an incident's aftermath, a benign surprise, or nothing) and the
//! reasons that record got:
//!
//! `cargo run --release -p observatory-eval --example false_alerts -- --generator calltree --seed 1`

use std::collections::BTreeMap;

use clap::Parser;
use observatory_collector::score::model::ALERT;
use observatory_collector::score::{Observation, ScoreConfig, Scorer};
use observatory_eval::run::RunArgs;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let run = Args::parse().run.run();
    let mut scorer = Scorer::new(ScoreConfig {
        mesh: run.mesh(),
        ..ScoreConfig::default()
    });
    // (principal, minute) → (attack seen, best score, its label and reasons)
    let mut minutes: BTreeMap<(String, i64), (bool, f64, String)> = BTreeMap::new();
    // Attack records that score below the threshold, per label: count and
    // a few examples.
    let mut missed: BTreeMap<&str, (usize, usize, Vec<String>)> = BTreeMap::new();
    // Other records at the threshold, per label and top reason.
    let mut paged: BTreeMap<String, usize> = BTreeMap::new();
    for l in run.traffic() {
        let obs = Observation::from(&l.record);
        let Some(t) = obs.time() else { continue };
        let s = scorer.score(t, &obs);
        if s.warmup {
            continue;
        }
        if s.score >= ALERT && !l.label.is_some_and(|l| l.is_attack()) {
            let top = s.reasons.first().map_or(String::new(), |r| {
                format!("{:?}/{:?}/{:?}", r.feature, r.scope, r.window)
            });
            let label = l.label.map_or("-", |l| l.name);
            *paged.entry(format!("{label} {top}")).or_default() += 1;
        }
        if let Some(label) = l.label.filter(|l| l.is_attack()) {
            let m = missed.entry(label.name).or_default();
            m.0 += 1;
            if s.score < ALERT {
                m.1 += 1;
                if m.2.len() < 4 {
                    let reasons: Vec<String> = s
                        .reasons
                        .iter()
                        .map(|r| {
                            format!("{:?}/{:?}/{:?} z{:.1}", r.feature, r.scope, r.window, r.z)
                        })
                        .collect();
                    m.2.push(format!(
                        "{:.2} {} {} {}: {}",
                        s.score,
                        obs.destination_workload,
                        obs.status,
                        obs.path,
                        reasons.join("; ")
                    ));
                }
            }
        }
        let m = minutes
            .entry((obs.key().to_owned(), (t / 60.0).floor() as i64))
            .or_insert((false, 0.0, String::new()));
        m.0 |= l.label.is_some_and(|l| l.is_attack());
        if s.score > m.1 {
            let reasons: Vec<String> = s
                .reasons
                .iter()
                .map(|r| {
                    format!(
                        "{:?}/{:?}/{:?} {:.3}→{:.3} z{:.1}",
                        r.feature, r.scope, r.window, r.expected, r.observed, r.z
                    )
                })
                .collect();
            let label = l.label.map_or("-", |l| l.name);
            m.1 = s.score;
            m.2 = format!(
                "{label} → {} {} {}: {}",
                obs.destination_workload,
                obs.status,
                obs.path,
                reasons.join("; ")
            );
        }
    }
    let mut count = 0;
    for ((who, minute), (attack, score, why)) in &minutes {
        if !attack && *score >= ALERT {
            count += 1;
            println!("{who} @{minute} {score:.2} {why}");
        }
    }
    println!("{count} false principal-minutes");
    for (what, n) in paged {
        println!("not an attack, paged: {n} × {what}");
    }
    for (label, (all, low, examples)) in missed {
        println!("{label}: {low} of {all} below {ALERT}");
        for e in examples {
            println!("    {e}");
        }
    }
}
