//! Seeded synthetic mesh traffic as canonical audit records (JSON lines on
//! stdout), each with a ground-truth `label` for injected incidents, from
//! either generator:
//!
//! `cargo run -p observatory-eval --example traffic -- --generator calltree --seed 1 > traffic.jsonl`

use std::io::Write as _;

use clap::Parser;
use observatory_eval::run::RunArgs;
use serde::Serialize;

/// The canonical record plus its label (the scorer ignores unknown fields).
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a observatory_proto::json::CanonicalRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> anyhow::Result<()> {
    let run = Args::parse().run.run();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in run.traffic() {
        serde_json::to_writer(
            &mut out,
            &Line {
                record: &l.record,
                label: l.label.map(|s| s.name),
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
