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
mod tests {
    use super::*;

    const T0: f64 = 1_795_731_300.0;

    /// The last score of a loop; a loop that scored nothing counts as quiet.
    fn or_quiet(last: Option<Scored>) -> Scored {
        last.unwrap_or(Scored {
            score: 0.0,
            warmup: true,
            reasons: vec![],
        })
    }

    fn obs(key: &str, dest: &str, path: &str, status: u32) -> Observation {
        Observation {
            source_principal: key.to_owned(),
            source_ip: "10.0.0.1".to_owned(),
            mtls: true,
            destination_workload: dest.to_owned(),
            method: "GET".to_owned(),
            path: path.to_owned(),
            status,
            duration_ms: 10.0,
            response_bytes: 2_000,
            decision: "allow".to_owned(),
            ..Default::default()
        }
    }

    fn config() -> ScoreConfig {
        ScoreConfig {
            warmup_secs: 600.0,
            ..Default::default()
        }
    }

    /// One request every `every` seconds from `from` to `to` (relative to T0).
    fn steady(s: &mut Scorer, key: &str, from: f64, to: f64, every: f64) -> f64 {
        let (mut t, mut max, mut item) = (from, 0.0f64, false);
        while t < to {
            item = !item;
            let path = if item { "/api/orders/1" } else { "/api/orders" };
            max = max.max(s.score(T0 + t, &obs(key, "orders", path, 200)).score);
            t += every;
        }
        max
    }

    fn has(scored: &Scored, f: Feature) -> bool {
        scored.reasons.iter().any(|r| r.feature == f)
    }

    #[test]
    fn warmup_is_flagged_by_record_time() {
        let mut s = Scorer::new(config());
        assert!(s.score(T0, &obs("a", "orders", "/", 200)).warmup);
        assert!(s.score(T0 + 599.0, &obs("a", "orders", "/", 200)).warmup);
        assert!(!s.score(T0 + 601.0, &obs("a", "orders", "/", 200)).warmup);
        // Time never runs backwards.
        assert!(!s.score(T0, &obs("a", "orders", "/", 200)).warmup);
    }

    #[test]
    fn steady_traffic_is_quiet() {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, 2.0);
        assert!(steady(&mut s, "a", 1800.0, 3600.0, 2.0) < 0.3);
    }

    /// An attack on a scorer that saw half an hour of steady traffic from
    /// "a" (a request every `baseline_every` seconds): `count` records made
    /// by `record`, one every `every` seconds, with the steady traffic going
    /// on in between when `baseline_goes_on`.
    struct Attack {
        baseline_every: f64,
        baseline_goes_on: bool,
        count: u32,
        every: f64,
        record: fn(u32) -> Observation,
    }

    impl Attack {
        /// The score of the last attack record.
        fn last_score(&self) -> Scored {
            let mut s = Scorer::new(config());
            steady(&mut s, "a", 0.0, 1800.0, self.baseline_every);
            let mut last = None;
            for i in 0..self.count {
                let mut t = 1800.0 + f64::from(i) * self.every;
                if self.baseline_goes_on {
                    steady(&mut s, "a", t, t + self.every, self.baseline_every);
                    t += self.every - 0.1;
                }
                last = Some(s.score(T0 + t, &(self.record)(i)));
            }
            or_quiet(last)
        }
    }

    #[test]
    fn credential_stuffing_pages_with_its_reason() {
        let last = Attack {
            baseline_every: 2.0,
            baseline_goes_on: false,
            count: 600,
            every: 0.5,
            record: |_| obs("a", "auth", "/api/login", 401),
        }
        .last_score();
        assert!(last.score >= 0.85, "{last:?}");
        let top = &last.reasons[0];
        assert!(
            matches!(
                top.feature,
                Feature::Status401Ratio | Feature::Status4xxRatio
            ),
            "{top:?}"
        );
        assert!(top.observed > 0.8 && top.expected < 0.05, "{top:?}");
        // Five minutes of attack are still anomalous: it was not learnt.
    }

    #[test]
    fn attacks_page_with_their_reason() {
        let one_a_second = |count: u32, record: fn(u32) -> Observation| Attack {
            baseline_every: 2.0,
            baseline_goes_on: false,
            count,
            every: 1.0,
            record,
        };
        let attacks: [(&str, Attack, &[Feature]); 3] = [
            (
                "enumeration counts distinct templates",
                one_a_second(120, |i| obs("a", "orders", &format!("/scan{i}/x.php"), 404)),
                &[Feature::DistinctTemplates, Feature::NovelPathTemplate],
            ),
            (
                // One large response every 30 s among two ordinary ones a second.
                "a trickle of large responses in a busy pair",
                Attack {
                    baseline_every: 0.5,
                    baseline_goes_on: true,
                    count: 10,
                    every: 30.0,
                    record: |_| Observation {
                        response_bytes: 400_000,
                        ..obs("a", "orders", "/api/orders/1/statements", 200)
                    },
                },
                &[Feature::LargeResponses],
            ),
            (
                "latency per destination",
                Attack {
                    baseline_every: 1.0,
                    ..one_a_second(900, |_| Observation {
                        duration_ms: 2_000.0,
                        ..obs("a", "orders", "/api/orders/1", 200)
                    })
                },
                &[Feature::LatencyP95Ms, Feature::LatencyP50Ms],
            ),
        ];
        for (name, attack, reasons) in attacks {
            let last = attack.last_score();
            assert!(last.score >= 0.85, "{name}: {last:?}");
            assert!(reasons.iter().any(|f| has(&last, *f)), "{name}: {last:?}");
        }
    }

    #[test]
    fn a_new_principal_is_novel() {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, 2.0);
        let first = s.score(
            T0 + 1800.0,
            &obs("stranger", "orders", "/api/orders/1", 200),
        );
        assert!(first.score >= 0.85, "{first:?}");
        assert!(has(&first, Feature::NewPrincipal), "{first:?}");
    }

    #[test]
    fn principals_seen_during_warmup_are_not_new() {
        let mut s = Scorer::new(ScoreConfig {
            warmup_secs: 60.0,
            ..config()
        });
        steady(&mut s, "a", 0.0, 50.0, 2.0);
        let later = s.score(T0 + 70.0, &obs("a", "orders", "/api/orders/1", 200));
        assert!(
            !later.warmup && !has(&later, Feature::NewPrincipal),
            "{later:?}"
        );
        let stranger = s.score(T0 + 71.0, &obs("b", "orders", "/api/orders/1", 200));
        assert!(has(&stranger, Feature::NewPrincipal), "{stranger:?}");
    }

    #[test]
    fn plaintext_is_keyed_by_source_ip_and_shows() {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, 2.0);
        let mut o = obs("", "payments", "/api/pay", 200);
        (o.mtls, o.source_ip) = (false, "10.9.9.9".to_owned());
        let scored = s.score(T0 + 1800.0, &o);
        assert_eq!(o.key(), "10.9.9.9");
        assert!(has(&scored, Feature::PlaintextShare), "{scored:?}");
    }

    #[test]
    fn bytes_and_redactions_per_principal() {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, 2.0);
        let mut big = obs("a", "orders", "/api/orders/1", 200);
        big.response_bytes = 50_000_000;
        big.redactions.insert("email".to_owned(), 30);
        big.redactions.insert("phone".to_owned(), 10);
        assert_eq!(big.redaction_count(), 40);
        let scored = s.score(T0 + 1800.0, &big);
        assert!(scored.score >= 0.85, "{scored:?}");
        assert!(
            has(&scored, Feature::BytesPerRequest) || has(&scored, Feature::BytesTotal),
            "{scored:?}"
        );
        assert!(has(&scored, Feature::RedactionsPerRequest), "{scored:?}");
    }

    #[test]
    fn time_of_day_needs_a_day_and_flags_rare_hours() {
        let mut s = Scorer::new(config());
        // Active only in the first 8 hours of each day (from T0), for two days.
        for day in 0..2 {
            steady(
                &mut s,
                "a",
                f64::from(day) * DAY_SECS,
                f64::from(day) * DAY_SECS + 8.0 * 3600.0,
                30.0,
            );
        }
        let scored = s.score(
            T0 + 2.0 * DAY_SECS - 6.0 * 3600.0,
            &obs("a", "orders", "/api/orders", 200),
        );
        let tod = scored
            .reasons
            .iter()
            .find(|r| r.feature == Feature::TimeOfDay);
        assert!(tod.is_some_and(|r| r.observed == 0.0), "{scored:?}");
    }

    #[test]
    fn anomalies_are_not_learnt() {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, 2.0);
        let mut scores = Vec::new();
        for i in 0..1200 {
            scores.push(
                s.score(
                    T0 + 1800.0 + f64::from(i),
                    &obs("a", "orders", "/api/orders", 403),
                )
                .score,
            );
        }
        // Twenty minutes in, a 100 % 403 rate is still as anomalous.
        assert!(
            scores.iter().skip(60).all(|x| *x >= 0.85),
            "{:?}",
            &scores[1100..]
        );
    }

    #[test]
    fn state_is_bounded_and_evictions_counted() {
        let cfg = ScoreConfig {
            max_principals: 2,
            max_templates: 2,
            max_pairs: 1,
            max_destinations: 1,
            ..config()
        };
        let mut s = Scorer::new(cfg);
        for (i, key) in ["a", "b", "c", "a"].iter().enumerate() {
            s.score(T0 + i as f64, &obs(key, "orders", "/x", 200));
        }
        assert_eq!(s.tracked(), (2, 1));
        assert_eq!(s.evictions().principals, 2, "c evicted a, a evicted b");
        for (i, path) in ["/p", "/q", "/r", "/r"].iter().enumerate() {
            s.score(T0 + 10.0 + i as f64, &obs("a", "orders", path, 200));
        }
        s.score(T0 + 20.0, &obs("a", "cart", "/r", 200));
        let e = s.evictions();
        assert_eq!((e.templates, e.pairs, e.destinations), (2, 1, 1), "{e:?}");
    }
}
