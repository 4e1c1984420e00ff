//! The collector binary as a child process, for tests that signal or kill it.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

pub struct Process {
    child: Child,
    /// The gRPC address it listens on.
    pub addr: String,
    log: JoinHandle<String>,
}

impl Process {
    /// Starts `serve` on 127.0.0.1 ports of its own with `data_dir` and
    /// waits for its "listening on" line.
    pub async fn spawn(data_dir: &Path, extra: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("OBSERVATORY_DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        // Reads stderr to the end (so the pipe never fills), reporting the address.
        let log = std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            let mut log = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, addr)) = line.split_once("listening on ") {
                    if let Some(tx) = addr_tx.take() {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        });
        let addr = addr_rx.await.expect("no 'listening on' line");
        Process { child, addr, log }
    }

    /// Sends `signal` (`TERM`, `KILL`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the exit; returns its status and everything it logged.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            (status, self.log.join())
        })
        .await
        .unwrap();
        (status.0.unwrap(), status.1.unwrap())
    }
}
