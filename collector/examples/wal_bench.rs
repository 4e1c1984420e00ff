//! Ingest benchmark: gRPC load → collector → WAL (fsync) → sinks (the test
//! kit's Loki stand-in on 127.0.0.1, counting what it accepts as Loki
//! would; and `audit.jsonl` unless `--file-sink false`). The collector
//! launcher, the stand-in and the record sent are the test kit's
//! (`tests/kit`).
//!
//! The collector is the real binary, run as its own process with a fresh
//! data directory per run and pinned to the last CPU (`taskset`); this
//! process (load client and Loki stand-in) pins itself to the other CPUs.
//! Each run loads the collector for `--seconds`, then waits (at most
//! `--drain-secs`) until its sinks have confirmed everything. It reports
//! records/s acked, the collector's CPU per record (from `/proc/<pid>/stat`,
//! load and drain together: ingest, WAL and the sinks), ack latency
//! p50/p99/p99.9 (per batch) and WAL bytes per record.
//!
//! The load is `--streams` gRPC streams, each one sender of `--batch`-record
//! batches, in one of two modes:
//!
//! - closed loop (the default): a stream sends batches back to back, at most
//!   `--window` unacked. This measures throughput; its ack latency is mostly
//!   the records in flight over the throughput, queueing in the benchmark.
//! - open loop (`--rate N`): N records/s offered in all, split evenly over
//!   the streams; each stream sends a batch every `batch × streams / N`
//!   seconds (the streams' schedules staggered), whether or not earlier ones
//!   are acked. Latency runs from a batch's *scheduled* send time to its ack,
//!   so a late sender counts too (no coordinated omission). A stream with
//!   more than `--overload-secs` worth of batches unacked stops the load, and
//!   the run is reported as overloaded rather than waited for.
//!
//! Every configuration (each `--collector` binary, fsync on and off) is run
//! `--rounds` times, interleaved, and the medians are printed: on a shared
//! machine only figures measured side by side compare.
//!
//! ```text
//! cargo build --release -p observatory-collector --bin observatory-collector --example wal_bench
//! target/release/examples/wal_bench --seconds 10 --rounds 3 [--rate 100000] [--redact false --score false] [--collector OTHER_BINARY]
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::{AuditBatch, AuditRecord};
use observatory_proto::json::CanonicalRecord;
use observatory_testkit::admin::{sample, Admin};
use observatory_testkit::free_port;
use observatory_testkit::loki::FakeLoki;
use observatory_testkit::process::{CollectorProcess, Launch};
use observatory_testkit::record::request;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Parser)]
struct Args {
    /// Load time per run
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs of every configuration (medians are printed)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Longest wait for the sinks to catch up after the load
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// Concurrent streams (each one sender instance)
    #[arg(long, default_value_t = 8)]
    streams: u32,
    /// Records per batch (the filter's default is 256)
    #[arg(long, default_value_t = 256)]
    batch: u32,
    /// Closed loop: batches a stream may have unacked
    #[arg(long, default_value_t = 2)]
    window: usize,
    /// Open loop: records per second offered in all, split evenly over the
    /// streams, each sending a batch on a fixed schedule regardless of acks;
    /// ack latency counts from the scheduled send time [default: closed
    /// loop, batches back to back within `--window`]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// Open loop: a stream with more than this many seconds' worth of
    /// batches unacked stops the load, and the run counts as overloaded
    #[arg(long, default_value_t = 2.0)]
    overload_secs: f64,
    /// Re-redact records (the collector's default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    redact: bool,
    /// Score records live (the collector's default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    score: bool,
    /// Keep the collector's JSON-lines sink beside Loki (its default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    file_sink: bool,
    /// Collector binaries to compare [default: `observatory-collector`
    /// beside this example's folder]
    #[arg(long)]
    collector: Vec<PathBuf>,
    /// Also run each binary with the WAL's fsync off, as a baseline
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fsync_off_baseline: bool,
    /// The collector's WAL limit: large, so that a collector whose sinks
    /// fall behind is measured rather than refused (WAL full)
    #[arg(long, default_value_t = 8 << 30)]
    wal_max_bytes: u64,
    /// Runs the collector under this command, e.g. `valgrind --tool=callgrind`
    /// for a profile (words split at spaces)
    #[arg(long)]
    wrapper: Option<String>,
}

impl Args {
    /// Open loop: seconds between two batches of one stream.
    fn interval(&self) -> Option<f64> {
        let rate = self.rate?;
        Some(f64::from(self.batch) * f64::from(self.streams) / rate as f64)
    }

    /// How stream number `stream` of a load that starts at `start` sends.
    fn pace(&self, stream: u32, start: Instant) -> Pace {
        match self.interval() {
            None => Pace::Closed {
                window: self.window,
            },
            Some(interval) => Pace::Open {
                start,
                schedule: Schedule {
                    interval,
                    phase: interval * f64::from(stream) / f64::from(self.streams),
                },
                max_unacked: ((self.overload_secs / interval).ceil() as usize).max(1),
            },
        }
    }

    /// The header line's description of the load.
    fn mode(&self) -> String {
        match (self.rate, self.interval()) {
            (Some(rate), Some(interval)) => format!(
                "open loop at {rate} records/s offered ({:.0} per stream, a batch every \
                 {:.2} ms; overloaded beyond {} s of batches unacked)",
                rate as f64 / f64::from(self.streams),
                interval * 1e3,
                self.overload_secs,
            ),
            _ => format!("closed loop, window {}", self.window),
        }
    }
}

/// How a stream sends its batches.
#[derive(Clone, Copy)]
enum Pace {
    /// Back to back, at most `window` unacked; latency from the send.
    Closed { window: usize },
    /// One at each slot of `schedule` after `start`, acked or not; latency
    /// from the slot. More than `max_unacked` unacked: overloaded.
    Open {
        start: Instant,
        schedule: Schedule,
        max_unacked: usize,
    },
}

impl Pace {
    /// Batches the stream may have unacked.
    fn window(self) -> usize {
        match self {
            Pace::Closed { window } => window,
            Pace::Open { max_unacked, .. } => max_unacked,
        }
    }
}

/// Open loop: batch `k` of a stream is due `phase + k × interval` seconds
/// after the start of the load.
#[derive(Clone, Copy)]
struct Schedule {
    interval: f64,
    phase: f64,
}

impl Schedule {
    fn at(self, k: u64) -> Duration {
        Duration::from_secs_f64(self.phase + k as f64 * self.interval)
    }

    /// Batches due within a load of `load`.
    fn slots(self, load: Duration) -> u64 {
        (0..).take_while(|&k| self.at(k) < load).count() as u64
    }
}

#[derive(Clone)]
struct Config {
    binary: PathBuf,
    fsync: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    // Before any thread exists, so every thread of this process inherits it.
    let collector_cpu = (cpus > 1).then(|| cpus - 1);
    if let Some(cpu) = collector_cpu {
        let others = format!("0-{}", cpu - 1);
        let pinned = Command::new("taskset")
            .args(["-cp", &others, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
        anyhow::ensure!(
            pinned.is_ok_and(|s| s.success()),
            "taskset failed (util-linux)"
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(args, collector_cpu))
}

async fn bench(args: Args, collector_cpu: Option<usize>) -> anyhow::Result<()> {
    if args.rate.is_some() {
        anyhow::ensure!(
            args.batch > 0 && args.streams > 0,
            "--rate needs --batch and --streams above 0"
        );
        anyhow::ensure!(
            args.overload_secs.is_finite() && args.overload_secs > 0.0,
            "--overload-secs must be above 0"
        );
    }
    let binaries = match args.collector.is_empty() {
        false => args.collector.clone(),
        true => vec![default_binary()?],
    };
    let mut configs = Vec::new();
    for binary in &binaries {
        anyhow::ensure!(binary.exists(), "{}: no such binary", binary.display());
        for fsync in [true, false] {
            if fsync || args.fsync_off_baseline {
                configs.push(Config {
                    binary: binary.clone(),
                    fsync,
                });
            }
        }
    }
    let loki = FakeLoki::counting().await;
    let line = serde_json::to_string(&CanonicalRecord::from(&request(0)))?.len();
    println!(
        "{} streams, {} records/batch, {}, {} s per run, {} rounds, record line {line} \
         bytes before seq/chain, redact {}, score {}, file sink {}, collector on CPU {}",
        args.streams,
        args.batch,
        args.mode(),
        args.seconds,
        args.rounds,
        args.redact,
        args.score,
        args.file_sink,
        collector_cpu.map_or("(not pinned)".into(), |c| c.to_string()),
    );
    let open = args.rate.is_some();
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); configs.len()];
    for round in 0..args.rounds {
        // Alternate the order, so that no configuration always runs first.
        let order: Vec<usize> = match round % 2 {
            0 => (0..configs.len()).collect(),
            _ => (0..configs.len()).rev().collect(),
        };
        for i in order {
            let outcome = run(&args, &configs[i], collector_cpu, &loki).await?;
            println!(
                "round {} {}: {}",
                round + 1,
                label(&configs[i]),
                outcome.row(open)
            );
            results[i].push(outcome);
        }
    }
    println!("\nmedians of {} rounds, {}", args.rounds, args.mode());
    println!("{:<44} {}", "collector", Outcome::header(open));
    for (config, outcomes) in configs.iter().zip(&results) {
        println!(
            "{:<44} {}",
            label(config),
            Outcome::median(outcomes).row(open)
        );
    }
    Ok(())
}

fn label(config: &Config) -> String {
    let name = config.binary.display().to_string();
    let short = name.len().saturating_sub(32);
    format!(
        "{} fsync {}",
        name.get(short..).unwrap_or(&name),
        if config.fsync { "on" } else { "off" }
    )
}

/// `observatory-collector` of the same build: `target/<profile>/`, the
/// parent of this example's `examples/`.
fn default_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .context("where is the target folder?")?;
    Ok(profile.join("observatory-collector"))
}

#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    records: u64,
    /// Open loop: records per second the schedule offered.
    offered_per_sec: f64,
    records_per_sec: f64,
    /// Collector CPU (user + system) per record, load and drain.
    cpu_us_per_record: f64,
    /// Collector CPU per record during the load only.
    ingest_cpu_us_per_record: f64,
    /// Share of the collector's CPU time spent in the kernel.
    system_share: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    wal_bytes_per_record: f64,
    /// Seconds the sinks needed after the load; `None`: not within the limit.
    drained: Option<f64>,
    /// Entries the Loki stand-in decoded, per record acked.
    loki_entries_per_record: f64,
    /// Open loop: seconds into the load when it stopped as overloaded (one
    /// run; `None` for medians, see `overloaded_runs`).
    overloaded: Option<f64>,
    /// Of `runs`, those that stopped as overloaded.
    overloaded_runs: usize,
    runs: usize,
}

impl Outcome {
    /// Open loop: the offered rate first, and whether the run overloaded.
    fn header(open: bool) -> String {
        format!(
            "{}  µs CPU/rec (ingest)  sys %  ack p50 ms  ack p99 ms  p99.9 ms  WAL B/rec  \
             drained  loki entries/rec{}",
            if open {
                "offered/s    acked/s"
            } else {
                "records/s"
            },
            if open { "  overloaded" } else { "" },
        )
    }

    fn row(&self, open: bool) -> String {
        let offered = match open {
            true => format!("{:>9.0}  ", self.offered_per_sec),
            false => String::new(),
        };
        let overloaded = match (open, self.overloaded, self.overloaded_runs) {
            (false, ..) => String::new(),
            (true, Some(at), _) => format!("  at {at:.1} s"),
            (true, None, 0) => "  no".into(),
            (true, None, n) => format!("  {n} of {} runs", self.runs),
        };
        format!(
            "{offered}{:>9.0}  {:>7.2} ({:>6.2})  {:>5.1}  {:>10.2}  {:>10.2}  {:>8.2}  {:>9.0}  \
             {:>7}  {:>16.3}{overloaded}",
            self.records_per_sec,
            self.cpu_us_per_record,
            self.ingest_cpu_us_per_record,
            self.system_share * 100.0,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.wal_bytes_per_record,
            match self.drained {
                Some(d) => format!("{d:.1} s"),
                None => "no".into(),
            },
            self.loki_entries_per_record,
        )
    }

    /// Field by field.
    fn median(outcomes: &[Outcome]) -> Outcome {
        let m = |f: fn(&Outcome) -> f64| {
            let mut v: Vec<f64> = outcomes.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let drained: Vec<f64> = outcomes.iter().filter_map(|o| o.drained).collect();
        Outcome {
            records: m(|o| o.records as f64) as u64,
            offered_per_sec: m(|o| o.offered_per_sec),
            records_per_sec: m(|o| o.records_per_sec),
            cpu_us_per_record: m(|o| o.cpu_us_per_record),
            ingest_cpu_us_per_record: m(|o| o.ingest_cpu_us_per_record),
            system_share: m(|o| o.system_share),
            p50_ms: m(|o| o.p50_ms),
            p99_ms: m(|o| o.p99_ms),
            p999_ms: m(|o| o.p999_ms),
            wal_bytes_per_record: m(|o| o.wal_bytes_per_record),
            drained: match drained.len() == outcomes.len() {
                true => {
                    let mut d = drained;
                    d.sort_by(f64::total_cmp);
                    d.get(d.len() / 2).copied()
                }
                false => None,
            },
            loki_entries_per_record: m(|o| o.loki_entries_per_record),
            overloaded: None,
            overloaded_runs: outcomes.iter().map(|o| o.overloaded_runs).sum(),
            runs: outcomes.iter().map(|o| o.runs).sum(),
        }
    }
}

/// Starts `config`'s collector on CPU `cpu` (if any) with the data
/// directory `dir`, shipping to `loki`; waits until it listens.
async fn start_collector(
    args: &Args,
    config: &Config,
    cpu: Option<usize>,
    loki: &url::Url,
    dir: &Path,
) -> anyhow::Result<CollectorProcess> {
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let mut wrapper: Vec<String> = Vec::new();
    if let Some(cpu) = cpu {
        wrapper.extend(["taskset".into(), "-c".into(), cpu.to_string()]);
    }
    wrapper.extend(
        args.wrapper
            .iter()
            .flat_map(|w| w.split_whitespace().map(str::to_owned)),
    );
    let collector = Launch::new(&config.binary, dir)
        // Fixed ports: at `warn` it does not log where it listens.
        .listen(localhost(free_port()))
        .admin_listen(localhost(free_port()))
        .wrapper(wrapper)
        .args(["--loki-url", loki.as_str()])
        .args(["--wal-fsync", &config.fsync.to_string()])
        .args(["--wal-max-bytes", &args.wal_max_bytes.to_string()])
        .args(["--redact", &args.redact.to_string()])
        .args(["--score-enabled", &args.score.to_string()])
        .args(["--file-sink", &args.file_sink.to_string()])
        .env("RUST_LOG", "warn")
        .log_file(dir.join("collector.log"))
        .spawn()
        .await?;
    Ok(collector)
}

/// SIGTERM, then at most 60 s for the graceful stop.
async fn stop(mut collector: CollectorProcess) -> anyhow::Result<()> {
    let status = collector.stop(Duration::from_secs(60)).await?;
    anyhow::ensure!(status.success(), "collector exited with {status}");
    Ok(())
}

async fn run(
    args: &Args,
    config: &Config,
    cpu: Option<usize>,
    loki: &FakeLoki,
) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let collector = start_collector(args, config, cpu, &loki.url(), dir.path()).await?;
    let (addr, admin) = (collector.addr, Admin::new(collector.admin));
    let mut clients = Vec::new();
    for _ in 0..args.streams {
        clients.push(connect(addr).await?);
    }
    let entries_before = loki.entries_received();
    let tally = Arc::new(Tally::default());
    let (user_before, system_before) = cpu_seconds(collector.pid())?;
    let load_time = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let deadline = started + load_time;
    let mut load = Vec::new();
    let mut offered = 0;
    for (s, client) in (0..).zip(clients) {
        let pace = args.pace(s, started);
        if let Pace::Open { schedule, .. } = pace {
            offered += schedule.slots(load_time) * u64::from(args.batch);
        }
        load.push(tokio::spawn(stream_load(
            client,
            format!("bench-{}-{s}", started.elapsed().as_nanos()),
            args.batch,
            pace,
            deadline,
            tally.clone(),
        )));
    }
    for task in load {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (user, system) = cpu_seconds(collector.pid())?;
    let ingest_cpu = user + system - user_before - system_before;
    let records = tally.acked.load(Ordering::Relaxed);
    let overloaded = tally.overloaded.get().map(Duration::as_secs_f64);

    let drain_started = Instant::now();
    let mut drained = None;
    let mut text = String::new();
    while drain_started.elapsed() < Duration::from_secs(args.drain_secs) {
        text = admin.get("/metrics").await.1;
        let written = metric(&text, "observatory_records_written_total");
        let confirmed = |sink: &str| {
            metric(
                &text,
                &format!("observatory_sink_records_confirmed_total{{sink=\"{sink}\"}}"),
            )
        };
        let file_done = !args.file_sink || confirmed("jsonl") >= written;
        if written >= records && file_done && confirmed("loki") >= written {
            drained = Some(drain_started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (user, system) = cpu_seconds(collector.pid())?;
    let (user, system) = (user - user_before, system - system_before);
    let total_cpu = user + system;
    let wal_bytes = metric(&text, "observatory_wal_appended_bytes_total");
    let entries = loki.entries_received() - entries_before;
    stop(collector).await?;

    let mut latencies = std::mem::take(
        &mut *tally
            .latencies
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let per_record = |x: f64| x / records.max(1) as f64;
    Ok(Outcome {
        records,
        offered_per_sec: offered as f64 / load_time.as_secs_f64().max(f64::MIN_POSITIVE),
        records_per_sec: records as f64 / elapsed,
        cpu_us_per_record: per_record(total_cpu * 1e6),
        ingest_cpu_us_per_record: per_record(ingest_cpu * 1e6),
        system_share: system / total_cpu.max(f64::MIN_POSITIVE),
        p50_ms: quantile(0.5) * 1e3,
        p99_ms: quantile(0.99) * 1e3,
        p999_ms: quantile(0.999) * 1e3,
        wal_bytes_per_record: per_record(wal_bytes as f64),
        drained,
        loki_entries_per_record: per_record(entries as f64),
        overloaded,
        overloaded_runs: usize::from(overloaded.is_some()),
        runs: 1,
    })
}

/// A client of the collector at `addr`, which listens already.
async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<AuditServiceClient<tonic::transport::Channel>> {
    Ok(AuditServiceClient::connect(format!("http://{addr}")).await?)
}

/// What the streams of one run have in common.
#[derive(Default)]
struct Tally {
    /// Records acked.
    acked: AtomicU64,
    /// Seconds from each batch's send (closed loop) or slot (open loop) to
    /// its ack.
    latencies: Mutex<Vec<f64>>,
    /// Open loop: when (after the start) a stream found itself too far
    /// behind; every stream then stops sending.
    overloaded: OnceLock<Duration>,
}

/// One sender, paced by `pace` until `deadline`; records the time from
/// each batch's send (closed loop) or slot (open loop) to its ack.
async fn stream_load(
    mut client: AuditServiceClient<tonic::transport::Channel>,
    instance_id: String,
    batch: u32,
    pace: Pace,
    deadline: Instant,
    tally: Arc<Tally>,
) -> anyhow::Result<()> {
    // Open loop: never full, since no more than `window` batches are
    // unacked.
    let (tx, rx) = mpsc::channel(pace.window());
    let mut acks = client.stream(ReceiverStream::new(rx)).await?.into_inner();
    let permits = Arc::new(Semaphore::new(pace.window()));
    let sent: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
    let sender = {
        let (permits, sent, tally) = (permits.clone(), sent.clone(), tally.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            loop {
                // When the batch counts as sent.
                let due = match pace {
                    Pace::Closed { .. } => {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        permit.forget();
                        None
                    }
                    Pace::Open {
                        start, schedule, ..
                    } => {
                        let due = start + schedule.at(seq);
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        if tally.overloaded.get().is_some() {
                            break;
                        }
                        let Ok(permit) = permits.try_acquire() else {
                            let _ = tally.overloaded.set(start.elapsed());
                            break;
                        };
                        permit.forget();
                        Some(due)
                    }
                };
                seq += 1;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64);
                let records = (0..batch)
                    .map(|i| AuditRecord {
                        correlation_id: format!("{instance_id}-{seq}-{i}"),
                        ..request(now + i64::from(i))
                    })
                    .collect();
                let b = AuditBatch {
                    proxy_id: request(0).proxy_id,
                    instance_id: instance_id.clone(),
                    seq,
                    records,
                    gap: None,
                };
                if let Ok(mut sent) = sent.lock() {
                    sent.push_back((seq, due.unwrap_or_else(Instant::now)));
                }
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            seq
        })
    };
    // The sender drops its end at the deadline (or when overloaded); the
    // collector then ends the stream after acking everything it received.
    let mut last_acked = 0;
    while let Some(ack) = tokio::time::timeout(Duration::from_secs(10), acks.message())
        .await
        .context("no ack within 10 s")??
    {
        let now = Instant::now();
        let mut done = Vec::new();
        if let Ok(mut sent) = sent.lock() {
            while sent.front().is_some_and(|(seq, _)| *seq <= ack.seq) {
                if let Some((_, at)) = sent.pop_front() {
                    done.push(now.duration_since(at).as_secs_f64());
                }
            }
        }
        tally
            .acked
            .fetch_add(done.len() as u64 * u64::from(batch), Ordering::Relaxed);
        permits.add_permits(done.len());
        if let Ok(mut latencies) = tally.latencies.lock() {
            latencies.extend(done);
        }
        last_acked = ack.seq;
    }
    let last_sent = sender.await?;
    anyhow::ensure!(last_acked == last_sent, "acked {last_acked} of {last_sent}");
    Ok(())
}

/// CPU time (user, system; all threads) of process `pid` so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = stat.rsplit_once(')').context("odd /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/<pid>/stat")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100/s on Linux).
    Ok((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

/// A counter in the exposition `text`; 0 when it is not there yet.
fn metric(text: &str, series: &str) -> u64 {
    sample(text, series).map_or(0, |v| v as u64)
}
