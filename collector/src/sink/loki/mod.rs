//! The Loki sink: pushes every entry to Grafana Loki's push API
//! (`/loki/api/v1/push`). `write` returns once Loki has confirmed the
//! entries, or refused them for good and they are fsynced in the
//! dead-letter file; until then the WAL keeps them for this sink.
//!
//! `write` → [`encode`] (labels, metadata, split lines) → batcher (one push
//! request per `batch_max_bytes`, across concurrent writes; a partial one
//! goes as soon as the write that filled it waits for it and no other
//! write is queued, at the latest after `batch_max_wait_ms`) → up to
//! `max_concurrent_requests` deliveries, each retried until Loki answers
//! for good → every write whose entries were in the request is answered.
//!
//! Answers, as measured against a real Loki 3.7:
//! 2xx confirms; 429, 5xx, other statuses and network errors are retried
//! forever with jittered exponential backoff (at least `Retry-After`);
//! 400 is partial — Loki stored the rest — so only the entries it names go
//! to the dead-letter file ([`reject`]); 413 and 422 dead-letter the whole
//! request. Nothing is resent after a 400/413/422.

pub mod config;

mod client;
mod encode;
mod reject;
mod stats;

pub use self::stats::LokiStats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use observatory_engine::record::{format_ts, unix_nanos};
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{debug_span, info, warn, Instrument as _};

use self::client::{Answer, Client};
use self::config::{Encoding, LokiConfig, DEAD_LETTER_FILE_NAME};
use self::encode::{Encoder, LokiEntry};
use super::jsonl::JsonlFile;
use super::metrics::SinkMetrics;
use super::{Sink, SinkError};
use crate::telemetry::health::ReadyCheck;
use crate::telemetry::DATA_PATH;
use crate::trail::Lines;

/// The `sink` label of this sink's metrics.
pub const SINK_NAME: &str = "loki";

/// Push requests waiting for the batcher; bounds memory when Loki is slow.
const JOB_QUEUE: usize = 64;
/// Longest part of Loki's message repeated in a log line.
const MAX_LOGGED_MESSAGE: usize = 512;
/// Lines encoded between two yields to the runtime: encoding a whole read
/// of the WAL (up to 4 MiB) takes milliseconds, which would otherwise hold
/// up the streams waiting for their acks on the same worker.
const ENCODE_BETWEEN_YIELDS: usize = 256;

/// Why the sink could not be set up.
#[derive(Debug, Error)]
pub enum LokiError {
    #[error("loki.{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot build the Loki HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("cannot open the Loki dead-letter file: {0}")]
    DeadLetter(SinkError),
}

/// A [`Sink`] whose `write` waits for Loki (see the module docs).
pub struct LokiSink {
    encoder: Encoder,
    client: Arc<Client>,
    batch_max_bytes: usize,
    jobs: mpsc::Sender<Job>,
    push_url: String,
}

/// Entries of one `write` (or a `batch_max_bytes` share of it) and who waits
/// for them.
struct Job {
    entries: Vec<LokiEntry>,
    bytes: usize,
    /// The write's last share: its writer adds nothing more until answered.
    last: bool,
    done: oneshot::Sender<Result<(), SinkError>>,
}

impl LokiSink {
    /// Checks `config`, reads its secret and CA files, opens the dead-letter
    /// file (default `<data_dir>/loki-dead-letter.jsonl`) and starts the
    /// batcher. Once `shutdown` is cancelled, failed pushes are no longer
    /// retried: their writes fail and the entries stay in the WAL.
    pub fn open(
        config: &LokiConfig,
        data_dir: &Path,
        stats: Arc<LokiStats>,
        metrics: SinkMetrics,
        shutdown: CancellationToken,
    ) -> Result<Self, LokiError> {
        let client = Arc::new(Client::new(config, config.validate()?)?);
        let dead_letter_path = config
            .dead_letter_file
            .clone()
            .unwrap_or_else(|| data_dir.join(DEAD_LETTER_FILE_NAME));
        let dead_letter = JsonlFile::open(&dead_letter_path).map_err(LokiError::DeadLetter)?;
        let push_url = client.push_url().to_string();
        info!(url = %push_url, dead_letter = %dead_letter_path.display(), "Loki sink enabled");
        let delivery = Delivery {
            client: client.clone(),
            dead_letter,
            body: match config.encoding {
                Encoding::Protobuf => Body::Protobuf,
                Encoding::Json => Body::Json { gzip: config.gzip },
            },
            backoff: Backoff {
                min: config.min_backoff(),
                max: config.max_backoff(),
            },
            metrics,
            stats: stats.clone(),
            shutdown,
        };
        let (jobs, queue) = mpsc::channel(JOB_QUEUE);
        tokio::spawn(batch(
            queue,
            Arc::new(delivery),
            Limits {
                max_bytes: config.batch_max_bytes.get(),
                max_wait: config.batch_max_wait(),
                concurrency: config.max_concurrent_requests.get(),
            },
        ));
        Ok(LokiSink {
            encoder: Encoder::new(config, stats),
            client,
            batch_max_bytes: config.batch_max_bytes.get(),
            jobs,
            push_url,
        })
    }

    /// Queues `entries` for the batcher; the receiver answers once they are
    /// confirmed or dead-lettered.
    async fn submit(
        &self,
        entries: Vec<LokiEntry>,
        bytes: usize,
        last: bool,
    ) -> Result<oneshot::Receiver<Result<(), SinkError>>, SinkError> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                entries,
                bytes,
                last,
                done,
            })
            .await
            .map_err(|_| self.unconfirmed())?;
        Ok(answer)
    }

    /// Readiness: Loki answers its `/ready`.
    pub fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(LokiReady(self.client.clone()))
    }

    fn unconfirmed(&self) -> SinkError {
        SinkError::Unconfirmed {
            url: self.push_url.clone(),
        }
    }
}

struct LokiReady(Arc<Client>);

#[async_trait]
impl ReadyCheck for LokiReady {
    fn name(&self) -> &str {
        SINK_NAME
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ready().await
    }
}

#[async_trait]
impl Sink for LokiSink {
    async fn write(&self, lines: &Lines) -> Result<(), SinkError> {
        let mut encoded = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if i % ENCODE_BETWEEN_YIELDS == ENCODE_BETWEEN_YIELDS - 1 {
                tokio::task::yield_now().await;
            }
            self.encoder
                .encode_line(line, &mut encoded)
                .map_err(|e| SinkError::Decode(Arc::new(e)))?;
        }
        // Shares of at most batch_max_bytes (one larger entry goes alone), all
        // queued before waiting, so they travel in as few requests as possible.
        let mut answers = Vec::new();
        let mut share = Vec::new();
        let mut bytes = 0;
        for entry in encoded {
            let size = entry.size();
            if !share.is_empty() && bytes + size > self.batch_max_bytes {
                answers.push(
                    self.submit(std::mem::take(&mut share), bytes, false)
                        .await?,
                );
                bytes = 0;
            }
            bytes += size;
            share.push(entry);
        }
        if !share.is_empty() {
            answers.push(self.submit(share, bytes, true).await?);
        }
        for answer in answers {
            answer.await.map_err(|_| self.unconfirmed())??;
        }
        Ok(())
    }
}

struct Limits {
    max_bytes: usize,
    max_wait: Duration,
    concurrency: usize,
}

/// Entries bound for one push request.
struct Batch {
    entries: Vec<LokiEntry>,
    bytes: usize,
    waiters: Vec<oneshot::Sender<Result<(), SinkError>>>,
    deadline: Instant,
}

/// Collects jobs into batches and starts a delivery per batch; ends when the
/// sink is dropped, after sending what it holds.
async fn batch(mut jobs: mpsc::Receiver<Job>, delivery: Arc<Delivery>, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.concurrency));
    let mut open: Option<Batch> = None;
    loop {
        let received = match open.as_ref().map(|b| b.deadline) {
            None => Some(jobs.recv().await),
            // None: the open batch is due.
            Some(deadline) => tokio::time::timeout_at(deadline, jobs.recv()).await.ok(),
        };
        let job = match received {
            Some(Some(job)) => job,
            Some(None) => break,
            None => {
                if let Some(due) = open.take() {
                    send(due, &delivery, &permits).await;
                }
                continue;
            }
        };
        if let Some(full) = open.take_if(|b| b.bytes + job.bytes > limits.max_bytes) {
            send(full, &delivery, &permits).await;
        }
        let batch = open.get_or_insert_with(|| Batch {
            entries: Vec::new(),
            bytes: 0,
            waiters: Vec::new(),
            deadline: Instant::now() + limits.max_wait,
        });
        batch.entries.extend(job.entries);
        batch.bytes += job.bytes;
        batch.waiters.push(job.done);
        // Waiting longer would only hold up the writer: nothing else is
        // coming to share the request.
        let alone = job.last && jobs.is_empty();
        if let Some(ready) = open.take_if(|b| alone || b.bytes >= limits.max_bytes) {
            send(ready, &delivery, &permits).await;
        }
    }
    if let Some(last) = open {
        send(last, &delivery, &permits).await;
    }
}

/// Starts delivering `batch` once fewer than `max_concurrent_requests` are
/// under way. Waiting here stops the batcher, so writers queue up behind a
/// slow Loki instead of piling up requests.
async fn send(batch: Batch, delivery: &Arc<Delivery>, permits: &Arc<Semaphore>) {
    // The semaphore is never closed; should it be, the waiters are dropped
    // and their writes fail as unconfirmed.
    let Ok(permit) = permits.clone().acquire_owned().await else {
        return;
    };
    let delivery = delivery.clone();
    tokio::spawn(async move {
        let result = delivery.deliver(&batch.entries).await;
        drop(permit);
        for waiter in batch.waiters {
            // The writer may be gone; nobody to tell then.
            let _ = waiter.send(result.clone());
        }
    });
}

/// Pushes one request until Loki has answered for good.
struct Delivery {
    client: Arc<Client>,
    dead_letter: JsonlFile,
    body: Body,
    backoff: Backoff,
    metrics: SinkMetrics,
    stats: Arc<LokiStats>,
    shutdown: CancellationToken,
}

enum Body {
    Protobuf,
    Json { gzip: bool },
}

impl Delivery {
    async fn deliver(&self, entries: &[LokiEntry]) -> Result<(), SinkError> {
        let body = match self.body {
            Body::Protobuf => encode::protobuf_body(entries),
            Body::Json { gzip } => encode::json_body(entries, gzip),
        }
        .map_err(|e| SinkError::Compress(Arc::new(e)))?;
        let body = Bytes::from(body);
        let mut attempt = 0u32;
        loop {
            let span = debug_span!(
                target: DATA_PATH,
                "loki_push",
                attempt = i64::from(attempt),
                entries = entries.len() as i64,
                outcome = Empty,
                otel.status_code = Empty,
            );
            let started = Instant::now();
            let answer = self
                .client
                .push(body.clone())
                .instrument(span.clone())
                .await;
            self.metrics
                .push_latency
                .observe(started.elapsed().as_secs_f64());
            match &answer {
                Answer::Stored => span.record("outcome", "stored"),
                Answer::Rejected { .. } => span
                    .record("outcome", "rejected")
                    .record("otel.status_code", "ERROR"),
                Answer::Retry { .. } => span
                    .record("outcome", "retry")
                    .record("otel.status_code", "ERROR"),
            };
            let (reason, retry_after) = match answer {
                Answer::Stored => {
                    self.metrics.confirmed.add(entries.len() as u64);
                    return Ok(());
                }
                Answer::Rejected { status, message } => {
                    return self.dead_letter(entries, status, &message).await;
                }
                Answer::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            let url = self.client.push_url();
            if self.shutdown.is_cancelled() {
                warn!(%url, entries = entries.len(), "Loki push failed at shutdown, giving up: {}", shorten(&reason));
                return Err(SinkError::Unconfirmed {
                    url: url.to_string(),
                });
            }
            self.stats.push_retries.add(1);
            self.metrics.retried.add(entries.len() as u64);
            let delay = self
                .backoff
                .delay(attempt)
                .max(retry_after.unwrap_or_default());
            warn!(%url, attempt, entries = entries.len(), retry_in = ?delay, "Loki push failed: {}", shorten(&reason));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.cancelled() => {
                    return Err(SinkError::Unconfirmed { url: url.to_string() });
                }
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// Writes what Loki refused to the dead-letter file: the entries a 400
    /// names, or the whole request when they cannot be told apart (413, 422,
    /// or a message [`reject`] does not understand).
    async fn dead_letter(
        &self,
        entries: &[LokiEntry],
        status: u16,
        message: &str,
    ) -> Result<(), SinkError> {
        let named = match status {
            400 => reject::rejected(message, entries),
            _ => None,
        };
        let refused: Vec<(&LokiEntry, &str)> = match &named {
            Some(named) => named
                .iter()
                .filter_map(|(i, reason)| Some((entries.get(*i)?, *reason)))
                .collect(),
            None => entries.iter().map(|e| (e, message)).collect(),
        };
        let at = format_ts(unix_nanos(SystemTime::now()));
        let mut lines = Vec::new();
        for (entry, reason) in &refused {
            let line = DeadLetterLine {
                dead_lettered_at: &at,
                status,
                reason,
                labels: entry.labels.rendered(),
                ts: format_ts(entry.ts_nanos),
                metadata: entry
                    .metadata
                    .iter()
                    .map(|(n, v)| (*n, v.as_str()))
                    .collect(),
                line: &entry.line,
            };
            serde_json::to_writer(&mut lines, &line).map_err(|e| SinkError::Encode(Arc::new(e)))?;
            lines.push(b'\n');
        }
        self.dead_letter.append(lines).await?;
        let refused = refused.len();
        self.metrics.dead_lettered.add(refused as u64);
        if named.is_some() {
            self.metrics.confirmed.add((entries.len() - refused) as u64);
        }
        warn!(
            url = %self.client.push_url(),
            status,
            dead_lettered = refused,
            of = entries.len(),
            file = %self.dead_letter.path().display(),
            "Loki refused entries: {}",
            shorten(message)
        );
        Ok(())
    }
}

/// One line of the dead-letter file: the Loki entry as it was pushed (so it
/// can be pushed again) and why Loki refused it.
#[derive(Serialize)]
struct DeadLetterLine<'a> {
    dead_lettered_at: &'a str,
    status: u16,
    reason: &'a str,
    labels: &'a str,
    ts: String,
    metadata: BTreeMap<&'a str, &'a str>,
    line: &'a str,
}

/// Exponential from `min` to `max`, each delay drawn from its upper half so
/// that requests failing together do not retry together.
struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        let full = self.min.saturating_mul(factor).min(self.max);
        full / 2 + (full / 2).mul_f64(fastrand::f64())
    }
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(MAX_LOGGED_MESSAGE) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max_with_jitter() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = b.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = b.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = b.delay(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}
