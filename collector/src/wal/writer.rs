//! The one thread that appends to the WAL. Group commit: it takes every
//! queued append, assigns indexes, writes them in one go and fsyncs once,
//! then answers all of them; concurrent streams share one fsync. A thread of
//! its own, because fsync would otherwise stall a runtime worker.
//!
//! Checkpoints that are due by time ([`Chains::seal_due`]) go in a record
//! of their own after the group, from the collector itself (empty sender,
//! seq 0); a [`Job::Tick`] looks for them when no append comes.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::frame;
use super::segment;
use super::shared::Shared;
use crate::chain::Chains;
use crate::dedupe::SenderKey;
use observatory_proto::json::{format_ts, unix_nanos};

/// What the writer thread is given.
pub enum Job {
    Append(Commit),
    /// Time passed: write the checkpoints that are due.
    Tick,
}

/// One append and who waits for it: the index it got, once durable.
pub struct Commit {
    pub accepted_nanos: i64,
    pub sender: SenderKey,
    pub seq: u64,
    /// The batch's entries as JSON lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// Per line, the proxy whose chain it joins (`None`: not chained).
    pub chain_keys: Vec<Option<String>>,
    pub done: oneshot::Sender<Result<u64, Arc<io::Error>>>,
}

pub struct Writer {
    pub dir: PathBuf,
    pub file: File,
    /// Length of the active segment up to the last durable commit.
    pub durable_len: u64,
    pub next_index: u64,
    pub segment_bytes: u64,
    pub fsync: bool,
    pub shared: Arc<Shared>,
    /// A failed commit may have left bytes after `durable_len`.
    pub torn: bool,
    pub chains: Chains,
}

impl Writer {
    pub fn run(mut self, mut pending: mpsc::Receiver<Job>) {
        let mut buf = Vec::new();
        while let Some(first) = pending.blocking_recv() {
            let mut group = Vec::new();
            let mut job = Some(first);
            while let Some(next) = job {
                if let Job::Append(commit) = next {
                    group.push(commit);
                }
                job = pending.try_recv().ok();
            }
            buf.clear();
            let result = self.commit(&group, &mut buf);
            self.shared.healthy.store(result.is_ok(), Ordering::Relaxed);
            let result = result.map_err(|e| {
                error!(dir = %self.dir.display(), "WAL append failed: {e}");
                Arc::new(e)
            });
            for (i, commit) in group.into_iter().enumerate() {
                let answer = result
                    .as_ref()
                    .map(|first| first + i as u64)
                    .map_err(Arc::clone);
                // The waiter may be gone (its task ended); nothing to tell then.
                let _ = commit.done.send(answer);
            }
        }
    }

    /// Appends the group as records `next_index..`, and the checkpoints due
    /// by now as one more, and makes them durable; returns the first index.
    /// On failure nothing of the group counts: the partial write is cut off
    /// before the next commit.
    fn commit(&mut self, group: &[Commit], buf: &mut Vec<u8>) -> io::Result<u64> {
        let now = unix_nanos(SystemTime::now());
        if group.is_empty() && !self.chains.any_due(now) {
            return Ok(self.next_index);
        }
        if self.torn {
            self.file.set_len(self.durable_len)?;
            self.torn = false;
        }
        if self.durable_len >= self.segment_bytes {
            self.rotate()?;
        }
        let first = self.next_index;
        for (i, commit) in group.iter().enumerate() {
            let ts = format_ts(commit.accepted_nanos);
            let index = first + i as u64;
            let chains = &mut self.chains;
            frame::write_with(
                buf,
                index,
                commit.accepted_nanos,
                &commit.sender,
                commit.seq,
                |out| {
                    let mut start = 0;
                    let lines = memchr::memchr_iter(b'\n', &commit.lines).map(|end| {
                        let line = &commit.lines[start..end];
                        start = end + 1;
                        line
                    });
                    for (line, key) in lines.filter(|l| !l.is_empty()).zip(&commit.chain_keys) {
                        match key {
                            Some(proxy) => {
                                chains.stamp(proxy, line, commit.accepted_nanos, &ts, out)
                            }
                            None => {
                                out.extend_from_slice(line);
                                out.push(b'\n');
                            }
                        }
                    }
                },
            );
        }
        let mut records = group.len() as u64;
        let (ts, start) = (format_ts(now), buf.len());
        let mut sealed = false;
        let collector = SenderKey {
            proxy_id: String::new(),
            instance_id: String::new(),
        };
        frame::write_with(buf, first + records, now, &collector, 0, |out| {
            sealed = self.chains.seal_due(now, &ts, out);
        });
        match sealed {
            true => records += 1,
            false => buf.truncate(start),
        }
        if records == 0 {
            return Ok(first);
        }
        let started = Instant::now();
        let written = self.file.write_all(buf).and_then(|()| match self.fsync {
            true => self.file.sync_data(),
            false => Ok(()),
        });
        if let Err(e) = written {
            self.torn = true;
            self.chains.rollback();
            return Err(e);
        }
        self.chains.commit();
        self.shared
            .metrics
            .fsync_latency
            .observe(started.elapsed().as_secs_f64());
        let added = buf.len() as u64;
        self.durable_len += added;
        self.next_index += records;
        {
            let mut segments = self.shared.lock_segments();
            if let Some(active) = segments.last_mut() {
                active.next = self.next_index;
                active.bytes = self.durable_len;
            }
        }
        self.shared.add_bytes(added as i64);
        self.shared.metrics.appended_bytes.inc_by(added);
        self.shared.metrics.records_appended.inc_by(records);
        self.shared.durable.send_replace(self.next_index - 1);
        Ok(first)
    }

    /// Starts a new segment at `next_index`; the full one stays until every
    /// sink has confirmed it.
    fn rotate(&mut self) -> io::Result<()> {
        // Where the chains stand at the new segment's start: at the next
        // start the chains continue from it and the records after it.
        segment::write_chains(
            &self.dir,
            self.next_index,
            self.chains.links(),
            self.chains.unsealed(),
        )?;
        let (file, segment) = segment::create(&self.dir, self.next_index)?;
        info!(path = %segment.path.display(), "new WAL segment");
        self.file = file;
        self.durable_len = 0;
        self.shared.push_segment(segment);
        Ok(())
    }
}
