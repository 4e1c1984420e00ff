//! Seeded synthetic mesh traffic as canonical audit records (JSON lines on
//! stdout), each with a ground-truth `label` for injected incidents:
//!
//! `cargo run -p observatory-eval --example traffic -- --seed 1 --hours 3 > traffic.jsonl`

use std::io::Write as _;

use clap::Parser;
use observatory_eval::sim::{SimArgs, Traffic};
use serde::Serialize;

/// The canonical record plus its label (the scorer ignores unknown fields).
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a observatory_proto::json::CanonicalRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
}

fn main() -> anyhow::Result<()> {
    let config = SimArgs::parse().config();
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
