//! `observatory-collector`: parses the command line and hands over to the library.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use observatory_collector::cli::{Cli, Command};
use observatory_collector::commands::fields;
use observatory_collector::commands::verify::report::Report;
use observatory_collector::commands::verify::Format;
use observatory_collector::config::ServeConfig;
use observatory_collector::server;
use observatory_collector::telemetry::otlp::Otlp;
use observatory_collector::telemetry::Telemetry;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args.resolve()?).await?,
        Command::Score(args) => {
            init_logging(None);
            let stats = args.run()?;
            tracing::info!(?stats, "scored");
        }
        Command::Redact(args) => {
            init_logging(None);
            let stats = args.run()?;
            tracing::info!(?stats, "redacted");
        }
        Command::Verify(args) => {
            init_logging(None);
            let code = match args.run().await {
                Ok(report) => print_report(&report, args.format),
                Err(e) => could_not_check(&e),
            };
            std::process::exit(code);
        }
        Command::Fields => {
            let contract = fields::contract().context("describing the stored lines")?;
            println!("{}", serde_json::to_string_pretty(&contract)?);
        }
        Command::Evidence(args) => {
            init_logging(None);
            let code = match args.run().await {
                Ok(exported) => {
                    let code = print_report(&exported.report, Format::Text);
                    println!(
                        "evidence in {}; SHA-256 of its manifest.json: {} (keep it apart)",
                        args.out.display(),
                        exported.manifest_sha256
                    );
                    code
                }
                Err(e) => could_not_check(&e),
            };
            std::process::exit(code);
        }
    }
    Ok(())
}

/// Prints a `verify` report to stdout; its exit status.
fn print_report(report: &Report, format: Format) -> i32 {
    match format {
        Format::Text => print!("{report}"),
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => return could_not_check(&e),
        },
    }
    i32::from(report.exit)
}

/// Why a trail could not be checked, on stderr: exit status 2.
fn could_not_check(error: &dyn std::fmt::Display) -> i32 {
    eprintln!("observatory-collector: could not check: {error}");
    2
}

/// `serve`: the collector until SIGTERM/SIGINT, with its own telemetry
/// exported over OTLP when configured (flushed after the drain).
async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let telemetry = Arc::new(Telemetry::new());
    let otlp = match &config.otlp {
        Some(otlp) => Some(Otlp::start(otlp, telemetry.clone())?),
        None => None,
    };
    init_logging(otlp.as_ref().map(|otlp| otlp.layer().boxed()));
    if let Some(otlp) = &config.otlp {
        tracing::info!(endpoint = %otlp.endpoint, "exporting traces and metrics over OTLP");
    }
    // Installed before binding, so a signal sent right after "listening on"
    // already means a graceful stop.
    let shutdown = shutdown_signal()?;
    let served = match server::bind(&config, telemetry).await {
        Ok(collector) => collector.serve(shutdown).await,
        Err(e) => Err(e),
    };
    if let Some(otlp) = otlp {
        otlp.shutdown().await;
    }
    Ok(served?)
}

/// Logs go to stderr (stdout stays free for command output); `RUST_LOG`
/// picks the level, `info` by default. `export` (the OTLP span layer) has
/// its own filter.
fn init_logging(export: Option<Box<dyn Layer<Registry> + Send + Sync>>) {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    tracing_subscriber::registry().with(export).with(fmt).init();
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
    })
}
