//! `observatory-collector evidence`: checks a time range of the trail as
//! `verify` does and writes what it read and found to a directory — an
//! evidence bundle ([`crate::commands::verify::bundle`]) that
//! `verify --evidence DIR` checks again offline.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{ArgGroup, Args};
use observatory_proto::json::unix_nanos;

use super::verify::args::ReadArgs;
use super::verify::error::VerifyError;
use super::verify::report::Report;
use super::verify::{bundle, check};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("trail").required(true).args(["jsonl", "loki"])))]
pub struct EvidenceArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Directory to write the bundle to: new, or empty
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// What `evidence` did: the check's report and the SHA-256 of the
/// bundle's manifest (to be kept apart from the bundle).
pub struct Exported {
    pub report: Report,
    pub manifest_sha256: String,
}

impl EvidenceArgs {
    pub async fn run(&self) -> Result<Exported, VerifyError> {
        let params = self.read.params(unix_nanos(SystemTime::now()))?;
        if params.window.is_none() {
            return Err(VerifyError::Flag {
                flag: "from",
                value: String::new(),
                why: "evidence is of a time range: --from and --to are needed",
            });
        }
        let mut source = self.read.source()?.ok_or_else(|| VerifyError::Flag {
            flag: "jsonl",
            value: String::new(),
            why: "--jsonl or --loki is needed",
        })?;
        let checked = check(&mut source, &params, self.read.describe()).await?;
        let manifest_sha256 = bundle::write(&self.out, &params, &checked.trail, &checked.report)?;
        Ok(Exported {
            report: checked.report,
            manifest_sha256,
        })
    }
}
