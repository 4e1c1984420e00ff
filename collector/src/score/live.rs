//! Live scoring in the collector: every record of a new batch gets its
//! `anomaly_score` and `anomaly_reasons` before it is stored, with the same
//! [`Scorer`] as `observatory-collector score` (time is the records' `ts`).
//!
//! One scorer behind one lock, shared by every stream. A batch is scored on
//! the blocking pool so that the async workers keep receiving and acking
//! other streams meanwhile: a full batch holds the lock for milliseconds
//! (README, "Benchmark"; `observatory_score_batch_seconds` in production).
//!
//! A principal-minute whose score reaches the threshold (after warm-up)
//! becomes one [`AnomalyEvent`], stored as its own entry and handed to the
//! alerter. The state is checkpointed to disk periodically and at shutdown.

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
use super::config::ScoreConfig;
use super::event::{AnomalyEvent, EXAMPLE_IDS};
use super::input::Observation;
use super::model::ALERT;
use super::state::Scorer;
use crate::telemetry::{Counter, Telemetry};
use crate::trail::{AnomalyNotice, Entry};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Principals whose last event minute is remembered (one event per
/// principal-minute); beyond it a principal may get a second event in the
/// same minute, nothing worse.
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
    /// Destination workloads tracked (latency).
    pub max_destinations: NonZeroUsize,
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
    pub anomaly_events: Counter,
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
            anomaly_events: Counter::default(),
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
                &self.anomaly_events,
                "anomaly_events",
                "Principal-minutes at or above the threshold after warm-up",
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
            "Anomaly scores of the stored records",
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

/// The scorer and what it remembers beside its model state.
struct State {
    scorer: Scorer,
    /// Principal → minute of its last event.
    event_minutes: LruCache<String, i64>,
}

pub struct LiveScorer {
    state: Arc<Mutex<State>>,
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
        LiveScorer {
            state: Arc::new(Mutex::new(State {
                scorer,
                event_minutes: LruCache::new(
                    NonZeroUsize::new(EVENT_MINUTES_TRACKED).unwrap_or(NonZeroUsize::MIN),
                ),
            })),
            threshold: settings.threshold,
            checkpoint_path: path,
            checkpoint_interval: Duration::from_secs(settings.checkpoint_interval_secs.get()),
            alerts: None,
            stats: Arc::default(),
        }
    }

    /// Hands every anomaly event to `alerts` too (never waits for it).
    pub fn with_alerts(mut self, alerts: mpsc::Sender<AnomalyEvent>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    pub fn stats(&self) -> Arc<LiveStats> {
        self.stats.clone()
    }

    /// Scores the records among `entries` and appends the anomaly events.
    pub async fn score(&self, mut entries: Vec<Entry>) -> Result<Vec<Entry>, ScoringFailed> {
        let state = self.state.clone();
        let (threshold, stats) = (self.threshold, self.stats.clone());
        let scored = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            let events = state.score_batch(&mut entries, threshold, &stats);
            drop(state);
            stats.batch_seconds.observe(started.elapsed().as_secs_f64());
            (entries, events)
        })
        .await;
        let (mut entries, events) = scored.map_err(|e| ScoringFailed(e.to_string()))?;
        for event in events {
            self.stats.anomaly_events.add(1);
            if let Some(alerts) = &self.alerts {
                if alerts.try_send(event.anomaly.clone()).is_err() {
                    self.stats.alerts_dropped.add(1);
                }
            }
            entries.push(Entry::Anomaly(event));
        }
        Ok(entries)
    }

    /// Writes the learnt state to the checkpoint file.
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        let state = self.state.clone();
        let path = self.checkpoint_path.clone();
        let result = tokio::task::spawn_blocking(move || {
            let snapshot = state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .scorer
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

impl State {
    fn score_batch(
        &mut self,
        entries: &mut [Entry],
        threshold: f64,
        stats: &LiveStats,
    ) -> Vec<AnomalyNotice> {
        let mut events: Vec<(i64, AnomalyNotice)> = Vec::new();
        for entry in entries.iter_mut() {
            let Entry::Record(record) = entry else {
                continue;
            };
            let obs = Observation::from(&record.record);
            let Some(t) = obs.time() else {
                stats.records_unscored.add(1);
                continue;
            };
            let scored = self.scorer.score(t, &obs);
            stats.records_scored.add(1);
            stats.scores.observe(scored.score);
            record.anomaly_score = Some(round(scored.score));
            record.reasons.clone_from(&scored.reasons);
            if scored.warmup || scored.score < threshold {
                continue;
            }
            // Saturating cast: record times are far inside i64.
            let minute = (t / 60.0).floor() as i64;
            let key = obs.key();
            let same = events
                .iter_mut()
                .find(|(m, e)| *m == minute && e.anomaly.principal == key);
            match same {
                Some((_, event)) => event.add(record, scored.score, scored.reasons),
                None if self.event_minutes.get(key) == Some(&minute) => {}
                None => {
                    self.event_minutes.put(key.to_owned(), minute);
                    events.push((
                        minute,
                        AnomalyNotice::first(key, minute, record, scored.score, scored.reasons),
                    ));
                }
            }
        }
        events.into_iter().map(|(_, e)| e).collect()
    }
}

impl AnomalyNotice {
    fn first(
        principal: &str,
        minute: i64,
        record: &CanonicalRecord,
        score: f64,
        reasons: Vec<Reason>,
    ) -> Self {
        let window_start =
            observatory_proto::json::format_ts(minute.saturating_mul(60_000_000_000));
        AnomalyNotice {
            ts: record.ts.clone(),
            anomaly: AnomalyEvent {
                principal: principal.to_owned(),
                destination: record.destination_workload.clone(),
                score: round(score),
                window_start,
                reasons,
                correlation_ids: vec![record.correlation_id.clone()],
            },
        }
    }

    /// Another record of the same principal-minute at the threshold: kept as
    /// an example, and it speaks for the event if it scored higher.
    fn add(&mut self, record: &CanonicalRecord, score: f64, reasons: Vec<Reason>) {
        let event = &mut self.anomaly;
        if event.correlation_ids.len() < EXAMPLE_IDS {
            event.correlation_ids.push(record.correlation_id.clone());
        }
        if round(score) > event.score {
            event.score = round(score);
            event.reasons = reasons;
            event.destination.clone_from(&record.destination_workload);
        }
    }
}

#[cfg(test)]
mod tests;
