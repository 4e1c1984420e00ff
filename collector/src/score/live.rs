//! Live scoring in the collector: every record of a new batch gets its
//! `anomaly_score` and `anomaly_reasons` before it is stored (during the
//! warm-up `anomaly_warmup` instead), with the same [`Scorer`] as
//! `observatory-collector score` (time is the records' `ts`).
//!
//! One scorer behind one lock, shared by every stream. A batch is scored on
//! the blocking pool so that the async workers keep receiving and acking
//! other streams meanwhile: a full batch holds the lock for milliseconds
//! (README, "Benchmark"; `observatory_score_batch_seconds` in production).
//!
//! A principal-minute whose behaviour score reaches the threshold (after
//! warm-up) becomes one [`AnomalyEvent`], a destination-minute whose health
//! score does one [`ServiceHealthEvent`]; each is stored as its own entry.
//! Only once the batch is durably stored ([`LiveScorer::stored`], after the
//! WAL append) is an event counted as emitted and an anomaly handed to the
//! alerter: a batch the WAL refuses alerts no one, and its resend still has
//! its events. The state is checkpointed to disk periodically and at
//! shutdown.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use observatory_proto::json::CanonicalRecord;
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::attribution::{round, Reason};
use super::checkpoint::{self, CheckpointError};
use super::config::{MeshMode, ScoreConfig};
use super::event::{AnomalyEvent, ServiceHealthEvent, EXAMPLE_IDS};
use super::input::Observation;
use super::model::ALERT;
use super::state::Scorer;
use crate::telemetry::{Counter, Telemetry};
use crate::trail::{AnomalyNotice, Entry, ServiceHealthNotice};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Principals (and destinations) whose last event minute is remembered (one
/// event per principal-minute and destination-minute); beyond it a key may
/// get a second event in the same minute, nothing worse.
const EVENT_MINUTES_TRACKED: usize = 10_000;

/// The `[score]` table of the collector config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreSettings {
    /// Score every stored record (on by default).
    pub enabled: bool,
    /// Score at which a principal-minute becomes an anomaly event and alerts.
    #[serde(deserialize_with = "threshold")]
    pub threshold: f64,
    /// Record time after the first record ever scored (kept across restarts
    /// by the checkpoint) during which nothing is an anomaly.
    pub warmup_secs: u64,
    /// Principals (or plaintext source IPs) tracked; least recently seen evicted.
    pub max_principals: NonZeroUsize,
    /// Path templates remembered per principal.
    pub max_templates: NonZeroUsize,
    /// Destinations tracked per principal.
    pub max_pairs: NonZeroUsize,
    /// Destination workloads tracked (health).
    pub max_destinations: NonZeroUsize,
    /// An identity first seen after warm-up stays new (its records elevated)
    /// until it is this old in record time and has made
    /// `new_principal_requests` requests.
    pub new_principal_secs: u64,
    pub new_principal_requests: u64,
    /// Destination workloads where a new identity weighs more (besides those
    /// whose responses carry PII, which count as sensitive anyway).
    pub sensitive_destinations: Vec<String>,
    /// The mesh's mTLS mode, from the config's `[mesh]` table (`mtls`), not
    /// from `[score]`.
    #[serde(skip)]
    pub mesh: MeshMode,
    /// Where the learnt state is kept [default: `<data_dir>/score-state.json`].
    pub checkpoint_path: Option<PathBuf>,
    /// Seconds between checkpoints (one more is written at shutdown).
    pub checkpoint_interval_secs: NonZeroU64,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        let model = ScoreConfig::default();
        let nz = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        ScoreSettings {
            enabled: true,
            threshold: ALERT,
            warmup_secs: model.warmup_secs as u64,
            max_principals: nz(model.max_principals),
            max_templates: nz(model.max_templates),
            max_pairs: nz(model.max_pairs),
            max_destinations: nz(model.max_destinations),
            new_principal_secs: model.new_principal_secs as u64,
            new_principal_requests: model.new_principal_requests,
            sensitive_destinations: model.sensitive_destinations,
            mesh: model.mesh,
            checkpoint_path: None,
            checkpoint_interval_secs: NonZeroU64::MIN.saturating_add(59),
        }
    }
}

fn threshold<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let t = f64::deserialize(d)?;
    if t > 0.0 && t <= 1.0 {
        Ok(t)
    } else {
        Err(serde::de::Error::custom(format!(
            "threshold must be in (0, 1], got {t}"
        )))
    }
}

impl ScoreSettings {
    fn model(&self) -> ScoreConfig {
        ScoreConfig {
            warmup_secs: self.warmup_secs as f64,
            max_principals: self.max_principals.get(),
            max_templates: self.max_templates.get(),
            max_pairs: self.max_pairs.get(),
            max_destinations: self.max_destinations.get(),
            mesh: self.mesh,
            new_principal_secs: self.new_principal_secs as f64,
            new_principal_requests: self.new_principal_requests,
            sensitive_destinations: self.sensitive_destinations.clone(),
            ..ScoreConfig::default()
        }
    }
}

/// Upper bounds of the score histogram's buckets: fine around the threshold.
const SCORE_BUCKETS: [f64; 12] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99,
];

/// What live scoring did; exported on `/metrics` by [`LiveStats::register`].
#[derive(Debug)]
pub struct LiveStats {
    pub records_scored: Counter,
    /// Records whose `ts` did not parse (stored without a score).
    pub records_unscored: Counter,
    /// Records of the warm-up (stored without a score, `anomaly_warmup`).
    pub records_warmup: Counter,
    /// Events stored.
    pub anomaly_events: Counter,
    pub health_events: Counter,
    /// Events the alerter could not take (its queue was full).
    pub alerts_dropped: Counter,
    pub checkpoints_written: Counter,
    pub checkpoint_failures: Counter,
    /// Scores of the records.
    pub scores: Histogram,
    /// How long a batch held the scorer.
    pub batch_seconds: Histogram,
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            records_scored: Counter::default(),
            records_unscored: Counter::default(),
            records_warmup: Counter::default(),
            anomaly_events: Counter::default(),
            health_events: Counter::default(),
            alerts_dropped: Counter::default(),
            checkpoints_written: Counter::default(),
            checkpoint_failures: Counter::default(),
            scores: Histogram::new(SCORE_BUCKETS),
            // 50 µs to ~0.8 s.
            batch_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 15)),
        }
    }
}

impl LiveStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (&self.records_scored, "score_records", "Records scored"),
            (
                &self.records_unscored,
                "score_records_unscored",
                "Records stored without a score (their ts did not parse)",
            ),
            (
                &self.records_warmup,
                "score_records_warmup",
                "Records stored without a score while the scorer warms up",
            ),
            (
                &self.anomaly_events,
                "anomaly_events",
                "Principal-minutes whose behaviour score reached the threshold, stored",
            ),
            (
                &self.health_events,
                "service_health_events",
                "Destination-minutes whose health score reached the threshold, stored",
            ),
            (
                &self.alerts_dropped,
                "anomaly_events_not_alerted",
                "Anomaly events the alerter's full queue could not take",
            ),
            (
                &self.checkpoints_written,
                "score_checkpoints",
                "Scorer state checkpoints written",
            ),
            (
                &self.checkpoint_failures,
                "score_checkpoint_failures",
                "Scorer state checkpoints that failed",
            ),
        ]);
        telemetry.register(
            "anomaly_score",
            "Anomaly (behaviour) scores of the stored records after warm-up",
            self.scores.clone(),
        );
        telemetry.register(
            "score_batch_seconds",
            "Time a batch held the scorer",
            self.batch_seconds.clone(),
        );
    }
}

/// The scoring task died (a bug); the batch is not stored, so its sender
/// sends it again.
#[derive(Debug, thiserror::Error)]
#[error("scoring the batch failed: {0}")]
pub struct ScoringFailed(String);

/// The minute of the last stored event of each principal and destination.
struct Minutes {
    anomaly: LruCache<String, i64>,
    health: LruCache<String, i64>,
}

pub struct LiveScorer {
    scorer: Arc<Mutex<Scorer>>,
    /// Apart from the scorer: marked after the WAL append, which must not
    /// wait for a batch being scored.
    minutes: Arc<Mutex<Minutes>>,
    threshold: f64,
    checkpoint_path: PathBuf,
    checkpoint_interval: Duration,
    alerts: Option<mpsc::Sender<AnomalyEvent>>,
    stats: Arc<LiveStats>,
}

impl LiveScorer {
    /// A scorer that continues from the checkpoint, if there is a readable
    /// one. A checkpoint that cannot be used is reported and ignored: the
    /// scorer starts fresh (and warms up again) rather than not at all.
    pub fn open(settings: &ScoreSettings, data_dir: &Path) -> Self {
        let path = settings
            .checkpoint_path
            .clone()
            .unwrap_or_else(|| data_dir.join("score-state.json"));
        let scorer = match checkpoint::load(&path, settings.model()) {
            Ok(Some(scorer)) => {
                let (principals, destinations) = scorer.tracked();
                info!(
                    path = %path.display(),
                    principals, destinations, "restored the scorer's baselines"
                );
                scorer
            }
            Ok(None) => Scorer::new(settings.model()),
            Err(e) => {
                warn!("ignoring the scorer checkpoint, starting with fresh baselines: {e}");
                Scorer::new(settings.model())
            }
        };
        let lru =
            || LruCache::new(NonZeroUsize::new(EVENT_MINUTES_TRACKED).unwrap_or(NonZeroUsize::MIN));
        LiveScorer {
            scorer: Arc::new(Mutex::new(scorer)),
            minutes: Arc::new(Mutex::new(Minutes {
                anomaly: lru(),
                health: lru(),
            })),
            threshold: settings.threshold,
            checkpoint_path: path,
            checkpoint_interval: Duration::from_secs(settings.checkpoint_interval_secs.get()),
            alerts: None,
            stats: Arc::default(),
        }
    }

    /// Hands every stored anomaly event to `alerts` too (never waits for it).
    pub fn with_alerts(mut self, alerts: mpsc::Sender<AnomalyEvent>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    pub fn stats(&self) -> Arc<LiveStats> {
        self.stats.clone()
    }

    /// Scores the records among `entries` and appends the events of the
    /// minutes not stored yet. Nothing is emitted until [`LiveScorer::stored`].
    pub async fn score(&self, mut entries: Vec<Entry>) -> Result<Vec<Entry>, ScoringFailed> {
        let (scorer, minutes) = (self.scorer.clone(), self.minutes.clone());
        let (threshold, stats) = (self.threshold, self.stats.clone());
        let scored = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut scorer = scorer.lock().unwrap_or_else(PoisonError::into_inner);
            let events = score_batch(&mut scorer, &mut entries, threshold, &stats);
            drop(scorer);
            stats.batch_seconds.observe(started.elapsed().as_secs_f64());
            let minutes = minutes.lock().unwrap_or_else(PoisonError::into_inner);
            entries.extend(events.into_entries(&minutes));
            entries
        })
        .await;
        scored.map_err(|e| ScoringFailed(e.to_string()))
    }

    /// `entries` (as [`LiveScorer::score`] returned them) are durably
    /// stored: their events count as emitted, their minutes as done, and
    /// the anomalies go to the alerter.
    pub fn stored(&self, entries: &[Entry]) {
        let mut minutes = self.minutes.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            match entry {
                Entry::Anomaly(e) => {
                    if let Some(m) = minute_of(&e.ts) {
                        minutes.anomaly.put(e.anomaly.principal.clone(), m);
                    }
                    self.stats.anomaly_events.add(1);
                    if let Some(alerts) = &self.alerts {
                        if alerts.try_send(e.anomaly.clone()).is_err() {
                            self.stats.alerts_dropped.add(1);
                        }
                    }
                }
                Entry::Health(h) => {
                    if let Some(m) = minute_of(&h.ts) {
                        minutes.health.put(h.service_health.destination.clone(), m);
                    }
                    self.stats.health_events.add(1);
                }
                Entry::Record(_) | Entry::Gap(_) | Entry::Invalid(_) | Entry::Checkpoint(_) => {}
            }
        }
    }

    /// Writes the learnt state to the checkpoint file.
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        let scorer = self.scorer.clone();
        let path = self.checkpoint_path.clone();
        let result = tokio::task::spawn_blocking(move || {
            let snapshot = scorer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .snapshot();
            checkpoint::save(&path, &snapshot)
        })
        .await
        .unwrap_or_else(|e| {
            Err(CheckpointError::Io {
                path: self.checkpoint_path.clone(),
                source: std::io::Error::other(e.to_string()),
            })
        });
        match &result {
            Ok(()) => self.stats.checkpoints_written.add(1),
            Err(_) => self.stats.checkpoint_failures.add(1),
        }
        result
    }

    /// Checkpoints every interval until `shutdown`; failures are logged and
    /// retried at the next interval.
    pub async fn checkpoint_periodically(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.checkpoint_interval) => {}
            }
            match self.checkpoint().await {
                Ok(()) => debug!("scorer checkpoint written"),
                Err(e) => warn!("scorer checkpoint failed: {e}"),
            }
        }
    }
}

/// The minute (since the epoch) of an RFC 3339 time.
fn minute_of(ts: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp().div_euclid(60))
}

/// Scores the records among `entries` in place: score and reasons, or the
/// warm-up flag. Returns the minutes at the threshold.
fn score_batch(
    scorer: &mut Scorer,
    entries: &mut [Entry],
    threshold: f64,
    stats: &LiveStats,
) -> BatchEvents {
    let mut events = BatchEvents::default();
    for entry in entries.iter_mut() {
        let Entry::Record(record) = entry else {
            continue;
        };
        // The observation borrows the record: the events are taken from
        // it first, the record gets its score after.
        let scored = {
            let obs = Observation::from(&record.record);
            let Some(t) = obs.time() else {
                stats.records_unscored.add(1);
                continue;
            };
            let scored = scorer.score(t, &obs);
            // Saturating cast: record times are far inside i64.
            let minute = (t / 60.0).floor() as i64;
            if !scored.warmup && scored.score >= threshold {
                let (score, reasons) = (scored.score, &scored.reasons);
                add(
                    &mut events.anomaly,
                    obs.key(),
                    minute,
                    record,
                    score,
                    reasons,
                );
            }
            if !scored.warmup && scored.health >= threshold {
                let (score, reasons) = (scored.health, &scored.health_reasons);
                let dest = &obs.destination_workload;
                add(&mut events.health, dest, minute, record, score, reasons);
            }
            scored
        };
        stats.records_scored.add(1);
        if scored.warmup {
            stats.records_warmup.add(1);
            record.warmup = true;
            continue;
        }
        stats.scores.observe(scored.score);
        record.anomaly_score = Some(round(scored.score));
        record.reasons = scored.reasons;
    }
    events
}

/// The threshold minutes of one batch, per kind, in order of appearance.
#[derive(Default)]
struct BatchEvents {
    anomaly: Vec<Pending>,
    health: Vec<Pending>,
}

impl BatchEvents {
    /// The events of the minutes that have none stored yet.
    fn into_entries(self, stored: &Minutes) -> impl Iterator<Item = Entry> + '_ {
        let fresh =
            |done: &LruCache<String, i64>, p: &Pending| done.peek(&p.key) != Some(&p.minute);
        let anomalies = self
            .anomaly
            .into_iter()
            .filter(move |p| fresh(&stored.anomaly, p))
            .map(|p| {
                let (ts, window_start) = (p.ts.clone(), p.window_start());
                Entry::Anomaly(AnomalyNotice {
                    ts,
                    anomaly: AnomalyEvent {
                        principal: p.key,
                        destination: p.destination,
                        score: p.score,
                        window_start,
                        reasons: p.reasons,
                        correlation_ids: p.ids,
                    },
                })
            });
        let health = self
            .health
            .into_iter()
            .filter(move |p| fresh(&stored.health, p))
            .map(|p| {
                let (ts, window_start) = (p.ts.clone(), p.window_start());
                Entry::Health(ServiceHealthNotice {
                    ts,
                    service_health: ServiceHealthEvent {
                        destination: p.key,
                        score: p.score,
                        window_start,
                        reasons: p.reasons,
                        correlation_ids: p.ids,
                    },
                })
            });
        anomalies.chain(health)
    }
}

/// One key's minute at the threshold, as its records show it.
struct Pending {
    key: String,
    minute: i64,
    /// Time of its first record at the threshold.
    ts: String,
    /// The highest score, its reasons and its record's destination.
    score: f64,
    reasons: Vec<Reason>,
    destination: String,
    /// Example records (up to [`EXAMPLE_IDS`]).
    ids: Vec<String>,
}

impl Pending {
    fn window_start(&self) -> String {
        observatory_proto::json::format_ts(self.minute.saturating_mul(60_000_000_000))
    }
}

/// Adds a record at the threshold to its key's minute: kept as an example,
/// and it speaks for the minute if it scored higher.
fn add(
    pending: &mut Vec<Pending>,
    key: &str,
    minute: i64,
    record: &CanonicalRecord,
    score: f64,
    reasons: &[Reason],
) {
    let score = round(score);
    match pending
        .iter_mut()
        .find(|p| p.minute == minute && p.key == key)
    {
        Some(p) => {
            if p.ids.len() < EXAMPLE_IDS {
                p.ids.push(record.correlation_id.clone());
            }
            if score > p.score {
                p.score = score;
                p.reasons = reasons.to_vec();
                p.destination.clone_from(&record.destination_workload);
            }
        }
        None => pending.push(Pending {
            key: key.to_owned(),
            minute,
            ts: record.ts.clone(),
            score,
            reasons: reasons.to_vec(),
            destination: record.destination_workload.clone(),
            ids: vec![record.correlation_id.clone()],
        }),
    }
}

#[cfg(test)]
mod tests;
