//! What stops `verify` from checking at all (exit status 2).

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--{flag}: {why}: {value}")]
    Flag {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("Loki query failed: {0}")]
    Loki(String),
    #[error("evidence bundle {path}: {why}")]
    Bundle { path: PathBuf, why: String },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}
