//! `observatory-collector`: parses the command line and hands over to the library.

use std::future::Future;

use anyhow::Context as _;
use clap::Parser as _;
use observatory_collector::cli::{Cli, Command};
use observatory_collector::server;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            // Installed before binding, so a signal sent right after
            // "listening on" already means a graceful stop.
            let shutdown = shutdown_signal()?;
            let collector = server::bind(&config).await?;
            collector.serve(shutdown).await?;
        }
        Command::Score(args) => {
            let stats = args.run()?;
            tracing::info!(?stats, "scored");
        }
        Command::Redact(args) => {
            let stats = args.run()?;
            tracing::info!(?stats, "redacted");
        }
        Command::Verify(args) => {
            let report = args.run().await?;
            for finding in &report.findings {
                println!("{finding}");
            }
            println!(
                "{} records, {} duplicates, {} checkpoints, {} problems",
                report.records,
                report.duplicates,
                report.checkpoints,
                report.findings.len()
            );
            if !report.findings.is_empty() {
                anyhow::bail!("the trail does not verify");
            }
        }
    }
    Ok(())
}

/// Logs go to stderr (stdout stays free for command output); `RUST_LOG`
/// picks the level, `info` by default.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
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
