//! Alerting on anomaly events: [`dedupe`] decides what to send (one
//! notification per principal and reason, cooldown, resolve, rate cap);
//! every configured webhook gets it in its format ([`slack`],
//! [`alertmanager`]), from a worker of its own that retries with
//! exponential backoff, so a slow webhook delays neither the others nor
//! the ingest (events reach the alerter through a bounded queue that never
//! waits). The dedupe's state is saved (every few seconds when it changed,
//! and at shutdown) and restored at start, so a restart neither notifies an
//! open episode again nor forgets a cooldown.

pub mod alertmanager;
pub mod config;
pub mod dedupe;
pub mod slack;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observatory_proto::json::{format_ts, unix_nanos};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use url::form_urlencoded::byte_serialize;
use url::Url;

use self::config::{redacted, AlertConfig, SecretError, WebhookKind};
use self::dedupe::{Dedupe, DedupeState, Notice, Suppressed};
use crate::score::attribution::Reason;
use crate::score::event::AnomalyEvent;
use crate::state_file;
use crate::telemetry::{Counter, Telemetry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;

/// Anomaly events waiting for the alerter.
const EVENT_QUEUE: usize = 1024;
/// Notifications waiting per webhook.
const HOOK_QUEUE: usize = 256;
/// How often quiet episodes are checked for resolving.
const TICK: Duration = Duration::from_secs(5);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Time around an anomaly an Explore link shows.
const EXPLORE_MARGIN: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

/// What alerting did; exported on `/metrics` by [`AlertStats::register`].
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Firing and resolve notifications decided (each goes to every webhook).
    pub firing: Counter,
    pub resolved: Counter,
    /// Webhook calls answered 2xx.
    pub delivered: Counter,
    /// Attempts that failed and were retried.
    pub retries: Counter,
    /// Notifications a webhook never took (refused, or out of attempts).
    pub failed: Counter,
    /// Notifications dropped because a webhook's queue was full.
    pub queue_full: Counter,
    /// Events not notified, by cause.
    suppressed: Family<CauseLabel, PromCounter>,
    /// The totals behind `suppressed`, to add only what is new.
    suppressed_seen: Mutex<Suppressed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

impl AlertStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.firing,
                "alerts_firing",
                "Firing alert notifications decided",
            ),
            (
                &self.resolved,
                "alerts_resolved",
                "Resolve notifications decided",
            ),
            (
                &self.delivered,
                "alert_webhook_delivered",
                "Webhook calls answered 2xx",
            ),
            (
                &self.retries,
                "alert_webhook_retries",
                "Webhook attempts that failed and were retried",
            ),
            (
                &self.failed,
                "alert_webhook_failed",
                "Notifications a webhook refused or never took",
            ),
            (
                &self.queue_full,
                "alert_webhook_queue_full",
                "Notifications dropped at a full webhook queue",
            ),
        ]);
        telemetry.register(
            "alerts_suppressed",
            "Anomaly events not notified, by cause (duplicate, cooldown, rate_cap, overflow)",
            self.suppressed.clone(),
        );
    }

    /// Events not notified so far, by cause.
    pub fn suppressed(&self) -> Suppressed {
        *self
            .suppressed_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the dedupe's totals; the counters grow by the difference.
    fn set_suppressed(&self, now: Suppressed) {
        let mut seen = self
            .suppressed_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (cause, new, old) in [
            ("duplicate", now.duplicate, seen.duplicate),
            ("cooldown", now.cooldown, seen.cooldown),
            ("rate_cap", now.rate_cap, seen.rate_cap),
            ("overflow", now.overflow, seen.overflow),
        ] {
            if new > old {
                self.suppressed
                    .get_or_create(&CauseLabel { cause })
                    .inc_by(new - old);
            }
        }
        *seen = now;
    }
}

/// One webhook's queue.
struct Hook {
    kind: WebhookKind,
    queue: mpsc::Sender<Value>,
}

/// A running alerter.
pub struct Alerting {
    /// Where to send anomaly events.
    pub events: mpsc::Sender<AnomalyEvent>,
    pub stats: Arc<AlertStats>,
    /// Ends after `shutdown`, once the alerter's state is saved.
    pub done: JoinHandle<()>,
}

/// Reads the webhook URLs and starts the alerter (with the state it saved
/// last, in `data_dir` unless configured elsewhere) and one worker per
/// webhook; they stop at `shutdown`.
pub fn start(
    config: &AlertConfig,
    data_dir: &Path,
    shutdown: &CancellationToken,
) -> Result<Alerting, AlertError> {
    // Err only means a provider is installed already, which reqwest then uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(config.timeout_secs.get()))
        .user_agent(concat!("observatory-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AlertError::Client(e.without_url().to_string()))?;
    let stats = Arc::new(AlertStats::default());
    let mut hooks = Vec::new();
    for hook in &config.webhooks {
        let url = hook.url()?;
        info!(kind = ?hook.kind, webhook = %redacted(&url), "alert webhook configured");
        let (queue, pending) = mpsc::channel(HOOK_QUEUE);
        let worker = Worker {
            http: http.clone(),
            url,
            attempts: config.max_attempts.get(),
            backoff: Duration::from_millis(config.backoff_ms.get()),
            stats: stats.clone(),
        };
        tokio::spawn(worker.run(pending, shutdown.clone()));
        hooks.push(Hook {
            kind: hook.kind,
            queue,
        });
    }
    let (events, received) = mpsc::channel(EVENT_QUEUE);
    let mut dedupe = Dedupe::new(
        config.cooldown(),
        config.resolve_after(),
        config.max_per_minute.get(),
    );
    let state_path = config
        .state_path
        .clone()
        .unwrap_or_else(|| data_dir.join("alert-state.json"));
    match state_file::load::<DedupeState>(&state_path) {
        Ok(Some(state)) => {
            info!(path = %state_path.display(), "restored the alerter's episodes and cooldowns");
            dedupe.restore(state);
        }
        Ok(None) => {}
        Err(e) => warn!("ignoring the alerter's saved state, starting without episodes: {e}"),
    }
    let alerter = Alerter {
        saved: dedupe.state(),
        dedupe,
        state_path,
        hooks,
        explore: config.grafana_explore_url.clone(),
        stats: stats.clone(),
    };
    let done = tokio::spawn(alerter.run(received, shutdown.clone()));
    Ok(Alerting {
        events,
        stats,
        done,
    })
}

struct Alerter {
    dedupe: Dedupe,
    state_path: PathBuf,
    /// What was saved last.
    saved: DedupeState,
    hooks: Vec<Hook>,
    explore: Option<String>,
    stats: Arc<AlertStats>,
}

impl Alerter {
    async fn run(mut self, mut events: mpsc::Receiver<AnomalyEvent>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            let notices = tokio::select! {
                () = shutdown.cancelled() => break,
                event = events.recv() => match event {
                    Some(event) => self.dedupe.observe(SystemTime::now(), &event).into_iter().collect(),
                    None => break,
                },
                _ = tick.tick() => {
                    let notices = self.dedupe.tick(SystemTime::now());
                    self.save().await;
                    notices
                }
            };
            for notice in &notices {
                self.send(notice);
            }
            self.stats.set_suppressed(self.dedupe.suppressed());
        }
        self.save().await;
    }

    /// Saves the dedupe's state if it changed since the last save; a
    /// failure is logged and the next tick tries again.
    async fn save(&mut self) {
        let state = self.dedupe.state();
        if state == self.saved {
            return;
        }
        let path = self.state_path.clone();
        let copy = state.clone();
        let saved = tokio::task::spawn_blocking(move || state_file::save(&path, &copy)).await;
        match saved {
            Ok(Ok(())) => self.saved = state,
            Ok(Err(e)) => warn!("saving the alerter's state failed: {e}"),
            Err(e) => warn!("saving the alerter's state failed: {e}"),
        }
    }

    fn send(&self, notice: &Notice) {
        let (counter, principal) = match notice {
            Notice::Firing { event, .. } => (&self.stats.firing, &event.principal),
            Notice::Resolved { event, .. } => (&self.stats.resolved, &event.principal),
        };
        counter.add(1);
        info!(%principal, firing = matches!(notice, Notice::Firing { .. }), "alert notification");
        let explore = self.explore.as_deref();
        for hook in &self.hooks {
            let body = match hook.kind {
                WebhookKind::Slack => slack::message(notice, explore),
                WebhookKind::Alertmanager => alertmanager::body(notice, explore),
            };
            if hook.queue.try_send(body).is_err() {
                self.stats.queue_full.add(1);
            }
        }
    }
}

/// Delivers one webhook's notifications in order.
struct Worker {
    http: reqwest::Client,
    url: Url,
    attempts: u32,
    backoff: Duration,
    stats: Arc<AlertStats>,
}

impl Worker {
    async fn run(self, mut pending: mpsc::Receiver<Value>, shutdown: CancellationToken) {
        loop {
            let body = tokio::select! {
                () = shutdown.cancelled() => return,
                body = pending.recv() => match body {
                    Some(body) => body,
                    None => return,
                },
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.deliver(&body) => {}
            }
        }
    }

    /// Attempts until a 2xx, a refusal (4xx other than 429: sending again
    /// cannot help) or the last attempt. Errors are logged with the host
    /// only: the URL is the secret.
    async fn deliver(&self, body: &Value) {
        let webhook = redacted(&self.url);
        let body = body.to_string();
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            let sent = self
                .http
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let why = match sent {
                Ok(resp) if resp.status().is_success() => {
                    self.stats.delivered.add(1);
                    debug!(%webhook, "notification delivered");
                    return;
                }
                Ok(resp) if resp.status().is_client_error() && resp.status().as_u16() != 429 => {
                    self.stats.failed.add(1);
                    warn!(%webhook, status = resp.status().as_u16(), "webhook refused the notification");
                    return;
                }
                Ok(resp) => format!("status {}", resp.status().as_u16()),
                Err(e) => e.without_url().to_string(),
            };
            if attempt == self.attempts {
                break;
            }
            self.stats.retries.add(1);
            debug!(%webhook, attempt, "webhook failed ({why}); retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
        self.stats.failed.add(1);
        warn!(%webhook, attempts = self.attempts, "notification not delivered");
    }
}

/// `status_401_403_ratio (principal, 1m): 0.95, expected 0.02 (z 14.1)`.
fn reason_line(r: &Reason) -> String {
    let name = |v: Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let feature = serde_json::to_value(r.feature)
        .map(name)
        .unwrap_or_default();
    let scope = serde_json::to_value(r.scope).map(name).unwrap_or_default();
    let window = r
        .window
        .and_then(|w| serde_json::to_value(w).ok())
        .map(|w| format!(", {}", name(w)))
        .unwrap_or_default();
    format!(
        "{feature} ({scope}{window}): {}, expected {} (z {})",
        r.observed, r.expected, r.z
    )
}

fn rfc3339(t: SystemTime) -> String {
    format_ts(unix_nanos(t))
}

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// The Explore link template with this notice's values filled in.
fn explore_link(template: &str, notice: &Notice) -> String {
    let (event, from, to) = match notice {
        Notice::Firing { event, started, .. } => (event, *started, *started + EXPLORE_MARGIN),
        Notice::Resolved {
            event,
            started,
            ended,
            ..
        } => (event, *started, *ended),
    };
    let from = from.checked_sub(EXPLORE_MARGIN).unwrap_or(from);
    let enc = |s: &str| byte_serialize(s.as_bytes()).collect::<String>();
    template
        .replace("{principal}", &enc(&event.principal))
        .replace(
            "{correlation_id}",
            &enc(event.correlation_ids.first().map_or("", String::as_str)),
        )
        .replace("{from}", &unix_ms(from).to_string())
        .replace("{to}", &unix_ms(to).to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::score::attribution::Direction;
    use crate::score::features::{Feature, WindowId};
    use crate::score::model::{Group, Scope};

    fn notice(resolved: bool) -> Notice {
        let event = AnomalyEvent {
            principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
            destination: "orders".into(),
            score: 0.97,
            window_start: "2027-01-15T08:00:00.000000000Z".into(),
            reasons: vec![Reason {
                feature: Feature::Status401Ratio,
                scope: Scope::Principal,
                window: Some(WindowId::OneMinute),
                direction: Direction::Above,
                observed: 0.95,
                expected: 0.02,
                z: 14.1,
                share: 1.0,
            }],
            correlation_ids: vec!["c-1".into(), "c-2".into()],
        };
        let started = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        if resolved {
            Notice::Resolved {
                event,
                reason: Group::ClientErrors,
                started,
                ended: started + Duration::from_secs(600),
            }
        } else {
            Notice::Firing {
                event,
                reason: Group::ClientErrors,
                started,
            }
        }
    }

    const EXPLORE: &str =
        "https://grafana.example/explore?p={principal}&id={correlation_id}&from={from}&to={to}";

    #[tokio::test]
    async fn an_open_episode_is_not_notified_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let Notice::Firing { event, .. } = notice(false) else {
            unreachable!()
        };
        let shutdown = CancellationToken::new();
        let mut firing = Vec::new();
        let mut duplicates = Vec::new();
        for _ in 0..2 {
            let alerting = start(&AlertConfig::default(), dir.path(), &shutdown).unwrap();
            alerting.events.send(event.clone()).await.unwrap();
            // The queue's end stops it, after this event, with its state saved.
            drop(alerting.events);
            alerting.done.await.unwrap();
            firing.push(alerting.stats.firing.get());
            duplicates.push(alerting.stats.suppressed().duplicate);
        }
        assert!(dir.path().join("alert-state.json").exists());
        assert_eq!((firing, duplicates), (vec![1, 0], vec![0, 1]));
    }

    #[test]
    fn suppressed_events_are_counted_by_cause() {
        let stats = AlertStats::default();
        let telemetry = Telemetry::new();
        stats.register(&telemetry);
        stats.set_suppressed(Suppressed {
            duplicate: 3,
            rate_cap: 1,
            ..Suppressed::default()
        });
        stats.set_suppressed(Suppressed {
            duplicate: 5,
            rate_cap: 1,
            ..Suppressed::default()
        });
        let text = telemetry.encode();
        assert!(
            text.contains("observatory_alerts_suppressed_total{cause=\"duplicate\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("observatory_alerts_suppressed_total{cause=\"rate_cap\"} 1"),
            "{text}"
        );
        assert_eq!(stats.suppressed().duplicate, 5);
    }

    #[test]
    fn slack_message_has_text_and_blocks_with_everything_on_call_needs() {
        let m = slack::message(&notice(false), Some(EXPLORE));
        let text = m["text"].as_str().unwrap();
        assert!(text.contains("Anomaly (client_errors)"), "{text}");
        assert!(
            text.contains("spiffe://cluster.local/ns/shop/sa/web → orders scored 0.97"),
            "{text}"
        );
        let blocks = m["blocks"].to_string();
        for needle in [
            "*Destination*\\n`orders`",
            "*Score*\\n0.97",
            "status_401_403_ratio (principal, 1m): 0.95, expected 0.02 (z 14.1)",
            "`c-1`, `c-2`",
        ] {
            assert!(blocks.contains(needle), "{needle} in {blocks}");
        }
        let button = &m["blocks"][4]["elements"][0];
        assert_eq!(
            button["url"],
            "https://grafana.example/explore?p=spiffe%3A%2F%2Fcluster.local%2Fns%2Fshop%2Fsa%2Fweb&id=c-1&from=1799999100000&to=1800000900000"
        );
        let resolved = slack::message(&notice(true), None);
        assert!(resolved["text"].as_str().unwrap().contains("Resolved"));
        assert_eq!(
            resolved["blocks"].as_array().unwrap().len(),
            4,
            "no link configured"
        );
    }

    #[test]
    fn alertmanager_body_matches_firing_and_resolve_by_labels() {
        let firing = alertmanager::body(&notice(false), Some(EXPLORE));
        let resolved = alertmanager::body(&notice(true), None);
        assert_eq!(firing[0]["labels"], resolved[0]["labels"]);
        assert_eq!(firing[0]["labels"]["alertname"], "ObservatoryAnomaly");
        assert_eq!(firing[0]["labels"]["reason"], "client_errors");
        assert_eq!(firing[0]["startsAt"], "2027-01-15T08:00:00.000000000Z");
        assert!(firing[0].get("endsAt").is_none());
        assert_eq!(resolved[0]["endsAt"], "2027-01-15T08:10:00.000000000Z");
        assert_eq!(firing[0]["annotations"]["correlation_ids"], "c-1,c-2");
        assert!(firing[0]["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("https://grafana.example/"));
    }
}
