//! Seeded synthetic mesh traffic as canonical audit records (JSON lines on
//! stdout), each with a ground-truth `label` for injected incidents:
//!
//! `cargo run -p observatory-collector --example traffic -- --seed 1 --hours 3 > traffic.jsonl`

use std::io::Write as _;

use clap::Parser;
use observatory_collector::score::sim::{SimConfig, Traffic};
use serde::Serialize;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    /// Multiplies the baseline request rates
    #[arg(long, default_value_t = 1.0)]
    rate_scale: f64,
}

/// The canonical record plus its label (the scorer ignores unknown fields).
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a observatory_engine::record::CanonicalRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = SimConfig {
        seed: args.seed,
        hours: args.hours,
        rate_scale: args.rate_scale,
        ..Default::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in Traffic::new(config) {
        serde_json::to_writer(
            &mut out,
            &Line {
                record: &l.record,
                label: l.label.map(|s| s.label()),
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
