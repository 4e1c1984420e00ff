//! Detection quality and throughput of the scorer against the naive
//! per-feature max-z baseline on the same seeded traffic:
//!
//! `cargo run --release -p observatory-collector --example score_quality -- --seed 1 --hours 3`

use clap::Parser;
use observatory_collector::score::eval::{compare, table};
use observatory_collector::score::sim::SimConfig;
use observatory_collector::score::{Method, ScoreConfig};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    #[arg(long, default_value_t = 1.0)]
    rate_scale: f64,
}

fn main() {
    let args = Args::parse();
    let sim = SimConfig {
        seed: args.seed,
        hours: args.hours,
        rate_scale: args.rate_scale,
        ..Default::default()
    };
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
