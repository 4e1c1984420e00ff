//! The scorer and its bounded state: per principal (plaintext: per source
//! IP), per (principal, destination) and per destination, each in LRU maps
//! with caps from [`ScoreConfig`]; evictions are counted.

use std::num::NonZeroUsize;

use lru::LruCache;

use super::attribution::{top_reasons, Reason};
use super::baseline::Baseline;
use super::features::Kind;
use super::features::{
    Count, Event, Feature, LatencyHistogram, RingSnapshot, Window, WindowId, DESTINATION_FEATURES,
    LARGE_FACTOR, LARGE_FLOOR_BYTES, N_COUNTS, PAIR_BYTES_PER_REQUEST, PAIR_FEATURES,
    PRINCIPAL_FEATURES,
};
use super::input::Observation;
use super::model::{Deviation, Scope, ScoreConfig};
use super::template::template;

/// Record time between two baseline updates of one key.
const LEARN_EVERY_SECS: f64 = 60.0;
/// Methods remembered per principal (there are few).
pub(super) const MAX_METHODS: usize = 16;
/// z of a workload identity first seen within
/// [`ScoreConfig::new_principal_secs`]: an unknown identity in the mesh
/// pages (0.85) on its own.
const NEW_PRINCIPAL_Z: f64 = 6.0;
/// The same for a plaintext source IP: IPs churn with pods, so on its own a
/// new one is a medium score (0.46); its plaintext share is what pages.
const NEW_SOURCE_IP_Z: f64 = 3.5;
/// History a principal needs before its time of day is judged.
const DAY_SECS: f64 = 86_400.0;

/// The result for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: f64,
    /// Within the warm-up period: the baselines are still forming.
    pub warmup: bool,
    pub reasons: Vec<Reason>,
}

/// Evictions so far, by map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evictions {
    pub principals: u64,
    pub templates: u64,
    pub pairs: u64,
    pub destinations: u64,
}

pub(super) type Baselines<const N: usize> = [[Baseline; N]; 2];

/// Something a windowed feature can be read from.
pub(super) trait Source: Default + Sized {
    fn value(&self, feature: Feature, window: WindowId) -> Option<(f64, f64)>;
    fn snapshot(&self) -> RingSnapshot;
    fn restore(s: &RingSnapshot) -> Option<Self>;
}

impl Source for Window {
    fn value(&self, feature: Feature, window: WindowId) -> Option<(f64, f64)> {
        Window::value(self, feature, window)
    }
    fn snapshot(&self) -> RingSnapshot {
        Window::snapshot(self)
    }
    fn restore(s: &RingSnapshot) -> Option<Self> {
        Window::restore(s)
    }
}

impl Source for LatencyHistogram {
    fn value(&self, feature: Feature, _: WindowId) -> Option<(f64, f64)> {
        LatencyHistogram::value(self, feature)
    }
    fn snapshot(&self) -> RingSnapshot {
        LatencyHistogram::snapshot(self)
    }
    fn restore(s: &RingSnapshot) -> Option<Self> {
        LatencyHistogram::restore(s)
    }
}

/// One key's windows, their baselines and when they learn next.
#[derive(Debug)]
pub(super) struct Tracked<S, const N: usize> {
    pub(super) windows: [S; 2],
    pub(super) baselines: Baselines<N>,
    pub(super) next_learn: f64,
    /// Highest score of this key's own features since it last learnt.
    pub(super) peak: f64,
}

impl<S: Source, const N: usize> Default for Tracked<S, N> {
    fn default() -> Self {
        Self {
            windows: Default::default(),
            baselines: [[Baseline::default(); N]; 2],
            next_learn: 0.0,
            peak: 0.0,
        }
    }
}

impl<S: Source, const N: usize> Tracked<S, N> {
    fn deviations(
        &self,
        features: &[Feature; N],
        prior: &Baselines<N>,
        scope: Scope,
        config: &ScoreConfig,
        out: &mut Vec<Deviation>,
    ) {
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            for (i, feature) in features.iter().enumerate() {
                if let Some(value) = self.windows[w].value(*feature, window) {
                    let b = self.baselines[w][i].blend(&prior[w][i]);
                    out.push(config.method.deviation(*feature, scope, window, value, &b));
                }
            }
        }
    }

    /// The 15-minute expectation of feature `i` in natural units.
    fn expected(&self, i: usize, prior: &Baselines<N>) -> f64 {
        let b = self.baselines[1][i].blend(&prior[1][i]);
        super::features::from_baseline(Kind::Log, b.mean)
    }

    /// Learns the current window values once per [`LEARN_EVERY_SECS`],
    /// unless this key scored [`ScoreConfig::learn_below`] or more since the
    /// last time (outside warm-up): anomalies must not poison the baseline.
    fn learn(
        &mut self,
        t: f64,
        score: f64,
        warmup: bool,
        learn_below: f64,
        features: &[Feature; N],
        prior: &mut Baselines<N>,
    ) {
        self.peak = self.peak.max(score);
        if t < self.next_learn {
            return;
        }
        if warmup || self.peak < learn_below {
            for (w, window) in WindowId::ALL.into_iter().enumerate() {
                for (i, feature) in features.iter().enumerate() {
                    if let Some((x, _)) = self.windows[w].value(*feature, window) {
                        let x = super::features::to_baseline(feature.kind(), x);
                        self.baselines[w][i].update(x);
                        prior[w][i].update(x);
                    }
                }
            }
        }
        self.peak = 0.0;
        self.next_learn = t + LEARN_EVERY_SECS;
    }
}

pub(super) struct Principal {
    pub(super) first_seen: f64,
    pub(super) tracked: Tracked<Window, { PRINCIPAL_FEATURES.len() }>,
    /// Template → last time used.
    pub(super) templates: LruCache<String, f64>,
    pub(super) methods: LruCache<String, ()>,
    pub(super) pairs: LruCache<String, Tracked<Window, { PAIR_FEATURES.len() }>>,
    /// Requests per hour of day (UTC).
    pub(super) hours: [f64; 24],
}

/// Streaming anomaly scorer. Feed records in time order.
pub struct Scorer {
    pub(super) config: ScoreConfig,
    pub(super) started: Option<f64>,
    pub(super) now: f64,
    pub(super) principals: LruCache<String, Principal>,
    pub(super) destinations:
        LruCache<String, Tracked<LatencyHistogram, { DESTINATION_FEATURES.len() }>>,
    pub(super) prior_principal: Baselines<{ PRINCIPAL_FEATURES.len() }>,
    pub(super) prior_pair: Baselines<{ PAIR_FEATURES.len() }>,
    pub(super) prior_destination: Baselines<{ DESTINATION_FEATURES.len() }>,
    pub(super) evictions: Evictions,
    scratch: Vec<(Deviation, f64)>,
}

pub(super) fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// The entry for `key`, created by `make` if missing (evicting the least
/// recently used beyond the cap, counted in `evicted`); `true` if new.
fn entry<'a, V>(
    cache: &'a mut LruCache<String, V>,
    key: &str,
    evicted: &mut u64,
    make: impl FnOnce() -> V,
) -> Option<(&'a mut V, bool)> {
    let new = !cache.contains(key);
    if new && cache.push(key.to_owned(), make()).is_some() {
        *evicted += 1;
    }
    cache.get_mut(key).map(|v| (v, new))
}

impl Scorer {
    pub fn new(config: ScoreConfig) -> Self {
        Self {
            principals: LruCache::new(cap(config.max_principals)),
            destinations: LruCache::new(cap(config.max_destinations)),
            config,
            started: None,
            now: f64::MIN,
            prior_principal: Default::default(),
            prior_pair: Default::default(),
            prior_destination: Default::default(),
            evictions: Evictions::default(),
            scratch: Vec::new(),
        }
    }

    pub fn evictions(&self) -> Evictions {
        self.evictions
    }

    /// Principals and destinations currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        (self.principals.len(), self.destinations.len())
    }

    /// Scores one record at record time `t` (seconds since the epoch; a time
    /// before the latest seen counts as the latest, so slightly unordered
    /// input from several proxies is fine) and learns from it.
    pub fn score(&mut self, t: f64, obs: &Observation) -> Scored {
        let t = t.max(self.now);
        self.now = t;
        let started = *self.started.get_or_insert(t);
        let warmup = t - started < self.config.warmup_secs;
        let (cfg, ev) = (&self.config, &mut self.evictions);
        let make_principal = || Principal {
            first_seen: t,
            tracked: Tracked::default(),
            templates: LruCache::new(cap(cfg.max_templates)),
            methods: LruCache::new(cap(MAX_METHODS)),
            pairs: LruCache::new(cap(cfg.max_pairs)),
            hours: [0.0; 24],
        };
        let Some((p, _)) = entry(
            &mut self.principals,
            obs.key(),
            &mut ev.principals,
            make_principal,
        ) else {
            return Scored {
                score: 0.0,
                warmup,
                reasons: Vec::new(),
            };
        };
        let Some((dest, _)) = entry(
            &mut self.destinations,
            &obs.destination_workload,
            &mut ev.destinations,
            Tracked::default,
        ) else {
            return Scored {
                score: 0.0,
                warmup,
                reasons: Vec::new(),
            };
        };

        // Novelty, then this request's events.
        let route = template(&obs.path);
        let last_used = p.templates.get(&route).copied();
        if p.templates
            .push(route, t)
            .is_some_and(|_| last_used.is_none())
        {
            ev.templates += 1;
        }
        let novel_method = p.methods.put(obs.method.clone(), ()).is_none();
        let mut event: Event = [0.0; N_COUNTS];
        let mut set = |c: Count, on: bool| event[c as usize] = if on { 1.0 } else { 0.0 };
        set(Count::Total, true);
        set(Count::Status4xx, (400..500).contains(&obs.status));
        set(
            Count::Status401Or403,
            obs.status == 401 || obs.status == 403,
        );
        set(Count::Status404, obs.status == 404);
        set(Count::Status5xx, (500..600).contains(&obs.status));
        set(Count::Denied, obs.decision == "deny");
        set(Count::Plaintext, !obs.mtls);
        set(Count::NovelTemplate, last_used.is_none());
        set(Count::NovelMethod, novel_method);
        event[Count::Bytes as usize] = obs.response_bytes as f64;
        event[Count::Redactions as usize] = obs.redaction_count() as f64;
        let Some((pair, novel_dest)) = entry(
            &mut p.pairs,
            &obs.destination_workload,
            &mut ev.pairs,
            Tracked::default,
        ) else {
            return Scored {
                score: 0.0,
                warmup,
                reasons: Vec::new(),
            };
        };
        event[Count::NovelDestination as usize] = if novel_dest { 1.0 } else { 0.0 };
        let expected_bytes = pair.expected(PAIR_BYTES_PER_REQUEST, &self.prior_pair);
        let large =
            obs.response_bytes as f64 > LARGE_FACTOR * expected_bytes.max(LARGE_FLOOR_BYTES);
        event[Count::Large as usize] = if large { 1.0 } else { 0.0 };
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            let mut e = event;
            let fresh = last_used.is_none_or(|seen| t - seen > window.tau());
            e[Count::TemplateInWindow as usize] = if fresh { 1.0 } else { 0.0 };
            p.tracked.windows[w].add(t, window, &e);
            pair.windows[w].add(t, window, &e);
            dest.windows[w].add(t, window, obs.duration_ms);
        }

        // Deviations per scope, scored per scope for learning and together.
        let method = cfg.method;
        let mut devs = Vec::new();
        p.tracked.deviations(
            &PRINCIPAL_FEATURES,
            &self.prior_principal,
            Scope::Principal,
            cfg,
            &mut devs,
        );
        if !warmup {
            // Whoever was seen during warm-up is the known population.
            let new_z = if p.first_seen - started < cfg.warmup_secs {
                0.0
            } else if obs.source_principal.is_empty() {
                NEW_SOURCE_IP_Z
            } else {
                NEW_PRINCIPAL_Z
            };
            devs.extend(direct_deviations(cfg, t - p.first_seen, new_z, t, &p.hours));
        }
        let principal_end = devs.len();
        pair.deviations(
            &PAIR_FEATURES,
            &self.prior_pair,
            Scope::Pair,
            cfg,
            &mut devs,
        );
        let pair_end = devs.len();
        dest.deviations(
            &DESTINATION_FEATURES,
            &self.prior_destination,
            Scope::Destination,
            cfg,
            &mut devs,
        );
        let scored = &mut self.scratch;
        scored.clear();
        scored.extend(devs.iter().map(|d| (*d, method.evidence(d))));
        let part = |r: std::ops::Range<usize>| method.score(scored[r].iter());
        let (ps, pairs_score, ds) = (
            part(0..principal_end),
            part(principal_end..pair_end),
            part(pair_end..scored.len()),
        );
        let score = method.score(scored.iter());
        let lb = cfg.learn_below;
        p.tracked.learn(
            t,
            ps,
            warmup,
            lb,
            &PRINCIPAL_FEATURES,
            &mut self.prior_principal,
        );
        pair.learn(
            t,
            pairs_score,
            warmup,
            lb,
            &PAIR_FEATURES,
            &mut self.prior_pair,
        );
        dest.learn(
            t,
            ds,
            warmup,
            lb,
            &DESTINATION_FEATURES,
            &mut self.prior_destination,
        );
        p.hours[hour_of_day(t)] += 1.0;
        Scored {
            score,
            warmup,
            reasons: top_reasons(scored),
        }
    }
}

fn hour_of_day(t: f64) -> usize {
    // Saturating cast; rem_euclid keeps it in 0..24.
    usize::try_from(((t / 3600.0).floor() as i64).rem_euclid(24)).unwrap_or(0)
}

/// Features of the principal itself rather than of its windows.
fn direct_deviations(
    cfg: &ScoreConfig,
    age: f64,
    new_z: f64,
    t: f64,
    hours: &[f64; 24],
) -> impl Iterator<Item = Deviation> {
    let new = (age < cfg.new_principal_secs && new_z > 0.0).then_some(Deviation {
        feature: Feature::NewPrincipal,
        scope: Scope::Principal,
        window: None,
        observed: 1.0,
        expected: 0.0,
        z: new_z,
    });
    // Share of this principal's requests in this hour of day against a flat
    // day; z counts how much rarer than average this hour is.
    let total: f64 = hours.iter().sum();
    let tod = (age >= DAY_SECS && total > 0.0).then(|| {
        let expected = 1.0 / 24.0;
        let observed = hours[hour_of_day(t)] / total;
        Deviation {
            feature: Feature::TimeOfDay,
            scope: Scope::Principal,
            window: None,
            observed,
            expected,
            z: (expected - observed) / (0.25 * expected),
        }
    });
    new.into_iter().chain(tod)
}

#[cfg(test)]
mod tests;
