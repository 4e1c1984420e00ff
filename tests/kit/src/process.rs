//! The collector binary as a child process: for tests that signal, kill or
//! restart it, the end-to-end tests and the benchmark.
//!
//! [`Launch`] says how to start it; [`Launch::spawn`] starts it and waits
//! until it listens, known from its `listening on` line or, on a fixed
//! port, from a connection. Its output (stdout and stderr) is read to the
//! end, so the pipes never fill, and kept: [`CollectorProcess::log`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait;

/// Why a collector did not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("starting {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("the collector exited with {status} before it listened; its log:\n{log}")]
    Exited { status: ExitStatus, log: String },
    #[error("the collector did not listen within {within:?}; its log:\n{log}")]
    NotListening { within: Duration, log: String },
    #[error("the collector did not exit within {within:?} of SIGTERM")]
    NoExit { within: Duration },
    #[error("waiting for the collector: {0}")]
    Wait(#[from] std::io::Error),
}

/// How to start the collector: `serve` on 127.0.0.1 ports of its own (port
/// 0 unless set) with a data directory, logging at `info`, senders not
/// authenticated (`--ingest-auth none`: the tests and the benchmark send
/// straight to it) unless set.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: PathBuf,
    data_dir: PathBuf,
    listen: SocketAddr,
    admin: SocketAddr,
    config: Option<PathBuf>,
    ingest_auth: Option<String>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    wrapper: Vec<OsString>,
    log_file: Option<PathBuf>,
    start_within: Duration,
}

/// How often a start or a stop is looked at.
const POLL: Duration = Duration::from_millis(20);

/// 127.0.0.1, a port the system picks.
const ANY_PORT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

impl Launch {
    pub fn new(binary: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Launch {
        Launch {
            binary: binary.into(),
            data_dir: data_dir.into(),
            listen: ANY_PORT,
            admin: ANY_PORT,
            config: None,
            ingest_auth: Some("none".to_owned()),
            args: Vec::new(),
            env: Vec::new(),
            wrapper: Vec::new(),
            log_file: None,
            start_within: Duration::from_secs(60),
        }
    }

    /// The gRPC address (`--listen`); a fixed port stays across restarts.
    pub fn listen(mut self, addr: SocketAddr) -> Launch {
        self.listen = addr;
        self
    }

    /// The admin server's address (`--admin-listen`), for its `/metrics`.
    pub fn admin_listen(mut self, addr: SocketAddr) -> Launch {
        self.admin = addr;
        self
    }

    /// `--config FILE`: its tables set what no argument does.
    pub fn config(mut self, path: impl Into<PathBuf>) -> Launch {
        self.config = Some(path.into());
        self
    }

    /// `--ingest-auth MODE`; `None` leaves the mode to the config file.
    pub fn ingest_auth(mut self, mode: Option<&str>) -> Launch {
        self.ingest_auth = mode.map(str::to_owned);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launch {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Launch {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (`RUST_LOG` replaces `info`).
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.env
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs the binary under this command, e.g. `taskset -c 1` or
    /// `valgrind --tool=callgrind`.
    pub fn wrapper(mut self, words: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Launch {
        self.wrapper
            .extend(words.into_iter().map(|w| w.as_ref().to_owned()));
        self
    }

    /// Also writes the output to this file, line by line.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Launch {
        self.log_file = Some(path.into());
        self
    }

    /// The longest wait for it to listen (60 s unless set: a profiler may
    /// slow its start).
    pub fn start_within(mut self, within: Duration) -> Launch {
        self.start_within = within;
        self
    }

    /// Starts it and waits until it listens; one that exits or does not
    /// listen in time is an error (and killed).
    pub async fn spawn(&self) -> Result<CollectorProcess, LaunchError> {
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command
            .arg("serve")
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--admin-listen")
            .arg(self.admin.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(
                self.config
                    .iter()
                    .flat_map(|path| [OsStr::new("--config"), path.as_os_str()]),
            )
            .args(
                self.ingest_auth
                    .iter()
                    .flat_map(|mode| ["--ingest-auth", mode.as_str()]),
            )
            .args(&self.args)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| LaunchError::Spawn {
            binary: self.binary.clone(),
            source,
        };
        let file = match &self.log_file {
            Some(path) => Some(File::create(path).map_err(spawn_error)?),
            None => None,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let output = Arc::new(Mutex::new(Output {
            file,
            ..Output::default()
        }));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(read_lines(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(read_lines(stderr, output.clone()));
        }
        let mut process = CollectorProcess {
            child: Some(child),
            addr: self.listen,
            admin: self.admin,
            output,
            readers,
        };
        process.addr = self.listening(&mut process).await?;
        Ok(process)
    }

    /// Where `process` listens, once it does.
    async fn listening(&self, process: &mut CollectorProcess) -> Result<SocketAddr, LaunchError> {
        let outcome = wait::until(self.start_within, POLL, || {
            if let Some(addr) = process.lock().listening {
                return Some(Ok(addr));
            }
            if self.listen.port() != 0 && std::net::TcpStream::connect(self.listen).is_ok() {
                return Some(Ok(self.listen));
            }
            let Ok(Some(status)) = process.child.as_mut()?.try_wait() else {
                return None;
            };
            let log = process.finished_log();
            Some(Err(LaunchError::Exited { status, log }))
        })
        .await;
        outcome.unwrap_or_else(|| {
            process.kill();
            Err(LaunchError::NotListening {
                within: self.start_within,
                log: process.log(),
            })
        })
    }
}

/// What the process wrote.
#[derive(Default)]
struct Output {
    text: String,
    file: Option<File>,
    /// The address of its `listening on` line.
    listening: Option<SocketAddr>,
}

/// Reads `pipe` to its end on a thread of its own, line by line.
fn read_lines(
    pipe: impl std::io::Read + Send + 'static,
    output: Arc<Mutex<Output>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut output = output.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, addr)) = line.split_once("listening on ") {
                if output.listening.is_none() {
                    output.listening = addr.trim().parse().ok();
                }
            }
            if let Some(file) = output.file.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            output.text.push_str(&line);
            output.text.push('\n');
        }
    })
}

/// A started collector; killed when dropped if it still runs.
pub struct CollectorProcess {
    child: Option<Child>,
    /// The gRPC address it listens on.
    pub addr: SocketAddr,
    /// The admin server's address as launched (port 0: not known).
    pub admin: SocketAddr,
    output: Arc<Mutex<Output>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl CollectorProcess {
    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its process id (the wrapper's, which runs it, if there is one).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything it wrote so far.
    pub fn log(&self) -> String {
        self.lock().text.clone()
    }

    /// Everything it wrote, once its output has ended.
    fn finished_log(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.log()
    }

    /// Sends `signal` (`TERM`, `KILL`, …) with kill(1); panics if it fails.
    pub fn signal(&self, signal: &str) {
        assert!(self.send(signal), "kill -{signal} {} failed", self.pid());
    }

    fn send(&self, signal: &str) -> bool {
        // Never `kill 0`: that is the whole process group.
        if self.child.is_none() {
            return false;
        }
        Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits for the exit; returns its status and everything it logged.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("a process to wait for");
        let readers = std::mem::take(&mut self.readers);
        let status = tokio::task::spawn_blocking(move || {
            let status = child.wait();
            for reader in readers {
                let _ = reader.join();
            }
            status
        })
        .await
        .unwrap();
        (status.unwrap(), self.log())
    }

    /// SIGTERM, then at most `within` for the graceful stop.
    pub async fn stop(&mut self, within: Duration) -> Result<ExitStatus, LaunchError> {
        self.send("TERM");
        let exited =
            wait::until(within, POLL, || self.child.as_mut()?.try_wait().transpose()).await;
        match exited {
            Some(status) => Ok(status?),
            None => Err(LaunchError::NoExit { within }),
        }
    }

    /// SIGKILL, and waits for the exit and the end of its output (nothing
    /// if it has exited).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.finished_log();
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill();
        }
    }
}
