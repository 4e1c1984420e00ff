//! Ingest benchmark: gRPC load → collector (in this process) → WAL → sinks
//! (`audit.jsonl` and a Loki stand-in on 127.0.0.1 that answers 204). Runs
//! the same load with the WAL's fsync on, then off as a baseline measured on
//! the same machine at the same moment, and prints records/s, records per
//! CPU second of the whole process (load client and Loki stand-in
//! included), ack latency and WAL bytes per record.
//!
//! `cargo run --release -p observatory-collector --example wal_bench -- --seconds 10 [--redact false --score false]`

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use observatory_collector::config::ServeConfig;
use observatory_collector::server;
use observatory_collector::sink::loki::config::LokiConfig;
use observatory_engine::record::CanonicalRecord;
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::{AuditBatch, AuditRecord};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Parser)]
struct Args {
    /// Load time per run (two runs)
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent streams (each one sender instance)
    #[arg(long, default_value_t = 8)]
    streams: u32,
    /// Records per batch (the filter's default is 64)
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Batches a stream may have unacked
    #[arg(long, default_value_t = 2)]
    window: usize,
    /// Re-redact records (the collector's default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    redact: bool,
    /// Score records live (the collector's default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    score: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let loki = start_loki().await?;
    let template = record();
    let line = serde_json::to_string(&CanonicalRecord::from(&template))?.len();
    println!(
        "{} streams, {} records/batch, window {}, {} s per run, record line {line} bytes \
         before seq/chain, redact {}, score {}",
        args.streams, args.batch, args.window, args.seconds, args.redact, args.score
    );
    println!("mode       records/s  cpu-s  records/cpu-s  ack p50 ms  ack p99 ms  WAL B/record  loki drained");
    for fsync in [true, false] {
        let result = run(&args, fsync, &loki, &template).await?;
        println!(
            "fsync {:<4} {:>9.0}  {:>5.1}  {:>13.0}  {:>10.2}  {:>10.2}  {:>12.0}  {}",
            if fsync { "on" } else { "off" },
            result.records as f64 / result.elapsed,
            result.cpu,
            result.records as f64 / result.cpu,
            result.p50 * 1e3,
            result.p99 * 1e3,
            result.wal_bytes as f64 / result.records as f64,
            match result.drained {
                Some(d) => format!("in {:.1} s", d.as_secs_f64()),
                None => "no (timed out)".into(),
            },
        );
    }
    Ok(())
}

struct Outcome {
    records: u64,
    elapsed: f64,
    cpu: f64,
    p50: f64,
    p99: f64,
    wal_bytes: u64,
    drained: Option<Duration>,
}

async fn run(
    args: &Args,
    fsync: bool,
    loki: &url::Url,
    template: &AuditRecord,
) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let mut config = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        admin_listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_owned(),
        loki: Some(LokiConfig {
            url: Some(loki.clone()),
            ..LokiConfig::default()
        }),
        ..ServeConfig::default()
    };
    config.wal.fsync = fsync;
    config.redact = args.redact;
    config.score.enabled = args.score;
    let collector = server::bind(&config, Default::default()).await?;
    let addr = collector.local_addr();
    let wal = collector.wal();
    let telemetry = collector.telemetry();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(collector.serve(async {
        let _ = stop_rx.await;
    }));

    let latencies = Arc::new(Mutex::new(Vec::new()));
    let acked = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_seconds()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut load = Vec::new();
    for s in 0..args.streams {
        let client = AuditServiceClient::connect(format!("http://{addr}")).await?;
        load.push(tokio::spawn(stream_load(
            client,
            format!("bench-{fsync}-{s}"),
            template.clone(),
            args.batch,
            args.window,
            deadline,
            acked.clone(),
            latencies.clone(),
        )));
    }
    for task in load {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu_before;
    let drain_started = Instant::now();
    let mut drained = None;
    while drain_started.elapsed() < Duration::from_secs(20) {
        if wal.unconfirmed() == 0 {
            drained = Some(drain_started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wal_bytes = metric(&telemetry.encode(), "observatory_wal_appended_bytes_total");
    let _ = stop_tx.send(());
    serving.await??;

    let mut latencies =
        std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(Outcome {
        records: acked.load(Ordering::Relaxed),
        elapsed,
        cpu,
        p50: quantile(0.5),
        p99: quantile(0.99),
        wal_bytes,
        drained,
    })
}

/// One sender: batches back to back, at most `window` unacked; records the
/// time from sending each batch to its ack.
#[allow(clippy::too_many_arguments)]
async fn stream_load(
    mut client: AuditServiceClient<tonic::transport::Channel>,
    instance_id: String,
    template: AuditRecord,
    batch: u32,
    window: usize,
    deadline: Instant,
    acked: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(window);
    let mut acks = client.stream(ReceiverStream::new(rx)).await?.into_inner();
    let permits = Arc::new(Semaphore::new(window));
    let sent: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
    let sender = {
        let (permits, sent) = (permits.clone(), sent.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                permit.forget();
                seq += 1;
                let records = (0..batch)
                    .map(|i| AuditRecord {
                        correlation_id: format!("{instance_id}-{seq}-{i}"),
                        ..template.clone()
                    })
                    .collect();
                let b = AuditBatch {
                    proxy_id: template.proxy_id.clone(),
                    instance_id: instance_id.clone(),
                    seq,
                    records,
                    gap: None,
                };
                if let Ok(mut sent) = sent.lock() {
                    sent.push_back((seq, Instant::now()));
                }
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            seq
        })
    };
    // The sender drops its end at the deadline; the collector then ends
    // the stream after acking everything it received.
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
        acked.fetch_add(done.len() as u64 * u64::from(batch), Ordering::Relaxed);
        permits.add_permits(done.len());
        if let Ok(mut latencies) = latencies.lock() {
            latencies.extend(done);
        }
        last_acked = ack.seq;
    }
    let last_sent = sender.await?;
    anyhow::ensure!(last_acked == last_sent, "acked {last_acked} of {last_sent}");
    Ok(())
}

/// About 400 bytes as a canonical JSON line.
fn record() -> AuditRecord {
    AuditRecord {
        ts_unix_nanos: 1_764_283_479_123_456_789,
        correlation_id: "00000000-0000-4000-8000-000000000000".into(),
        source_principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
        source_ip: "10.0.0.9".into(),
        mtls: true,
        destination_workload: "orders".into(),
        destination_namespace: "shop".into(),
        method: "POST".into(),
        path: "/api/orders/12345".into(),
        status: 201,
        duration_ms: 12.5,
        request_bytes: 321,
        response_bytes: 54,
        user_agent: "curl/8.5.0".into(),
        decision: "allow".into(),
        rule: "orders/allow".into(),
        proxy_id: "web-1.shop".into(),
        ..AuditRecord::default()
    }
}

/// A Loki stand-in that takes every push (204) without decoding it.
async fn start_loki() -> anyhow::Result<url::Url> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?).parse()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let mut response = hyper::Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                        Ok::<_, Infallible>(response)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok(url)
}

/// CPU time (user + system) of this process so far, from /proc/self/stat.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = stat.rsplit_once(')').context("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100/s on Linux).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}
