//! Entries of concurrent writes → push requests: one request per
//! `batch_max_bytes`, across writes; a partial one goes as soon as the
//! write that filled it waits for it and no other write is queued, at the
//! latest after `batch_max_wait_ms`; at most `max_concurrent_requests`
//! deliveries ([`super::service`]) at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use super::line::LokiEntry;
use super::service::Delivery;
use crate::sink::SinkError;

/// Push requests waiting for the batcher; bounds memory when Loki is slow.
const JOB_QUEUE: usize = 64;

/// Entries of one `write` (or a `batch_max_bytes` share of it) and who waits
/// for them.
pub struct Job {
    pub entries: Vec<LokiEntry>,
    pub bytes: usize,
    /// The write's last share: its writer adds nothing more until answered.
    pub last: bool,
    pub done: oneshot::Sender<Result<(), SinkError>>,
}

/// When a batch goes, and how many go at once.
pub struct Limits {
    pub max_bytes: usize,
    pub max_wait: Duration,
    pub concurrency: usize,
}

/// Starts the batcher; it ends when the returned sender is dropped, after
/// sending what it holds.
pub fn start(delivery: Arc<Delivery>, limits: Limits) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel(JOB_QUEUE);
    tokio::spawn(batch(queue, delivery, limits));
    jobs
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
