//! The Loki sink itself: `write` encodes the stored lines and hands them to
//! the batcher in shares, then waits until every share is confirmed or
//! dead-lettered.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::batcher::{self, Job, Limits};
use super::config::{LokiConfig, DEAD_LETTER_FILE_NAME};
use super::error::LokiError;
use super::healthcheck::LokiReady;
use super::line::{Encoder, LokiEntry};
use super::reject::DeadLetters;
use super::service::{Client, Delivery};
use super::stats::LokiStats;
use crate::sink::jsonl::JsonlFile;
use crate::sink::metrics::SinkMetrics;
use crate::sink::{Sink, SinkError};
use crate::telemetry::health::ReadyCheck;
use crate::trail::Lines;

/// Lines encoded between two yields to the runtime: encoding a whole read
/// of the WAL (up to 4 MiB) takes milliseconds, which would otherwise hold
/// up the streams waiting for their acks on the same worker.
const ENCODE_BETWEEN_YIELDS: usize = 256;

/// A [`Sink`] whose `write` waits for Loki (see the module docs).
pub struct LokiSink {
    encoder: Encoder,
    client: Arc<Client>,
    batch_max_bytes: usize,
    jobs: mpsc::Sender<Job>,
    push_url: String,
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
        let delivery = Delivery::new(
            config,
            client.clone(),
            DeadLetters::new(dead_letter, metrics.clone()),
            metrics,
            stats.clone(),
            shutdown,
        );
        let jobs = batcher::start(
            Arc::new(delivery),
            Limits {
                max_bytes: config.batch_max_bytes.get(),
                max_wait: config.batch_max_wait(),
                concurrency: config.max_concurrent_requests.get(),
            },
        );
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
        Arc::new(LokiReady::new(self.client.clone()))
    }

    fn unconfirmed(&self) -> SinkError {
        LokiError::Unconfirmed {
            url: self.push_url.clone(),
        }
        .into()
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
                .map_err(LokiError::Decode)?;
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
