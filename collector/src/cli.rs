//! The command line: `observatory-collector <subcommand>`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, ServeConfig, Settings};
use crate::{chain, redact, score, verify};

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
    /// Check a stored trail (JSON-lines file or Loki) for missing, altered, reordered or injected records.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A JSON-lines trail (audit.jsonl)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "loki",
        conflicts_with = "loki"
    )]
    pub jsonl: Option<PathBuf>,
    /// Loki's base URL; reads `{job="observatory"}` with query_range
    #[arg(long, value_name = "URL", requires_all = ["from", "to"])]
    pub loki: Option<url::Url>,
    /// Start of the time range (RFC 3339), with --loki
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time range (RFC 3339), with --loki
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this proxy's chain
    #[arg(long, value_name = "ID")]
    pub proxy: Option<String>,
    /// X-Scope-OrgID for Loki
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The checkpoint key: signatures are checked only with it
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Name of that key
    #[arg(long, env = "OBSERVATORY_CHECKPOINT_KEY_ID", value_name = "ID", default_value = crate::config::DEFAULT_CHECKPOINT_KEY_ID)]
    pub key_id: String,
}

impl VerifyArgs {
    pub async fn run(&self) -> Result<chain::Report, verify::VerifyError> {
        let key = match &self.key_file {
            Some(path) => Some(chain::CheckpointKey {
                id: self.key_id.clone(),
                secret: std::fs::read(path)
                    .map_err(|error| verify::VerifyError::Read {
                        path: path.clone(),
                        error,
                    })?
                    .trim_ascii_end()
                    .to_vec(),
            }),
            None => None,
        };
        match (&self.jsonl, &self.loki) {
            (Some(path), _) => verify::jsonl(path, key.as_ref(), self.proxy.as_deref()),
            (None, Some(url)) => {
                let query = verify::LokiQuery {
                    url,
                    from: self.from.as_deref().unwrap_or_default(),
                    to: self.to.as_deref().unwrap_or_default(),
                    proxy: self.proxy.as_deref(),
                    tenant: self.tenant.as_deref(),
                };
                verify::loki(&query, key.as_ref()).await
            }
            // clap requires one of the two.
            (None, None) => Ok(chain::Report::default()),
        }
    }
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

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Canonical audit records, one JSON object per line; `-` is stdin
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// Where the `{"correlation_id","score","warmup","reasons"}` lines go; `-` is stdout
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub output: PathBuf,
    /// Record time after the first record during which scores are flagged as warm-up
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warmup_minutes: u32,
}

impl ScoreArgs {
    /// Scores `--input` into `--output`.
    pub fn run(&self) -> Result<score::RunStats, ScoreRunError> {
        let (input, output) = open_io(&self.input, &self.output)?;
        let config = score::ScoreConfig {
            warmup_secs: f64::from(self.warmup_minutes) * 60.0,
            ..Default::default()
        };
        Ok(score::run(input, output, &mut score::Scorer::new(config))?)
    }
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// JSON lines {"id": …, "text": "…"} (optionally "kind": json|form|query|header|text and "header": NAME); `-` is stdin
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// Where the {"id","redacted","findings":[{"start","end","type"}]} lines go; `-` is stdout
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub output: PathBuf,
    /// JSON file holding the `redaction` object of the filter configuration [default: every built-in type, mask]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl RedactArgs {
    /// Redacts `--input` into `--output`.
    pub fn run(&self) -> Result<redact::RunStats, RedactCliError> {
        let redactor = redact::load(self.config.as_deref())?;
        let (input, output) = open_io(&self.input, &self.output)?;
        Ok(redact::run(input, output, &redactor)?)
    }
}

/// The opened `--input` and `--output` of a streaming command.
type Io = (Box<dyn BufRead>, Box<dyn Write>);

/// `--input` and `--output` of a streaming command; `-` is stdin/stdout.
fn open_io(input: &Path, output: &Path) -> Result<Io, OpenError> {
    fn open(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
        move |source| OpenError {
            path: path.to_owned(),
            source,
        }
    }
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(input).map_err(open(input))?))
    };
    let writer: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(File::create(output).map_err(open(output))?))
    };
    Ok((reader, writer))
}

#[derive(Debug, thiserror::Error)]
#[error("opening {}: {source}", path.display())]
pub struct OpenError {
    path: PathBuf,
    source: std::io::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreRunError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Score(#[from] score::ScoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum RedactCliError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Config(#[from] redact::LoadError),
    #[error(transparent)]
    Redact(#[from] redact::RedactRunError),
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
