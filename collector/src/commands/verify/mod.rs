//! `observatory-collector verify`: reads a stored trail back — a JSON-lines
//! file, Loki through `query_range` ([`loki`]), or an evidence bundle
//! ([`bundle`]) — and checks its chains and checkpoints against what
//! [`crate::chain`] stamped.
//!
//! The range asked about is read with a margin around it ([`args`]); what
//! is still missing is looked up: the lines of the seqs between two lines
//! read, the line before a chain's first, the lines up to the checkpoint
//! after its last ([`check()`]). The entries are sorted out ([`trail`]: split
//! lines joined by [`rejoin`], each line's kind from [`line`]) and each
//! proxy's chain judged in seq order ([`analysis`]). The [`report`] says
//! what was found (exit 1), what is not proven yet and why (notices), what
//! could not be checked (exit 2) — 0 otherwise.

pub mod analysis;
pub mod args;
pub mod bundle;
pub mod check;
pub mod entry;
pub mod error;
pub mod line;
pub mod logql;
pub mod loki;
pub mod memory;
pub mod rejoin;
pub mod report;
pub mod source;
pub mod trail;

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{ArgGroup, Args, ValueEnum};
use observatory_proto::json::unix_nanos;

use self::args::ReadArgs;
pub use self::check::{check, Checked};
use self::error::VerifyError;
use self::report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("trail").required(true).args(["jsonl", "loki", "evidence"])))]
pub struct VerifyArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// An evidence bundle (from `evidence`): its files against its manifest, its entries as read then
    #[arg(long, value_name = "DIR", conflicts_with_all = ["jsonl", "loki", "from", "to"])]
    pub evidence: Option<PathBuf>,
    /// How to print the report
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 2 unless every line of the range is proven (no tail, nothing pending)
    #[arg(long)]
    pub strict: bool,
}

impl VerifyArgs {
    pub async fn run(&self) -> Result<Report, VerifyError> {
        let mut report = match &self.evidence {
            Some(dir) => bundle::verify(dir, self.read.key()?).await?,
            None => {
                let params = self.read.params(unix_nanos(SystemTime::now()))?;
                let mut source = self.read.source()?.ok_or_else(|| VerifyError::Flag {
                    flag: "jsonl",
                    value: String::new(),
                    why: "--jsonl, --loki or --evidence is needed",
                })?;
                check(&mut source, &params, self.read.describe())
                    .await?
                    .report
            }
        };
        report.decide(self.strict);
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
