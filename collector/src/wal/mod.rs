//! The write-ahead log: every accepted batch is appended to a segmented log
//! in `<data_dir>/wal/` and fsynced (group commit across streams, see
//! [`writer`]) before the sender is acked. Sinks read from the WAL, each at
//! its own pace and with its own persisted cursor ([`consumer`]); a segment
//! is deleted once every sink has confirmed all its records.
//!
//! Disk use is bounded by `max_bytes`: when the WAL is full, appends fail
//! with [`WalError::Full`] (the ingest answers UNAVAILABLE, the sender keeps
//! and resends the batch) until sinks confirm enough; nothing unconfirmed is
//! ever deleted. At start every segment is checked record by record
//! (CRC-32C, [`frame`]); a torn or corrupt tail is cut off after the last
//! good record and reported, and the sinks resume from their cursors.
//!
//! Delivery to sinks is at-least-once: a sink's cursor is written after
//! every confirmed write (fsynced at most once a second), so after a crash
//! of the process a sink gets again at most the write it was doing, and
//! after a crash of the machine at most the last second.

pub mod frame;
pub mod segment;

mod consumer;
mod shared;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use observatory_proto::json::unix_nanos;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use self::consumer::{Backlog, Consumer};
use self::segment::Recovered;
use self::shared::{Shared, WalMetrics};
use self::writer::{Commit, Job, Writer};
use crate::chain::{ChainSettings, Chains};
use crate::dedupe::SenderKey;
use crate::sink::metrics::SinkMetrics;
use crate::sink::Sink;
use crate::telemetry::health::ReadyCheck;
use crate::telemetry::Telemetry;
use crate::trail::Entry;

/// Folder of the WAL inside the data directory.
pub const DIR_NAME: &str = "wal";
/// Appends waiting for the writer thread; bounds memory when the disk is slow.
const QUEUE_DEPTH: usize = 256;

/// Size limits and durability of the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalConfig {
    /// Appends fail (backpressure) while the segments take this much.
    pub max_bytes: u64,
    /// A segment is closed once it reaches this size.
    pub segment_bytes: u64,
    /// fsync every group commit; off only for benchmarks and tests.
    pub fsync: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            fsync: true,
        }
    }
}

#[derive(Debug, Clone, Error)]
pub enum WalError {
    #[error("cannot open the WAL in {path}: {error}")]
    Open {
        path: PathBuf,
        error: Arc<std::io::Error>,
    },
    #[error("WAL full ({used} of {max} bytes): waiting for sinks to confirm")]
    Full { used: u64, max: u64 },
    #[error("WAL append failed: {0}")]
    Io(Arc<std::io::Error>),
    #[error("cannot encode entry: {0}")]
    Encode(Arc<serde_json::Error>),
    #[error("WAL writer has stopped")]
    Stopped,
}

/// The WAL; see the module docs.
pub struct Wal {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
    config: WalConfig,
    recovered_senders: HashMap<SenderKey, u64>,
    next_index: u64,
}

/// Consumers of a running WAL and how to stop them.
pub struct Consumers {
    tasks: TaskTracker,
    drain: CancellationToken,
    stop: CancellationToken,
}

impl Wal {
    /// Opens (or creates) `<data_dir>/wal`, repairs damaged tails and starts
    /// the writer thread.
    pub fn open(
        data_dir: &Path,
        config: WalConfig,
        chain: ChainSettings,
        telemetry: &Telemetry,
    ) -> Result<Wal, WalError> {
        let dir = data_dir.join(DIR_NAME);
        let open_error = |error| WalError::Open {
            path: dir.clone(),
            error: Arc::new(error),
        };
        std::fs::create_dir_all(&dir).map_err(open_error)?;
        let metrics = WalMetrics::new(telemetry);
        let Recovered {
            mut segments,
            chains,
            unsealed,
            next_index,
            senders,
            repairs,
        } = segment::recover(&dir).map_err(open_error)?;
        for repair in &repairs {
            metrics.repaired_bytes.inc_by(repair.cut_bytes);
        }
        let (file, durable_len) = match segments.last() {
            Some(active) => {
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&active.path)
                    .map_err(open_error)?;
                (file, active.bytes)
            }
            None => {
                let (file, segment) = segment::create(&dir, next_index).map_err(open_error)?;
                segments.push(segment);
                (file, 0)
            }
        };
        let used: u64 = segments.iter().map(|s| s.bytes).sum();
        metrics.bytes.set(used as i64);
        metrics.segments.set(segments.len() as i64);
        segment::report(&segments, &repairs);
        let (durable, _) = watch::channel(next_index - 1);
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            segments: Mutex::new(segments),
            used_bytes: AtomicU64::new(used),
            durable,
            healthy: AtomicBool::new(true),
            cursors: Mutex::new(HashMap::new()),
            confirmed: Mutex::new(HashMap::new()),
            metrics,
        });
        let tick = chain.tick();
        let mut chains = Chains::new(chains, chain);
        // Lines stored before the restart that no checkpoint covers yet.
        chains.unsealed_since(unsealed, unix_nanos(SystemTime::now()));
        let writer = Writer {
            dir: dir.clone(),
            file,
            durable_len,
            next_index,
            // The active segment is never deleted: kept well below the
            // limit, a fully confirmed WAL always has room again.
            segment_bytes: config.segment_bytes.min((config.max_bytes / 4).max(1)),
            fsync: config.fsync,
            shared: shared.clone(),
            torn: false,
            chains,
        };
        let (queue, pending) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer.run(pending))
            .map_err(open_error)?;
        if let Some(tick) = tick {
            let weak = queue.downgrade();
            std::thread::Builder::new()
                .name("wal-checkpoints".into())
                .spawn(move || tick_until_closed(&weak, tick))
                .map_err(open_error)?;
        }
        Ok(Wal {
            shared,
            queue,
            config,
            recovered_senders: senders,
            next_index,
        })
    }

    /// The highest seq of every sender with a batch still in the WAL, to
    /// seed the dedupe table after a restart: resends of batches stored
    /// before the crash are then recognised instead of stored twice.
    pub fn recovered_senders(&self) -> &HashMap<SenderKey, u64> {
        &self.recovered_senders
    }

    /// Appends one batch's entries and returns once they are durable (the
    /// batch may be acked then).
    pub async fn append(
        &self,
        sender: &SenderKey,
        seq: u64,
        entries: &[Entry],
    ) -> Result<u64, WalError> {
        let used = self.shared.used_bytes.load(Ordering::Relaxed);
        if used >= self.config.max_bytes {
            self.shared.metrics.full_rejections.inc();
            return Err(WalError::Full {
                used,
                max: self.config.max_bytes,
            });
        }
        let mut lines = Vec::new();
        let mut chain_keys = Vec::with_capacity(entries.len());
        for entry in entries {
            serde_json::to_writer(&mut lines, entry).map_err(|e| WalError::Encode(Arc::new(e)))?;
            lines.push(b'\n');
            chain_keys.push(entry.chain_key().map(str::to_owned));
        }
        let (done, answer) = oneshot::channel();
        let commit = Commit {
            accepted_nanos: unix_nanos(SystemTime::now()),
            sender: sender.clone(),
            seq,
            lines,
            chain_keys,
            done,
        };
        self.queue
            .send(Job::Append(commit))
            .await
            .map_err(|_| WalError::Stopped)?;
        answer
            .await
            .map_err(|_| WalError::Stopped)?
            .map_err(WalError::Io)
    }

    /// Starts one consumer per sink, each from its persisted cursor.
    pub fn start(
        &self,
        sinks: Vec<(String, Arc<dyn Sink>, SinkMetrics)>,
    ) -> Result<Consumers, WalError> {
        let consumers = Consumers {
            tasks: TaskTracker::new(),
            drain: CancellationToken::new(),
            stop: CancellationToken::new(),
        };
        let mut backlogs = Vec::with_capacity(sinks.len());
        for (name, sink, metrics) in sinks {
            let stored =
                segment::read_cursor(&self.shared.dir, &name).map_err(|error| WalError::Open {
                    path: self.shared.dir.clone(),
                    error: Arc::new(error),
                })?;
            // A cursor past the end (records cut off by a repair) would skip
            // the records that now take those indexes.
            let cursor = stored.min(self.next_index - 1);
            if cursor < stored {
                warn!(sink = %name, stored, cursor, "WAL cursor beyond the repaired end: moved back");
            }
            self.shared
                .cursors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.clone(), cursor);
            self.shared.set_confirmed(&name, cursor);
            consumer::report_start(&name, cursor, self.next_index);
            let backlog = Arc::new(Backlog::new(metrics.backlog_age));
            backlogs.push(backlog.clone());
            let consumer = Consumer {
                name,
                sink,
                backlog,
                shared: self.shared.clone(),
                cursor,
            };
            consumers
                .tasks
                .spawn(consumer.run(consumers.drain.clone(), consumers.stop.clone()));
        }
        consumers.tasks.close();
        // Not tracked: it would hold up the drain; it ends with the consumers.
        tokio::spawn(consumer::follow_backlogs(backlogs, consumers.stop.clone()));
        Ok(consumers)
    }

    /// Records in the WAL that some sink has not confirmed yet.
    pub fn unconfirmed(&self) -> u64 {
        self.unconfirmed_where(|_| true)
    }

    /// Records in the WAL that `sink` has not confirmed yet.
    pub fn unconfirmed_by(&self, sink: &str) -> u64 {
        self.unconfirmed_where(|name| name == sink)
    }

    fn unconfirmed_where(&self, sink: impl Fn(&str) -> bool) -> u64 {
        let durable = *self.shared.durable.borrow();
        let confirmed = self
            .shared
            .confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slowest = confirmed
            .iter()
            .filter(|(name, _)| sink(name))
            .map(|(_, index)| *index)
            .min()
            .unwrap_or(durable);
        durable.saturating_sub(slowest)
    }

    /// Readiness: the last append succeeded and there is room.
    pub fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(WalReady {
            shared: self.shared.clone(),
            max_bytes: self.config.max_bytes,
        })
    }
}

impl Consumers {
    /// Lets the sinks catch up with the WAL for at most `deadline`, then
    /// stops them; `stop_sinks` is cancelled then too (it ends the Loki
    /// sink's retries). What is not confirmed stays in the WAL.
    pub async fn drain(self, deadline: Duration, stop_sinks: &CancellationToken) {
        self.drain.cancel();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            warn!(
                ?deadline,
                "sinks did not catch up before the shutdown deadline; the rest stays in the WAL"
            );
        }
        self.stop.cancel();
        stop_sinks.cancel();
        self.tasks.wait().await;
    }
}

/// Asks the writer every `tick` to write the checkpoints that are due,
/// until the WAL is dropped. A full queue skips a tick: the writer is busy
/// and looks for due checkpoints at every commit anyway.
fn tick_until_closed(queue: &mpsc::WeakSender<Job>, tick: Duration) {
    loop {
        std::thread::sleep(tick);
        let Some(queue) = queue.upgrade() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = queue.try_send(Job::Tick) {
            return;
        }
    }
}

struct WalReady {
    shared: Arc<Shared>,
    max_bytes: u64,
}

#[async_trait]
impl ReadyCheck for WalReady {
    fn name(&self) -> &str {
        "wal"
    }

    async fn check(&self) -> Result<(), String> {
        if !self.shared.healthy.load(Ordering::Relaxed) {
            return Err("the last append failed".into());
        }
        let used = self.shared.used_bytes.load(Ordering::Relaxed);
        if used >= self.max_bytes {
            return Err(format!("full ({used} of {} bytes)", self.max_bytes));
        }
        Ok(())
    }
}
