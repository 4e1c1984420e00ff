//! Liveness and readiness. Liveness (`/healthz`) only says the process
//! serves HTTP: restarting the collector cannot fix a full disk or an
//! unreachable Loki, it would only replay the WAL again. Readiness
//! (`/readyz`) runs every [`ReadyCheck`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// Longest a readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One condition for readiness.
#[async_trait]
pub trait ReadyCheck: Send + Sync {
    /// Shown in the `/readyz` answer, e.g. `loki`.
    fn name(&self) -> &str;
    /// `Err` says why the collector is not ready.
    async fn check(&self) -> Result<(), String>;
}

/// The outcome of every check, in order: name and failure, if any.
pub async fn readiness(checks: &[Arc<dyn ReadyCheck>]) -> Vec<(String, Result<(), String>)> {
    let mut results = Vec::with_capacity(checks.len());
    for check in checks {
        let result = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        results.push((check.name().to_owned(), result));
    }
    results
}

/// The data directory accepts a new file: creates, fsyncs and removes a
/// probe file, so a read-only or full volume shows.
pub struct DirWritable {
    pub dir: PathBuf,
}

const PROBE_FILE: &str = ".readyz-probe";

#[async_trait]
impl ReadyCheck for DirWritable {
    fn name(&self) -> &str {
        "data_dir"
    }

    async fn check(&self) -> Result<(), String> {
        let path = self.dir.join(PROBE_FILE);
        let probe = async {
            let file = tokio::fs::File::create(&path).await?;
            file.sync_all().await?;
            tokio::fs::remove_file(&path).await
        };
        probe
            .await
            .map_err(|e| format!("{} is not writable: {e}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Slow;

    #[async_trait]
    impl ReadyCheck for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        async fn check(&self) -> Result<(), String> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn writable_dir_passes_missing_dir_and_hung_check_fail() {
        let dir = tempfile::tempdir().unwrap();
        let checks: Vec<Arc<dyn ReadyCheck>> = vec![
            Arc::new(DirWritable {
                dir: dir.path().to_owned(),
            }),
            Arc::new(DirWritable {
                dir: dir.path().join("missing"),
            }),
            Arc::new(Slow),
        ];
        let results = readiness(&checks).await;
        assert_eq!(results[0], ("data_dir".to_owned(), Ok(())));
        assert!(results[1].1.as_ref().unwrap_err().contains("missing"));
        assert!(results[2].1.as_ref().unwrap_err().contains("no answer"));
        assert!(!dir.path().join(PROBE_FILE).exists());
    }
}
