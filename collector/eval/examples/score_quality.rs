//! Detection quality and throughput of the scorer against the naive
//! per-feature max-z baseline on the same seeded traffic:
//!
//! `cargo run --release -p observatory-eval --example score_quality -- --seed 1 --hours 3`

use clap::Parser;
use observatory_collector::score::{Method, ScoreConfig};
use observatory_eval::eval::{compare, table};
use observatory_eval::sim::SimArgs;

fn main() {
    let sim = SimArgs::parse().config();
    let robust = ScoreConfig::default();
    let naive = ScoreConfig {
        method: Method::MaxZ,
        ..Default::default()
    };
    let reports = compare(sim, &[robust, naive]);
    if let [r, n] = reports.as_slice() {
        println!(
            "{}",
            table(&[("scorer (robust, L2)", r), ("baseline (max z)", n)])
        );
    }
}
