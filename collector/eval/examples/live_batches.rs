//! How long the ingest waits for live scoring before it stores and acks a
//! batch: seeded traffic through the collector's `LiveScorer` in batches of
//! `--batch` records (per-batch wall time, p50 / p99 / max), next to the bare
//! `Scorer` on the same records in the same run (no lock, no blocking-pool
//! hop, no reasons turned into JSON):
//!
//! `cargo run --release -p observatory-eval --example live_batches -- --hours 1 --batch 64`

use std::time::{Duration, Instant};

use clap::Parser;
use observatory_collector::score::live::{LiveScorer, ScoreSettings};
use observatory_collector::score::{Observation, ScoreConfig, Scorer};
use observatory_collector::trail::Entry;
use observatory_eval::run::RunArgs;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Records per batch (the filter's default is 64; the collector accepts up to 10 000)
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let records: Vec<_> = args.run.run().traffic().map(|l| l.record).collect();
    let dir = tempfile::tempdir()?;
    let live = LiveScorer::open(&ScoreSettings::default(), dir.path());
    let mut bare = Scorer::new(ScoreConfig::default());

    let (mut live_batches, mut bare_total) = (Vec::new(), Duration::ZERO);
    for chunk in records.chunks(args.batch.max(1)) {
        let entries: Vec<Entry> = chunk.iter().cloned().map(Entry::from).collect();
        let started = Instant::now();
        live.score(entries).await?;
        live_batches.push(started.elapsed());

        let observations: Vec<Observation> = chunk.iter().map(Observation::from).collect();
        let started = Instant::now();
        for o in &observations {
            if let Some(t) = o.time() {
                bare.score(t, o);
            }
        }
        bare_total += started.elapsed();
    }
    live_batches.sort();
    let live_total: Duration = live_batches.iter().sum();
    let n = records.len() as f64;
    println!(
        "{} records in {} batches of {}",
        records.len(),
        live_batches.len(),
        args.batch
    );
    println!(
        "live scorer per batch: p50 {:?}, p99 {:?}, max {:?}; {:.0} records/s",
        quantile(&live_batches, 0.5),
        quantile(&live_batches, 0.99),
        live_batches.last().copied().unwrap_or_default(),
        n / live_total.as_secs_f64()
    );
    println!(
        "bare scorer, same records: {:.0} records/s",
        n / bare_total.as_secs_f64()
    );
    Ok(())
}
