//! The collector process: `<collector> serve --listen 127.0.0.1:PORT --data-dir DIR`
//! (optionally `--config FILE` and extra env vars), started through the test kit's launcher,
//! and readers for the JSON lines it appends to `DIR/audit.jsonl`. The filter's Envoy sends to
//! it directly, so senders are not authenticated (`--ingest-auth none`) unless a test starts it
//! with its own `[ingest]` table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use observatory_testkit::process::{CollectorProcess, Launch, LaunchError};
use serde_json::Value;
use tempfile::TempDir;

use crate::{collector_bin, eventually, WAIT};

/// A running (or deliberately stopped) collector; killed on Drop.
pub struct Collector {
    pub port: u16,
    dir: TempDir,
    /// How every start launches it: port, data dir, config file, ingest auth.
    launch: Launch,
    /// Env vars set for the process (on top of `launch`'s).
    env: Vec<(String, String)>,
    process: Option<CollectorProcess>,
    starts: usize,
}

impl Collector {
    /// Start on a free port with a fresh data dir; waits until it listens.
    pub async fn start() -> Collector {
        Collector::start_with(None, &[]).await
    }

    /// Like [`Collector::start`], with `config_toml` as its `--config` file and `env` set.
    pub async fn start_with(config_toml: Option<&str>, env: &[(&str, &str)]) -> Collector {
        Collector::launch(config_toml, env, true).await
    }

    /// Started with `config_toml`, whose `[ingest]` table says how senders are authenticated.
    pub async fn start_authenticated(config_toml: &str) -> Collector {
        Collector::launch(Some(config_toml), &[], false).await
    }

    async fn launch(
        config_toml: Option<&str>,
        env: &[(&str, &str)],
        unauthenticated: bool,
    ) -> Collector {
        // Fail early, with the `make test` hint, when the binary is missing.
        let binary = collector_bin();
        let dir = tempfile::Builder::new()
            .prefix("obs-e2e-collector-")
            .tempdir()
            .expect("collector tempdir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let port = crate::free_port();
        let mut launch = Launch::new(binary, data_dir)
            .listen(SocketAddr::from(([127, 0, 0, 1], port)))
            .ingest_auth(unauthenticated.then_some("none"));
        if let Some(toml) = config_toml {
            let path = dir.path().join("collector.toml");
            std::fs::write(&path, toml).expect("collector config");
            launch = launch.config(path);
        }
        if let Ok(level) = std::env::var("RUST_LOG") {
            launch = launch.env("RUST_LOG", level);
        }
        let mut c = Collector {
            port,
            dir,
            launch,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            process: None,
            starts: 0,
        };
        c.spawn_and_wait().await;
        c
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.data_dir().join("audit.jsonl")
    }

    fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("collector-{n}.log"))
    }

    /// Everything the collector processes printed (all starts), oldest first.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            out.push_str(&format!("--- collector start #{n} ---\n"));
            out.push_str(&std::fs::read_to_string(self.log_path(n)).unwrap_or_default());
        }
        out
    }

    async fn spawn_and_wait(&mut self) {
        // A restart may race with the old socket; retry a few times (bounded).
        let deadline = Instant::now() + WAIT;
        for _attempt in 0..10 {
            self.starts += 1;
            let launch = self
                .env
                .iter()
                .fold(self.launch.clone(), |launch, (k, v)| launch.env(k, v))
                .log_file(self.log_path(self.starts))
                .start_within(deadline.saturating_duration_since(Instant::now()));
            match launch.spawn().await {
                Ok(process) => {
                    self.process = Some(process);
                    return;
                }
                Err(LaunchError::Spawn { binary, source }) => {
                    panic!("spawn collector {}: {source}", binary.display())
                }
                Err(why) => {
                    eprintln!("collector start #{} failed: {why}", self.starts);
                    if Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        panic!(
            "collector did not start listening on {} within {:?}; log:\n{}",
            self.addr(),
            WAIT,
            self.log()
        );
    }

    /// SIGKILL the collector (no-op when already stopped).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(CollectorProcess::is_running)
    }

    /// Start again on the same port and data dir (kills the current process first).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait().await;
    }

    /// Restart (same port and data dir) with `env` instead of the environment it had.
    pub async fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.restart().await;
    }

    /// Every complete JSON line in audit.jsonl (records and gap lines), in file order.
    pub fn lines(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.audit_path()) else {
            return Vec::new();
        };
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n')) // skip a line still being written
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .collect()
    }

    /// Audit records (lines without `audit_gap`, `anomaly` or `service_health`).
    pub fn records(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|v| {
                ["audit_gap", "anomaly", "service_health"]
                    .iter()
                    .all(|k| v.get(k).is_none())
            })
            .collect()
    }

    /// Anomaly events (`{"ts":..,"anomaly":{..}}`).
    pub fn anomalies(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|v| v.get("anomaly").is_some())
            .collect()
    }

    /// Gap lines (`{"ts":..,"proxy_id":..,"audit_gap":{..}}`).
    pub fn gaps(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|v| v.get("audit_gap").is_some())
            .collect()
    }

    /// All records with this correlation_id.
    pub fn records_with_id(&self, correlation_id: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r.get("correlation_id").and_then(Value::as_str) == Some(correlation_id))
            .collect()
    }

    /// The record with this correlation_id, if stored yet.
    pub fn record(&self, correlation_id: &str) -> Option<Value> {
        self.records_with_id(correlation_id).into_iter().next()
    }

    /// Wait (up to [`WAIT`]) for the record with `correlation_id`; panics with context.
    pub async fn wait_for_record(&self, correlation_id: &str) -> Value {
        self.wait_for_record_within(correlation_id, WAIT).await
    }

    pub async fn wait_for_record_within(&self, correlation_id: &str, timeout: Duration) -> Value {
        match eventually(timeout, || self.record(correlation_id)).await {
            Some(r) => r,
            None => {
                let lines = self.lines();
                let tail: Vec<String> = lines.iter().rev().take(5).map(|l| l.to_string()).collect();
                panic!(
                    "no audit record with correlation_id {correlation_id:?} in {} after {:?} \
                     ({} lines stored; last ones: {:#?})\ncollector log:\n{}",
                    self.audit_path().display(),
                    timeout,
                    lines.len(),
                    tail,
                    self.log()
                )
            }
        }
    }

    /// Wait (up to `timeout`) until `pred` holds for some stored line; returns it.
    pub async fn wait_for_line(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        eventually(timeout, || self.lines().into_iter().find(|l| pred(l))).await
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "===== collector log ({}) =====\n{}\n===== audit.jsonl: {} lines =====",
                self.addr(),
                tail(&self.log(), 100),
                self.lines().len()
            );
            if std::env::var_os("E2E_KEEP_DIRS").is_some() {
                eprintln!("keeping collector dir {}", self.dir.path().display());
                let dir = std::mem::replace(
                    &mut self.dir,
                    tempfile::tempdir().expect("placeholder tempdir"),
                );
                let _ = dir.keep();
            }
        }
    }
}

/// Last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}
