//! The collector binary of this build as a child process, for tests that
//! signal or kill it.

use std::path::Path;

pub use observatory_testkit::process::CollectorProcess as Process;
use observatory_testkit::process::Launch;

/// Starts `serve` on 127.0.0.1 ports of its own with `data_dir` and
/// `extra` arguments; waits until it listens.
pub async fn spawn(data_dir: &Path, extra: &[&str]) -> Process {
    Launch::new(env!("CARGO_BIN_EXE_observatory-collector"), data_dir)
        .args(extra)
        .spawn()
        .await
        .unwrap()
}
