//! When to notify: one notification per (principal, reason) episode, a
//! cooldown between episodes, a resolve once the principal has been quiet
//! for a while, and a global rate cap. Pure state: time is passed in, so
//! tests drive it with their own clock.
//!
//! The reason of an event is the family ([`Group`]) of its top reason: the
//! 401/403 ratio, the 4xx ratio and the denied ratio of one burst are one
//! reason, not three alerts.
//!
//! What it remembers ([`DedupeState`]: open episodes, last notifications,
//! the last minute's notifications) is kept across restarts by the alerter,
//! so a restart neither notifies an open episode again nor forgets a
//! cooldown.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::score::event::AnomalyEvent;
use crate::score::model::Group;

/// Episodes tracked at once; events of further (principal, reason) pairs
/// are counted as suppressed.
const MAX_ACTIVE: usize = 10_000;
const MINUTE: Duration = Duration::from_secs(60);

/// (principal, reason family).
pub type Key = (String, Group);

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Firing {
        event: AnomalyEvent,
        reason: Group,
        started: SystemTime,
    },
    Resolved {
        event: AnomalyEvent,
        reason: Group,
        started: SystemTime,
        ended: SystemTime,
    },
}

/// Counts of what was not sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suppressed {
    /// Events of an episode already notified.
    pub duplicate: u64,
    /// New episodes within the cooldown of the last notification.
    pub cooldown: u64,
    /// New episodes beyond `max_per_minute`.
    pub rate_cap: u64,
    /// New episodes beyond the tracking limit.
    pub overflow: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Episode {
    /// The event that opened it (what a resolve refers to).
    event: AnomalyEvent,
    started: SystemTime,
    last_anomalous: SystemTime,
    /// Whether a firing notification went out (only then is a resolve sent).
    notified: bool,
}

pub struct Dedupe {
    cooldown: Duration,
    resolve_after: Duration,
    max_per_minute: usize,
    episodes: HashMap<Key, Episode>,
    /// When each pair was last notified (pruned after the cooldown).
    last_notified: HashMap<Key, SystemTime>,
    /// Firing notifications of the last minute.
    recent: VecDeque<SystemTime>,
    suppressed: Suppressed,
}

/// What a [`Dedupe`] remembers, for the disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DedupeState {
    episodes: Vec<(Key, Episode)>,
    last_notified: Vec<(Key, SystemTime)>,
    recent: Vec<SystemTime>,
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

impl Dedupe {
    pub fn new(cooldown: Duration, resolve_after: Duration, max_per_minute: u32) -> Self {
        Dedupe {
            cooldown,
            resolve_after,
            max_per_minute: max_per_minute as usize,
            episodes: HashMap::new(),
            last_notified: HashMap::new(),
            recent: VecDeque::new(),
            suppressed: Suppressed::default(),
        }
    }

    pub fn suppressed(&self) -> Suppressed {
        self.suppressed
    }

    /// What it remembers, in a stable order.
    pub fn state(&self) -> DedupeState {
        let mut episodes: Vec<(Key, Episode)> = self
            .episodes
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        episodes.sort_by(|a, b| a.1.started.cmp(&b.1.started).then_with(|| a.0.cmp(&b.0)));
        let mut last_notified: Vec<(Key, SystemTime)> = self
            .last_notified
            .iter()
            .map(|(k, t)| (k.clone(), *t))
            .collect();
        last_notified.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        DedupeState {
            episodes,
            last_notified,
            recent: self.recent.iter().copied().collect(),
        }
    }

    /// Takes up what an earlier [`Dedupe::state`] remembered (beyond the
    /// tracking limit, the oldest episodes are dropped).
    pub fn restore(&mut self, state: DedupeState) {
        let skip = state.episodes.len().saturating_sub(MAX_ACTIVE);
        self.episodes = state.episodes.into_iter().skip(skip).collect();
        self.last_notified = state.last_notified.into_iter().collect();
        self.recent = state.recent.into_iter().collect();
    }

    /// An anomalous principal-minute at `now`: a firing notice if it opens
    /// an episode that may be notified.
    pub fn observe(&mut self, now: SystemTime, event: &AnomalyEvent) -> Option<Notice> {
        let reason = event
            .reasons
            .first()
            .map_or(Group::Novelty, |r| Group::of(r.feature));
        let key = (event.principal.clone(), reason);
        if let Some(episode) = self.episodes.get_mut(&key) {
            episode.last_anomalous = now;
            self.suppressed.duplicate += 1;
            return None;
        }
        if self.episodes.len() >= MAX_ACTIVE {
            self.suppressed.overflow += 1;
            return None;
        }
        let cooling = self
            .last_notified
            .get(&key)
            .is_some_and(|t| since(now, *t) < self.cooldown);
        while self
            .recent
            .front()
            .is_some_and(|t| since(now, *t) >= MINUTE)
        {
            self.recent.pop_front();
        }
        let capped = self.recent.len() >= self.max_per_minute;
        let notified = match (cooling, capped) {
            (true, _) => {
                self.suppressed.cooldown += 1;
                false
            }
            (false, true) => {
                self.suppressed.rate_cap += 1;
                false
            }
            (false, false) => true,
        };
        self.episodes.insert(
            key.clone(),
            Episode {
                event: event.clone(),
                started: now,
                last_anomalous: now,
                notified,
            },
        );
        if !notified {
            return None;
        }
        self.recent.push_back(now);
        self.last_notified.insert(key, now);
        Some(Notice::Firing {
            event: event.clone(),
            reason,
            started: now,
        })
    }

    /// Ends the episodes quiet for `resolve_after`; resolve notices for
    /// those that were notified.
    pub fn tick(&mut self, now: SystemTime) -> Vec<Notice> {
        let resolve_after = self.resolve_after;
        let ended: Vec<Key> = self
            .episodes
            .iter()
            .filter(|(_, e)| since(now, e.last_anomalous) >= resolve_after)
            .map(|(k, _)| k.clone())
            .collect();
        let mut notices = Vec::new();
        for key in ended {
            if let Some(e) = self.episodes.remove(&key) {
                if e.notified {
                    notices.push(Notice::Resolved {
                        event: e.event,
                        reason: key.1,
                        started: e.started,
                        ended: now,
                    });
                }
            }
        }
        let cooldown = self.cooldown;
        self.last_notified.retain(|_, t| since(now, *t) < cooldown);
        notices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::attribution::{Direction, Reason};
    use crate::score::features::{Feature, WindowId};
    use crate::score::model::Scope;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn event(principal: &str, feature: Feature) -> AnomalyEvent {
        AnomalyEvent {
            principal: principal.into(),
            destination: "orders".into(),
            score: 0.97,
            window_start: String::new(),
            reasons: vec![Reason {
                feature,
                scope: Scope::Principal,
                window: Some(WindowId::OneMinute),
                direction: Direction::Above,
                observed: 0.9,
                expected: 0.01,
                z: 12.0,
                share: 1.0,
            }],
            correlation_ids: vec!["c".into()],
        }
    }

    fn dedupe() -> Dedupe {
        Dedupe::new(Duration::from_secs(900), Duration::from_secs(300), 2)
    }

    fn firing(n: Option<Notice>) -> bool {
        matches!(n, Some(Notice::Firing { .. }))
    }

    #[test]
    fn one_notification_per_episode_and_reason_family() {
        let mut d = dedupe();
        assert!(firing(
            d.observe(at(0), &event("a", Feature::Status401Ratio))
        ));
        // The same burst seen through another ratio of its family.
        assert!(d
            .observe(at(60), &event("a", Feature::DeniedRatio))
            .is_none());
        assert!(d
            .observe(at(120), &event("a", Feature::Status401Ratio))
            .is_none());
        assert_eq!(d.suppressed().duplicate, 2);
        // Another reason, or another principal, is its own alert.
        assert!(firing(d.observe(at(130), &event("a", Feature::BytesTotal))));
        assert!(d.tick(at(400)).is_empty(), "a was anomalous at 120 and 130");
    }

    #[test]
    fn resolves_once_quiet_and_cooldown_holds_back_a_quick_return() {
        let mut d = dedupe();
        let e = event("a", Feature::Status401Ratio);
        assert!(firing(d.observe(at(0), &e)));
        assert!(d.observe(at(100), &e).is_none());
        assert!(d.tick(at(399)).is_empty());
        let resolved = d.tick(at(400));
        assert!(
            matches!(&resolved[..], [Notice::Resolved { started, ended, .. }] if *started == at(0) && *ended == at(400)),
            "{resolved:?}"
        );
        // Back within the cooldown (900 s after the notification): counted,
        // not sent, and its quiet end sends no resolve either.
        assert!(d.observe(at(500), &e).is_none());
        assert_eq!(d.suppressed().cooldown, 1);
        assert!(d.tick(at(800)).is_empty());
        // After the cooldown it notifies again.
        assert!(firing(d.observe(at(901), &e)));
    }

    #[test]
    fn rate_cap_counts_what_it_suppresses() {
        let mut d = dedupe();
        assert!(firing(
            d.observe(at(0), &event("a", Feature::Status404Ratio))
        ));
        assert!(firing(
            d.observe(at(1), &event("b", Feature::Status404Ratio))
        ));
        assert!(d
            .observe(at(2), &event("c", Feature::Status404Ratio))
            .is_none());
        assert_eq!(d.suppressed().rate_cap, 1);
        // A minute later there is room again.
        assert!(firing(
            d.observe(at(61), &event("d", Feature::Status404Ratio))
        ));
        // c's episode was never notified: no resolve for it.
        let resolved = d.tick(at(400));
        assert_eq!(resolved.len(), 3, "{resolved:?}");
    }

    #[test]
    fn what_it_remembers_survives_a_restart() {
        let mut d = dedupe();
        let e = event("a", Feature::Status401Ratio);
        assert!(firing(d.observe(at(0), &e)));
        let saved = serde_json::to_string(&d.state()).unwrap_or_default();
        let mut restarted = dedupe();
        restarted.restore(serde_json::from_str(&saved).unwrap_or_default());
        assert_eq!(restarted.state(), d.state());
        // The open episode is not notified again, and resolves as before.
        assert!(restarted.observe(at(60), &e).is_none());
        assert_eq!(restarted.suppressed().duplicate, 1);
        let resolved = restarted.tick(at(400));
        assert!(
            matches!(&resolved[..], [Notice::Resolved { started, .. }] if *started == at(0)),
            "{resolved:?}"
        );
        // Its cooldown holds too.
        assert!(restarted.observe(at(500), &e).is_none());
        assert_eq!(restarted.suppressed().cooldown, 1);
    }
}
