//! The command line: `observatory-collector <subcommand>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::evidence::EvidenceArgs;
use crate::commands::redact::RedactArgs;
use crate::commands::score::ScoreArgs;
use crate::commands::verify::VerifyArgs;
use crate::config::{ConfigError, ServeConfig, Settings};

#[derive(Debug, Parser)]
#[command(name = "observatory-collector", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Accept audit streams from the filters and store them durably.
    Serve(ServeArgs),
    /// Score audit records (JSON lines, time order) for anomalies.
    Score(ScoreArgs),
    /// Redact JSON lines {"id","text"} and report the findings (byte offsets).
    Redact(RedactArgs),
    /// Check a stored trail (JSON-lines file, Loki or evidence bundle) for missing, altered, forged, reordered or injected lines; exit 0 clean, 1 findings, 2 could not check.
    Verify(VerifyArgs),
    /// Check a time range of the trail and write it with the report, checkpoints and a manifest of SHA-256 sums to a directory, for `verify --evidence`.
    Evidence(EvidenceArgs),
    /// Print the field names of every stored line kind and of the Loki structured metadata, the Loki sink's own stream labels and the PII types, as JSON, for writing LogQL.
    Fields,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with the settings below (snake_case keys); env vars and flags override it
    #[arg(long, env = "OBSERVATORY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

impl ServeArgs {
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
        ServeConfig::resolve(self.settings, self.config.as_deref())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "observatory-collector",
            "serve",
            "--listen",
            "127.0.0.1:5000",
            "--data-dir",
            "/tmp/d",
            "--max-senders",
            "3",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            unreachable!("parsed as serve")
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.listen.port(), 5000);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(config.max_senders.get(), 3);
    }

    #[test]
    fn loki_url_flag_enables_loki() {
        let cli = Cli::try_parse_from([
            "observatory-collector",
            "serve",
            "--loki-url",
            "https://loki.monitoring:3100",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            unreachable!("parsed as serve")
        };
        let loki = args.resolve().unwrap().loki.unwrap();
        assert_eq!(loki.url.unwrap().as_str(), "https://loki.monitoring:3100/");
    }

    #[test]
    fn zero_limit_is_rejected() {
        let err = Cli::try_parse_from(["observatory-collector", "serve", "--max-senders", "0"])
            .unwrap_err();
        assert!(err.to_string().contains("--max-senders"), "{err}");
    }
}
