//! The gRPC `AuditService`. A stream is bound to its authenticated sender
//! when it opens ([`crate::auth`]); one without is refused
//! (UNAUTHENTICATED). Each stream runs in its own task; per batch:
//! authorise its proxy id (PERMISSION_DENIED ends the stream) → validate →
//! dedupe → re-redact → score ([`crate::score::live`]) → append to the WAL
//! (fsynced) → events emitted (alerts) → ack; the sinks read from the
//! WAL. A batch that
//! cannot be decoded or whose envelope is wrong ends only its own stream,
//! with a status that says what was wrong. A record that is wrong costs
//! only itself: it is stored as an `invalid` entry and named in the ack
//! (`Ack.quarantined`), and the rest of its batch is stored as usual.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::SystemTime;

use observatory_proto::audit::audit_service_server::AuditService;
use observatory_proto::audit::{Ack, AuditBatch, Quarantined};
use observatory_proto::json::{format_ts, unix_nanos, CanonicalRecord};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::field::Empty;
use tracing::{debug, debug_span, error, warn, Instrument as _};

use crate::auth::{Authenticator, Sender};
use crate::config::ServeConfig;
use crate::dedupe::{classify, Order, SenderKey, SenderTable};
use crate::redact::RecordRedactor;
use crate::score::live::LiveScorer;
use crate::telemetry::{Counter, Telemetry, DATA_PATH};
use crate::trail::{Entry, GapDetail, GapNotice, InvalidDetail, InvalidNotice};
use crate::validate::{check_record, validate};
use crate::wal::{Wal, WalError};

/// Acks a stream may have in flight towards a slow reader.
const ACK_QUEUE: usize = 16;
/// How tonic's status for a message prost cannot decode begins.
const UNDECODABLE: &str = "failed to decode Protobuf message";

pub struct Ingest {
    pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// What the ingest did; exported on `/metrics` by [`IngestStats::register`].
#[derive(Debug, Default)]
pub struct IngestStats {
    pub batches_received: Counter,
    pub batches_written: Counter,
    pub records_written: Counter,
    /// Records stored as `invalid` entries (named in their batch's ack).
    pub records_quarantined: Counter,
    /// Resends of batches already stored (acked, not written again).
    pub batches_duplicate: Counter,
    /// Batches that could not be decoded or failed validation (their
    /// stream ended).
    pub batches_rejected: Counter,
    /// Batches whose seq skipped numbers.
    pub seq_jumps: Counter,
    pub gaps_written: Counter,
    /// Senders forgotten by the bounded dedupe table.
    pub senders_evicted: Counter,
    /// Streams refused because their sender could not be authenticated.
    pub streams_unauthenticated: Counter,
    /// Batches naming a proxy id their sender may not write (their stream
    /// ended).
    pub batches_forbidden: Counter,
    /// TLS handshakes that failed or timed out (mode `mtls`).
    pub tls_handshakes_failed: Counter,
}

impl IngestStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.batches_received,
                "batches_received",
                "Batches received",
            ),
            (
                &self.batches_written,
                "batches_written",
                "Batches stored and acknowledged",
            ),
            (
                &self.records_written,
                "records_written",
                "Records stored and acknowledged",
            ),
            (
                &self.records_quarantined,
                "records_quarantined",
                "Records that could not be accepted, stored as invalid entries and named in the ack",
            ),
            (
                &self.batches_duplicate,
                "batches_duplicate",
                "Resent batches that were stored already (acked, not stored again)",
            ),
            (
                &self.batches_rejected,
                "batches_rejected",
                "Batches refused as undecodable, invalid or over size (their stream ended)",
            ),
            (
                &self.seq_jumps,
                "seq_jumps",
                "Batches whose sequence number skipped batches",
            ),
            (
                &self.gaps_written,
                "gaps_written",
                "Gap notices written for records lost before the collector",
            ),
            (
                &self.senders_evicted,
                "senders_evicted",
                "Senders forgotten by the bounded dedupe table",
            ),
            (
                &self.streams_unauthenticated,
                "streams_unauthenticated",
                "Streams refused because their sender could not be authenticated",
            ),
            (
                &self.batches_forbidden,
                "batches_forbidden",
                "Batches naming a proxy id their authenticated sender may not write",
            ),
            (
                &self.tls_handshakes_failed,
                "tls_handshakes_failed",
                "TLS handshakes on the audit port that failed or timed out",
            ),
        ]);
    }
}

/// What every stream task shares.
struct Pipeline {
    auth: Authenticator,
    max_records: usize,
    senders: SenderTable,
    wal: Arc<Wal>,
    /// `None` when re-redaction is turned off.
    redactor: Option<RecordRedactor>,
    stats: Arc<IngestStats>,
    scorer: Option<Arc<LiveScorer>>,
}

impl Ingest {
    /// Streams end (after their current batch) once `shutdown` is cancelled,
    /// so that a graceful server stop is not held up by open streams. Their
    /// tasks run on `tasks`, which the server waits for before exiting.
    pub fn new(
        config: &ServeConfig,
        wal: Arc<Wal>,
        redactor: Option<RecordRedactor>,
        stats: Arc<IngestStats>,
        scorer: Option<Arc<LiveScorer>>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let senders = SenderTable::new(config.max_senders);
        senders.seed(wal.recovered_senders());
        Ingest {
            pipeline: Arc::new(Pipeline {
                auth: Authenticator::new(&config.ingest),
                max_records: config.max_records_per_batch.get(),
                senders,
                wal,
                redactor,
                stats,
                scorer,
            }),
            shutdown,
            tasks,
        }
    }
}

#[tonic::async_trait]
impl AuditService for Ingest {
    type StreamStream = ReceiverStream<Result<Ack, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<AuditBatch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let sender = match self.pipeline.auth.authenticate(&request) {
            Ok(sender) => sender,
            Err(status) => {
                self.pipeline.stats.streams_unauthenticated.add(1);
                warn!(%peer, "refused stream: {}", status.message());
                return Err(status);
            }
        };
        let (acks, outbound) = mpsc::channel(ACK_QUEUE);
        // A task of its own: a batch being written is finished and
        // recorded even if the client goes away meanwhile.
        self.tasks.spawn(
            self.pipeline
                .clone()
                .run_stream(
                    request.into_inner(),
                    sender.clone(),
                    acks,
                    self.shutdown.clone(),
                )
                .instrument(tracing::info_span!("stream", %peer, sender = %sender.identity)),
        );
        Ok(Response::new(ReceiverStream::new(outbound)))
    }
}

impl Pipeline {
    async fn run_stream(
        self: Arc<Self>,
        mut inbound: Streaming<AuditBatch>,
        sender: Sender,
        acks: mpsc::Sender<Result<Ack, Status>>,
        shutdown: CancellationToken,
    ) {
        debug!("stream opened");
        let end = loop {
            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    break Some(Status::unavailable("collector is shutting down"));
                }
                received = inbound.message() => received,
            };
            let batch = match received {
                Ok(Some(batch)) => batch,
                Ok(None) => break None,
                Err(status) => break Some(self.receive_error(status)),
            };
            // Its own trace: streams live for hours.
            let span = debug_span!(
                target: DATA_PATH,
                parent: None,
                "batch",
                proxy_id = %batch.proxy_id,
                seq = batch.seq as i64,
                records = batch.records.len() as i64,
                outcome = Empty,
                otel.status_code = Empty,
            );
            let handled = self.handle(&sender, batch).instrument(span.clone()).await;
            match &handled {
                Ok(_) => span.record("outcome", "acked"),
                Err(status) => span
                    .record("outcome", tracing::field::debug(status.code()))
                    .record("otel.status_code", "ERROR"),
            };
            match handled {
                Ok(ack) => {
                    if acks.send(Ok(ack)).await.is_err() {
                        break None;
                    }
                }
                Err(status) => break Some(status),
            }
        };
        debug!(status = ?end.as_ref().map(Status::code), "stream closed");
        if let Some(status) = end {
            // Fails only if the client is gone already.
            let _ = acks.send(Err(status)).await;
        }
    }

    async fn handle(&self, sender: &Sender, mut batch: AuditBatch) -> Result<Ack, Status> {
        self.stats.batches_received.add(1);
        if let Err(status) = self.auth.authorize(sender, &batch.proxy_id) {
            self.stats.batches_forbidden.add(1);
            warn!("refused batch: {}", status.message());
            return Err(status);
        }
        let valid = debug_span!(target: DATA_PATH, "validate")
            .in_scope(|| validate(&batch, self.max_records));
        if let Err(invalid) = valid {
            self.stats.batches_rejected.add(1);
            warn!(
                proxy_id = %batch.proxy_id,
                instance_id = %batch.instance_id,
                "rejected batch: {invalid}"
            );
            return Err(Status::invalid_argument(invalid.to_string()));
        }
        let key = SenderKey {
            proxy_id: batch.proxy_id.clone(),
            instance_id: batch.instance_id.clone(),
        };
        if batch.seq == 0 {
            let stored = match self.senders.get(&key) {
                Some(stored) => *stored.lock().await,
                None => 0,
            };
            return Ok(Ack {
                seq: stored,
                quarantined: Vec::new(),
            });
        }

        let (stored, evicted) = self.senders.slot(&key);
        if let Some(old) = evicted {
            self.stats.senders_evicted.add(1);
            debug!(
                ?old,
                "sender table full: forgot the least recently seen sender"
            );
        }
        // Held until the batch is stored: serialises streams of one sender.
        let mut stored = stored.lock().await;
        let missing = match classify(*stored, batch.seq) {
            Order::Duplicate => {
                self.stats.batches_duplicate.add(1);
                debug!(
                    seq = batch.seq,
                    stored = *stored,
                    "duplicate batch acked, not written"
                );
                // Acks are cumulative: the highest stored seq.
                return Ok(Ack {
                    seq: *stored,
                    quarantined: Vec::new(),
                });
            }
            Order::New { missing } => missing,
        };
        if let Some(missing) = &missing {
            self.stats.seq_jumps.add(1);
            warn!(
                proxy_id = %batch.proxy_id,
                instance_id = %batch.instance_id,
                "seq jumped from {} to {}: batches {}..={} never arrived",
                *stored,
                batch.seq,
                missing.start(),
                missing.end()
            );
        }

        if let Some(redactor) = &self.redactor {
            redactor.apply(&mut batch.records);
        }
        let (mut entries, quarantined) = to_entries(&batch, &sender.identity, missing);
        if let Some(first) = quarantined.first() {
            warn!(
                proxy_id = %batch.proxy_id,
                instance_id = %batch.instance_id,
                seq = batch.seq,
                "{} records stored as invalid; record {}: {}",
                quarantined.len(),
                first.index,
                first.reason
            );
        }
        if let Some(scorer) = &self.scorer {
            let scored = scorer
                .score(entries)
                .instrument(debug_span!(target: DATA_PATH, "score"))
                .await;
            entries = scored.map_err(|e| {
                error!(seq = batch.seq, "{e}");
                Status::unavailable(format!("batch seq {}: {e}; send it again", batch.seq))
            })?;
        }
        let appended = self
            .wal
            .append(&key, batch.seq, &entries)
            .instrument(
                debug_span!(target: DATA_PATH, "wal_append", entries = entries.len() as i64),
            )
            .await;
        if let Err(e) = appended {
            return Err(not_stored(batch.seq, &e));
        }
        *stored = batch.seq;
        if let Some(scorer) = &self.scorer {
            // Durable now: its events may alert.
            scorer.stored(&entries);
        }
        self.stats.batches_written.add(1);
        let invalid = quarantined.len() as u64;
        self.stats
            .records_written
            .add(batch.records.len() as u64 - invalid);
        self.stats.records_quarantined.add(invalid);
        if matches!(entries.first(), Some(Entry::Gap(_))) {
            self.stats.gaps_written.add(1);
        }
        Ok(Ack {
            seq: batch.seq,
            quarantined,
        })
    }

    /// Maps a failure to receive a batch to the status the client gets. tonic
    /// reports a message over the size limit as OUT_OF_RANGE; gRPC's convention
    /// for it is RESOURCE_EXHAUSTED. A message that is no `AuditBatch` keeps
    /// tonic's INTERNAL ("failed to decode Protobuf message: …").
    fn receive_error(&self, status: Status) -> Status {
        match status.code() {
            Code::Internal if status.message().starts_with(UNDECODABLE) => {
                self.stats.batches_rejected.add(1);
                warn!("rejected batch: {}", status.message());
                status
            }
            Code::OutOfRange => {
                self.stats.batches_rejected.add(1);
                warn!("rejected batch: {}", status.message());
                Status::resource_exhausted(format!(
                    "batch exceeds max_batch_bytes: {}",
                    status.message()
                ))
            }
            Code::Cancelled => {
                debug!("client cancelled the stream");
                status
            }
            _ => {
                warn!(code = ?status.code(), "cannot receive batch: {}", status.message());
                status
            }
        }
    }
}

/// UNAVAILABLE, so that the sender keeps the batch and sends it again later
/// (a full WAL is backpressure, not a reason to drop it).
fn not_stored(seq: u64, e: &WalError) -> Status {
    match e {
        WalError::Full { .. } => warn!(seq, "not acked: {e}"),
        _ => error!(seq, "storing batch failed: {e}"),
    }
    Status::unavailable(format!(
        "batch seq {seq} could not be stored ({e}); send it again later"
    ))
}

/// The entries of a new batch, each naming its `sender`: a gap notice first
/// if the sender reported lost records or the seq jumped, then its records
/// in order, each one that fails [`check_record`] as an invalid entry; and
/// those as the ack names them.
fn to_entries(
    batch: &AuditBatch,
    sender: &str,
    missing: Option<RangeInclusive<u64>>,
) -> (Vec<Entry>, Vec<Quarantined>) {
    let mut entries = Vec::with_capacity(batch.records.len() + 1);
    let mut quarantined = Vec::new();
    let received = format_ts(unix_nanos(SystemTime::now()));
    let reported = batch.gap.unwrap_or_default();
    if reported.dropped_records > 0 || reported.dropped_batches > 0 || missing.is_some() {
        entries.push(Entry::Gap(GapNotice {
            ts: received.clone(),
            proxy_id: batch.proxy_id.clone(),
            sender: sender.to_owned(),
            audit_gap: GapDetail {
                instance_id: batch.instance_id.clone(),
                seq: batch.seq,
                dropped_records: reported.dropped_records,
                dropped_batches: reported.dropped_batches,
                missing_seq_from: missing.as_ref().map(|m| *m.start()),
                missing_seq_to: missing.as_ref().map(|m| *m.end()),
            },
        }));
    }
    for (index, record) in (0u32..).zip(&batch.records) {
        let Err(problem) = check_record(record, &batch.proxy_id) else {
            let mut record = CanonicalRecord::from(record);
            record.sender = sender.to_owned();
            entries.push(Entry::from(record));
            continue;
        };
        let reason = problem.to_string();
        quarantined.push(Quarantined {
            index,
            reason: reason.clone(),
        });
        entries.push(Entry::Invalid(InvalidNotice {
            ts: received.clone(),
            proxy_id: batch.proxy_id.clone(),
            sender: sender.to_owned(),
            invalid: InvalidDetail::new(&batch.instance_id, batch.seq, index, reason, record),
        }));
    }
    (entries, quarantined)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::auth::config::{AuthMode, IngestConfig};
    use crate::wal::WalConfig;
    use observatory_proto::audit::{AuditGap, AuditRecord};
    use std::path::Path;

    fn pipeline_at(dir: &Path, max_bytes: u64) -> Pipeline {
        let config = WalConfig {
            max_bytes,
            ..WalConfig::default()
        };
        let wal = Wal::open(dir, config, Default::default(), &Telemetry::new()).unwrap();
        let senders = SenderTable::new(std::num::NonZeroUsize::MIN);
        senders.seed(wal.recovered_senders());
        Pipeline {
            auth: Authenticator::new(&IngestConfig {
                auth: AuthMode::None,
                ..IngestConfig::default()
            }),
            max_records: 10,
            senders,
            wal: Arc::new(wal),
            redactor: None,
            stats: Arc::default(),
            scorer: None,
        }
    }

    impl Pipeline {
        /// [`Pipeline::handle`] for a sender of mode `none`.
        async fn take(&self, batch: AuditBatch) -> Result<Ack, Status> {
            self.handle(&Sender::default(), batch).await
        }
    }

    #[tokio::test]
    async fn full_wal_is_not_acked_and_restart_keeps_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline_at(dir.path(), 1);
        assert_eq!(pipeline.take(batch(1, None)).await.unwrap().seq, 1);
        // The first append filled the one-byte WAL.
        let status = pipeline.take(batch(2, None)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("WAL full"), "{status:?}");
        assert_eq!(pipeline.take(heartbeat()).await.unwrap().seq, 1);
        drop(pipeline);

        // After a restart, the resend of batch 1 is known from the WAL.
        let pipeline = pipeline_at(dir.path(), 1 << 20);
        assert_eq!(pipeline.take(heartbeat()).await.unwrap().seq, 1);
        assert_eq!(pipeline.take(batch(1, None)).await.unwrap().seq, 1);
        assert_eq!(pipeline.stats.batches_duplicate.get(), 1);
        assert_eq!(pipeline.take(batch(2, None)).await.unwrap().seq, 2);
    }

    #[tokio::test]
    async fn an_invalid_record_is_quarantined_and_its_batch_stored() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline_at(dir.path(), 1 << 20);
        let mut b = batch(1, None);
        let valid = b.records[0].clone();
        let mut invalid = valid.clone();
        invalid.ts_unix_nanos = -5;
        invalid.correlation_id = "bad".into();
        b.records = vec![valid.clone(), invalid, valid];
        let ack = pipeline.take(b.clone()).await.unwrap();
        assert_eq!(ack.seq, 1);
        assert_eq!(
            ack.quarantined,
            [Quarantined {
                index: 1,
                reason: "ts_unix_nanos must be > 0, got -5".into()
            }]
        );
        let stats = &pipeline.stats;
        assert_eq!(
            (stats.records_written.get(), stats.records_quarantined.get()),
            (2, 1)
        );
        assert_eq!(stats.batches_rejected.get(), 0);
        // Resent (its ack was lost): stored once, as any batch.
        assert_eq!(pipeline.take(b).await.unwrap().seq, 1);
        assert_eq!(stats.records_quarantined.get(), 1);
    }

    #[test]
    fn an_invalid_record_keeps_its_place_and_what_could_be_read() {
        let mut b = batch(4, None);
        let mut invalid = b.records[0].clone();
        invalid.decision = "maybe".into();
        invalid.duration_ms = f64::NAN;
        b.records.insert(0, invalid);
        let (entries, quarantined) = to_entries(&b, "", None);
        assert_eq!(quarantined.len(), 1);
        let Entry::Invalid(notice) = &entries[0] else {
            panic!("{entries:?}");
        };
        assert!(matches!(&entries[1], Entry::Record(_)));
        let line: serde_json::Value = serde_json::to_value(notice).unwrap();
        assert_eq!(line["proxy_id"], "p");
        assert_eq!(
            (
                &line["invalid"]["seq"],
                &line["invalid"]["index"],
                &line["invalid"]["reason"]
            ),
            (
                &serde_json::json!(4),
                &serde_json::json!(0),
                &serde_json::json!("duration_ms must be a finite number, got NaN")
            )
        );
        let record = &line["invalid"]["record"];
        assert_eq!(
            (&record["correlation_id"], &record["decision"]),
            (&serde_json::json!("c"), &serde_json::json!("maybe"))
        );
        assert!(record["duration_ms"].is_null(), "{record}");
    }

    #[tokio::test]
    async fn alerts_leave_only_for_batches_the_wal_stored() {
        use crate::score::live::ScoreSettings;
        use crate::score::MeshMode;
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut alerts) = mpsc::channel(4);
        // No warm-up, a strict mesh: the plaintext records of `batch` are
        // anomalies by themselves.
        let settings = ScoreSettings {
            warmup_secs: 0,
            mesh: MeshMode::Strict,
            ..ScoreSettings::default()
        };
        let scorer = Arc::new(LiveScorer::open(&settings, dir.path()).with_alerts(tx));
        let wal_dir = dir.path().join("wal");
        let mut pipeline = pipeline_at(&wal_dir, 1);
        pipeline.scorer = Some(scorer.clone());
        pipeline.take(batch(1, None)).await.unwrap();
        assert!(alerts.try_recv().is_ok(), "stored: alerted");
        // Two minutes later, refused by the full WAL: nothing leaves.
        let mut later = batch(2, None);
        later.records[0].ts_unix_nanos = 120_000_000_000;
        assert!(pipeline.take(later.clone()).await.is_err());
        assert!(alerts.try_recv().is_err(), "refused: not alerted");
        drop(pipeline);
        // Resent to a WAL with room: stored, and now it alerts.
        let mut pipeline = pipeline_at(&wal_dir, 1 << 20);
        pipeline.scorer = Some(scorer);
        pipeline.take(later).await.unwrap();
        assert!(alerts.try_recv().is_ok(), "stored on resend: alerted");
    }

    fn batch(seq: u64, gap: Option<AuditGap>) -> AuditBatch {
        AuditBatch {
            proxy_id: "p".into(),
            instance_id: "i".into(),
            seq,
            records: vec![AuditRecord {
                ts_unix_nanos: 1,
                correlation_id: "c".into(),
                method: "GET".into(),
                decision: "allow".into(),
                proxy_id: "p".into(),
                ..AuditRecord::default()
            }],
            gap,
        }
    }

    fn heartbeat() -> AuditBatch {
        AuditBatch {
            records: vec![],
            ..batch(0, None)
        }
    }

    fn gap_of(entries: &[Entry]) -> Option<&GapDetail> {
        match entries.first() {
            Some(Entry::Gap(notice)) => Some(&notice.audit_gap),
            _ => None,
        }
    }

    #[test]
    fn plain_batch_has_only_records() {
        let sender = "spiffe://td/ns/shop/sa/web";
        let (entries, quarantined) = to_entries(&batch(1, None), sender, None);
        assert!(quarantined.is_empty());
        assert_eq!(entries.len(), 1);
        assert!(
            matches!(&entries[0], Entry::Record(r) if r.correlation_id == "c" && r.sender == sender)
        );
        // A reported gap of zero is no gap.
        assert!(gap_of(&to_entries(&batch(1, Some(AuditGap::default())), "", None).0).is_none());
    }

    #[test]
    fn reported_gap_and_jump_share_one_notice_before_the_records() {
        let gap = AuditGap {
            dropped_records: 9,
            dropped_batches: 2,
        };
        let (entries, _) = to_entries(&batch(7, Some(gap)), "", Some(4..=6));
        assert_eq!(entries.len(), 2);
        let detail = gap_of(&entries).unwrap();
        assert_eq!(
            (detail.seq, detail.dropped_records, detail.dropped_batches),
            (7, 9, 2)
        );
        assert_eq!(
            (detail.missing_seq_from, detail.missing_seq_to),
            (Some(4), Some(6))
        );
    }

    #[tokio::test]
    async fn oversized_batch_becomes_resource_exhausted() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline_at(dir.path(), 1 << 20);
        let status = pipeline.receive_error(Status::out_of_range("too large"));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("max_batch_bytes"));
        let status = pipeline.receive_error(Status::internal("x"));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(pipeline.stats.batches_rejected.get(), 1);
    }
}
