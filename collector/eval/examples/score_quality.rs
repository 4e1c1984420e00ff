//! Detection quality and throughput of the scorer, side by side with the
//! naive per-feature max-z baseline and an isolation forest on the same
//! features, on seeded streams of both generators:
//!
//! `cargo run --release -p observatory-eval --example score_quality`
//!
//! By default: generator 1 seeds 1 and 2 (3 h; the model's parameters are
//! set on generator 1), generator 2 seed 1 (run while the generator was
//! written) and the held-out seeds 11, 12, 13, 21, 22 and 23 (2 h). `--run
//! calltree:12` (repeatable) picks streams; `--detail` prints every
//! incident per stream; `--check` exits non-zero when a stream misses the
//! targets ([`observatory_eval::eval::misses`]).

use clap::Parser;
use observatory_collector::score::Observation;
use observatory_collector::score::{Method, ScoreConfig};
use observatory_eval::eval::{
    compare, misses, summary, table, throughput, Detector, ForestDetector, ScorerDetector,
};
use observatory_eval::run::{Generator, Run};
use observatory_proto::json::CanonicalRecord;

#[derive(Parser)]
struct Args {
    /// GENERATOR:SEED, e.g. `sim:1` or `calltree:11`
    #[arg(long = "run", value_parser = parse_run)]
    runs: Vec<(Generator, u64)>,
    /// Hours per stream [default: 3 for generator 1, 2 for generator 2]
    #[arg(long)]
    hours: Option<f64>,
    #[arg(long, default_value_t = 1.0)]
    rate_scale: f64,
    /// Print the table of every stream, incident by incident
    #[arg(long)]
    detail: bool,
    /// Exit with status 1 if a stream misses the targets
    #[arg(long)]
    check: bool,
}

fn parse_run(s: &str) -> Result<(Generator, u64), String> {
    let (g, seed) = s.split_once(':').ok_or("expected GENERATOR:SEED")?;
    let g = <Generator as clap::ValueEnum>::from_str(g, true)?;
    Ok((g, seed.parse().map_err(|e| format!("seed: {e}"))?))
}

fn main() {
    let args = Args::parse();
    let runs = if args.runs.is_empty() {
        vec![
            (Generator::Sim, 1),
            (Generator::Sim, 2),
            (Generator::Calltree, 1),
            (Generator::Calltree, 11),
            (Generator::Calltree, 12),
            (Generator::Calltree, 13),
            (Generator::Calltree, 21),
            (Generator::Calltree, 22),
            (Generator::Calltree, 23),
        ]
    } else {
        args.runs.clone()
    };
    let mut rows = Vec::new();
    let mut missed = Vec::new();
    for (generator, seed) in runs {
        let run = Run {
            generator,
            seed,
            hours: args.hours.unwrap_or(match generator {
                Generator::Sim => 3.0,
                Generator::Calltree => 2.0,
            }),
            rate_scale: args.rate_scale,
        };
        let config = ScoreConfig {
            mesh: run.mesh(),
            ..ScoreConfig::default()
        };
        let mut detectors: Vec<Box<dyn Detector>> = vec![
            Box::new(ScorerDetector::new(config.clone())),
            Box::new(ScorerDetector::new(ScoreConfig {
                method: Method::MaxZ,
                ..config.clone()
            })),
            Box::new(ForestDetector::new(config.clone())),
        ];
        let mut reports = compare(run.traffic(), &mut detectors);
        // Throughput on its own pass: scoring only (the stream generated
        // beforehand), the two scorers alternately, the better of two each.
        let stream: Vec<CanonicalRecord> = run.traffic().map(|l| l.record).collect();
        let records: Vec<(f64, Observation)> = stream
            .iter()
            .filter_map(|r| {
                let obs = Observation::from(r);
                Some((obs.time()?, obs))
            })
            .collect();
        let naive = ScoreConfig {
            method: Method::MaxZ,
            ..config.clone()
        };
        for _ in 0..2 {
            for (report, config) in reports.iter_mut().zip([&config, &naive]) {
                let rate = throughput(&records, config);
                if report.records_per_sec.is_nan() || rate > report.records_per_sec {
                    report.records_per_sec = rate;
                }
            }
        }
        if args.detail {
            println!("## {}\n", run.name());
            let named: Vec<(String, &_)> = ["scorer", "max z", "isolation forest"]
                .into_iter()
                .map(str::to_owned)
                .zip(&reports)
                .collect();
            println!("{}", table(&named));
        }
        missed.extend(
            misses(&reports[0])
                .into_iter()
                .map(|m| format!("{}: {m}", run.name())),
        );
        rows.push((run.name(), reports));
    }
    println!("{}", summary(&rows));
    for m in &missed {
        println!("target missed: {m}");
    }
    if args.check && !missed.is_empty() {
        std::process::exit(1);
    }
}
