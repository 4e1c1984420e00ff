//! The embedded default sink: `<data_dir>/audit.jsonl`, append-only, one
//! JSON object per line.
//!
//! Group commit: callers encode their lines and queue them to one writer
//! thread, which takes everything queued, appends it, fsyncs once and then
//! answers every caller; concurrent streams share one fsync. A blocking
//! thread, because fsync would otherwise stall a runtime worker. The same
//! [`JsonlFile`] also backs the Loki sink's dead-letter file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::metrics::SinkMetrics;
use super::{Sink, SinkError};
use crate::trail::Lines;

/// The `sink` label of this sink's metrics.
pub const SINK_NAME: &str = "jsonl";

/// Name of the audit trail inside the data directory.
pub const FILE_NAME: &str = "audit.jsonl";

/// Commits waiting for the writer; bounds memory when the disk is slow.
const QUEUE_DEPTH: usize = 64;

pub struct JsonlSink {
    file: JsonlFile,
    metrics: SinkMetrics,
}

impl JsonlSink {
    /// Opens (or creates) `<data_dir>/audit.jsonl`.
    pub fn open(data_dir: &Path, metrics: SinkMetrics) -> Result<Self, SinkError> {
        JsonlFile::open(&data_dir.join(FILE_NAME)).map(|file| JsonlSink { file, metrics })
    }
}

#[async_trait]
impl Sink for JsonlSink {
    async fn write(&self, lines: &Lines) -> Result<(), SinkError> {
        let started = Instant::now();
        self.file.append(lines.as_str().as_bytes().to_vec()).await?;
        self.metrics
            .push_latency
            .observe(started.elapsed().as_secs_f64());
        self.metrics.confirmed.add(lines.len() as u64);
        Ok(())
    }
}

/// An append-only file of newline-terminated lines, fsynced per group commit.
pub struct JsonlFile {
    path: PathBuf,
    queue: mpsc::Sender<Commit>,
}

/// The encoded lines of one `append` call and who waits for them.
struct Commit {
    lines: Vec<u8>,
    done: oneshot::Sender<Result<(), Arc<io::Error>>>,
}

impl JsonlFile {
    /// Opens (or creates) `path` and starts its writer thread. A torn last
    /// line left by a crash is cut off first: its batch was never
    /// acknowledged, so the sender will send it again.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let io_error = |error| SinkError::Io {
            path: path.to_owned(),
            error: Arc::new(error),
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error)?;
        // Makes a newly created file's directory entry durable too.
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error)?;
        let writer = Writer::new(file, path.to_owned()).map_err(io_error)?;
        let (queue, pending) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("jsonl-writer".into())
            .spawn(move || writer.run(pending))
            .map_err(io_error)?;
        Ok(JsonlFile {
            path: path.to_owned(),
            queue,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `lines` (complete lines, each ending in `\n`) and returns once
    /// they are fsynced.
    pub async fn append(&self, lines: Vec<u8>) -> Result<(), SinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        let stopped = || SinkError::Stopped(self.path.clone());
        let (done, result) = oneshot::channel();
        self.queue
            .send(Commit { lines, done })
            .await
            .map_err(|_| stopped())?;
        result
            .await
            .map_err(|_| stopped())?
            .map_err(|error| SinkError::Io {
                path: self.path.clone(),
                error,
            })
    }
}

/// Owns the file; runs on its own thread.
struct Writer {
    file: File,
    path: PathBuf,
    /// Length of the file up to the last fsynced commit.
    durable_len: u64,
    /// A failed commit may have left partial lines after `durable_len`.
    torn: bool,
}

impl Writer {
    fn new(mut file: File, path: PathBuf) -> io::Result<Self> {
        let len = file.metadata()?.len();
        let durable_len = complete_lines_len(&mut file, len)?;
        if durable_len < len {
            warn!(
                path = %path.display(),
                bytes = len - durable_len,
                "cutting off a torn last line left by a crash"
            );
            file.set_len(durable_len)?;
            file.sync_data()?;
        }
        Ok(Writer {
            file,
            path,
            durable_len,
            torn: false,
        })
    }

    fn run(mut self, mut pending: mpsc::Receiver<Commit>) {
        while let Some(first) = pending.blocking_recv() {
            let mut group = vec![first];
            while let Ok(next) = pending.try_recv() {
                group.push(next);
            }
            let result = self.commit(&group).map_err(|e| {
                error!(path = %self.path.display(), "appending lines failed: {e}");
                Arc::new(e)
            });
            for commit in group {
                // The waiter may be gone (its task ended); nothing to tell then.
                let _ = commit.done.send(result.clone());
            }
        }
    }

    /// Appends the group and fsyncs; on failure the partial append is cut
    /// off before the next commit, so no line is ever glued to a torn one.
    fn commit(&mut self, group: &[Commit]) -> io::Result<()> {
        if self.torn {
            self.file.set_len(self.durable_len)?;
            self.torn = false;
        }
        let mut appended = 0;
        let result = group
            .iter()
            .try_for_each(|commit| {
                self.file.write_all(&commit.lines)?;
                appended += commit.lines.len() as u64;
                Ok(())
            })
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => self.durable_len += appended,
            Err(_) => self.torn = true,
        }
        result
    }
}

/// Length of the longest prefix of the file that ends in a newline.
fn complete_lines_len(file: &mut File, len: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut buf = Vec::new();
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        buf.resize((end - start) as usize, 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trail::{Entry, GapDetail, GapNotice};

    fn metrics() -> SinkMetrics {
        crate::sink::metrics::SinkFamilies::default().sink(SINK_NAME)
    }

    fn gaps(seqs: &[u64]) -> Lines {
        let mut lines = Lines::default();
        for &seq in seqs {
            lines.push(&gap(seq));
        }
        lines
    }

    fn gap(seq: u64) -> String {
        let entry = Entry::Gap(GapNotice {
            ts: "2026-01-01T00:00:00.000000001Z".into(),
            proxy_id: "p".into(),
            sender: String::new(),
            audit_gap: GapDetail {
                instance_id: "i".into(),
                seq,
                dropped_records: 2,
                dropped_batches: 0,
                missing_seq_from: None,
                missing_seq_to: None,
            },
        });
        serde_json::to_string(&entry).unwrap()
    }

    #[tokio::test]
    async fn appends_one_line_per_entry_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        JsonlSink::open(dir.path(), metrics())
            .unwrap()
            .write(&gaps(&[1, 2]))
            .await
            .unwrap();
        let sink = JsonlSink::open(dir.path(), metrics()).unwrap();
        sink.write(&gaps(&[])).await.unwrap();
        sink.write(&gaps(&[3])).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"ts":"2026-01-01T00:00:00.000000001Z","proxy_id":"p","audit_gap":{"instance_id":"i","seq":1,"dropped_records":2,"dropped_batches":0}}"#
        );
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
    }

    #[tokio::test]
    async fn concurrent_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(JsonlSink::open(dir.path(), metrics()).unwrap());
        let tasks: Vec<_> = (1..=20)
            .map(|seq| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.write(&gaps(&[seq])).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let mut seqs: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["audit_gap"]["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn torn_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        drop(JsonlSink::open(dir.path(), metrics()).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");

        std::fs::write(&path, "no newline at all").unwrap();
        drop(JsonlSink::open(dir.path(), metrics()).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn finds_last_newline_beyond_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut content = "x\n".to_string();
        content.push_str(&"y".repeat(200_000));
        std::fs::write(&path, &content).unwrap();
        let mut file = File::open(&path).unwrap();
        assert_eq!(
            complete_lines_len(&mut file, content.len() as u64).unwrap(),
            2
        );
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = JsonlSink::open(&dir.path().join("missing"), metrics())
            .err()
            .unwrap();
        assert!(err.to_string().contains("missing/audit.jsonl"), "{err}");
    }
}
