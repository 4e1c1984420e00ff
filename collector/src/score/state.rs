//! The scorer: one record at a time, two scores with two owners.
//!
//! - **Behaviour** (what pages security), of the record's principal: its
//!   own error and deny ratios, novelty, enumeration, data volume, PII,
//!   plaintext, a new identity, slow leaks. A record takes a deviation in
//!   full only when it takes part in it (a 401 in a 401 storm, a large
//!   response in a data burst, a template new to the principal); the rest
//!   of its principal's behaviour in the last minute counts as context,
//!   weakly and capped, and 15-minute and longer windows not at all. So
//!   scores return to normal when behaviour does, and a principal's
//!   ordinary requests are not paged for its burst of 403s. A caller's
//!   error ratios towards a destination are judged against what the
//!   destination's other callers get meanwhile: the trouble everyone sees
//!   is the destination's, not the caller's.
//! - **Health** of the record's destination: latency, 5xx, load. It is
//!   reported beside the behaviour score and never added to it.
//!
//! Bursts of volume, data or PII that a pair's history expects (a periodic
//! job on time, [`super::bursts`]) count a fraction. State is bounded: LRU
//! maps with caps from [`ScoreConfig`]; evictions are counted.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use lru::LruCache;

use super::attribution::{top_reasons, Reason};
use super::baseline::Baseline;
use super::bursts::Level;
use super::config::{MeshMode, ScoreConfig};
use super::features::{
    from_baseline, to_baseline, Count, Event, Feature, Kind, LatencyHistogram, WindowId,
    LARGE_FACTOR, LARGE_FLOOR_BYTES, LATENCY_FEATURES, LONG_FEATURES, N_COUNTS,
    PAIR_BYTES_PER_REQUEST, PAIR_FEATURES, PRINCIPAL_FEATURES, SERVICE_FEATURES,
};
use super::identity::{is_admin, workload};
use super::input::Observation;
use super::keys::{Destination, Pair, Principal, Seen, MAX_METHODS, SENSITIVE_PII_SHARE};
use super::model::{Deviation, Group, Method, Scope, ALERT};
use super::template::template_into;
use super::tracked::{Baselines, Source as _};

/// z of an identity first seen after warm-up while it is new: it pages
/// (0.88) by itself until it has a history.
const NEW_PRINCIPAL_Z: f64 = 6.5;
/// The same for an identity whose workload is known in another trust
/// domain (another cluster's replica), and for a plaintext source IP (IPs
/// churn with pods): a medium score (0.46) on its own.
const NEW_SIBLING_Z: f64 = 3.5;
const NEW_SOURCE_IP_Z: f64 = 3.5;
/// Added for a new identity on an admin route or a sensitive destination.
const SENSITIVE_Z: f64 = 1.5;
/// Plaintext in a strict mesh: a policy violation, pages (0.94) by itself.
const STRICT_PLAINTEXT_Z: f64 = 8.0;
/// Plaintext to a destination that never received any (permissive mesh).
const NEW_PLAINTEXT_DESTINATION_Z: f64 = 6.5;
/// A PII type the pair never carried.
const NEW_PII_TYPE_Z: f64 = 4.0;
/// Successful responses a pair needs before a new PII type counts.
const RECORD_HISTORY: f64 = 20.0;
/// Slowest per-response learning rate (a memory of ~100 responses).
const RECORD_ALPHA: f64 = 0.01;
/// A response this many scales above its pair's usual size (or PII count)
/// takes part in the data (PII) signals.
const LARGE_Z: f64 = 2.0;
/// Seconds a template or a destination stays new to a principal.
const YOUNG_SECS: f64 = 900.0;
/// Weight of the last minute's deviations a record takes no part in
/// (its pair's, its principal's), and the most one of them counts.
const CONTEXT_PAIR: f64 = 0.6;
const CONTEXT_PRINCIPAL: f64 = 0.4;
const CONTEXT_MAX: f64 = 1.5;
/// What an expected burst's volume, data and PII evidence counts.
const BURST_DISCOUNT: f64 = 0.15;
/// Other callers' requests needed before a caller's share is judged
/// against theirs.
const MIN_OTHERS: f64 = 5.0;
/// z below this is noise (as in the model).
const Z_NOISE: f64 = 2.0;
/// History a principal needs before its time of day is judged.
const DAY_SECS: f64 = 86_400.0;

/// The result for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Behaviour score in [0, 1]; 0 during warm-up.
    pub score: f64,
    /// Within the warm-up period: the baselines are still forming and
    /// there is no score.
    pub warmup: bool,
    pub reasons: Vec<Reason>,
    /// The destination's health score in [0, 1] (0: healthy, or warm-up).
    pub health: f64,
    pub health_reasons: Vec<Reason>,
}

impl Scored {
    fn quiet(warmup: bool) -> Self {
        Scored {
            score: 0.0,
            warmup,
            reasons: Vec::new(),
            health: 0.0,
            health_reasons: Vec::new(),
        }
    }
}

/// Evictions so far, by map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evictions {
    pub principals: u64,
    pub templates: u64,
    pub pairs: u64,
    pub destinations: u64,
}

/// What the record itself is: which deviations it takes part in.
struct Facts {
    status: u32,
    denied: bool,
    plaintext: bool,
    /// Its template was not used by the principal within each short window.
    fresh: [bool; 2],
    young_template: bool,
    novel_method: bool,
    young_pair: bool,
    /// Far larger than the pair's usual response ([`LARGE_Z`]), and one
    /// of the [`Count::Large`] ones.
    large: bool,
    large_response: bool,
    pii: bool,
}

impl Facts {
    fn takes_part(&self, feature: Feature, w: usize) -> bool {
        let s = self.status;
        match feature {
            Feature::Status4xxRatio => (400..500).contains(&s),
            Feature::Status401Ratio => s == 401 || s == 403,
            Feature::Status404Ratio => s == 404,
            Feature::DeniedRatio => self.denied,
            Feature::Status5xxRatio => (500..600).contains(&s),
            Feature::PlaintextShare => self.plaintext,
            Feature::NovelPathTemplate => self.young_template,
            Feature::DistinctTemplates => self.fresh[w],
            Feature::NovelMethod => self.novel_method,
            Feature::NovelDestination => self.young_pair,
            Feature::BytesPerRequest | Feature::BytesTotal => self.large,
            Feature::LargeResponses => self.large_response,
            Feature::RedactionsPerRequest | Feature::RedactionsTotal => self.pii,
            _ => true,
        }
    }
}

/// Largest evidence per signal family, for a key's own score.
#[derive(Default)]
struct Groups([f64; Group::COUNT]);

impl Groups {
    fn add(&mut self, d: &Deviation, e: f64) {
        let g = &mut self.0[Group::of(d.feature) as usize];
        *g = g.max(e);
    }

    fn score(&self) -> f64 {
        super::model::to_score(self.0.iter().map(|e| e * e).sum::<f64>().sqrt())
    }
}

/// Families an expected burst is discounted in.
fn bursty(g: Group) -> bool {
    matches!(g, Group::Volume | Group::Data | Group::Pii)
}

/// Feature values kept per record with [`ScoreConfig::keep_features`], in
/// this order: principal (2 × 13), pair (2 × 9), long (2 × 2), latency
/// (2 × 2), service (2 × 2), then the record's own.
const N_FEATURES: usize = 2
    * (PRINCIPAL_FEATURES.len()
        + PAIR_FEATURES.len()
        + LONG_FEATURES.len()
        + LATENCY_FEATURES.len()
        + SERVICE_FEATURES.len())
    + RECORD_VALUES;
const RECORD_VALUES: usize = 6;
const AT_PAIR: usize = 2 * PRINCIPAL_FEATURES.len();
const AT_LONG: usize = AT_PAIR + 2 * PAIR_FEATURES.len();
const AT_LATENCY: usize = AT_LONG + 2 * LONG_FEATURES.len();
const AT_SERVICE: usize = AT_LATENCY + 2 * LATENCY_FEATURES.len();
const AT_RECORD: usize = AT_SERVICE + 2 * SERVICE_FEATURES.len();

/// Streaming anomaly scorer. Feed records in time order.
pub struct Scorer {
    pub(super) config: ScoreConfig,
    pub(super) started: Option<f64>,
    pub(super) now: f64,
    pub(super) principals: LruCache<String, Principal>,
    pub(super) destinations: LruCache<String, Destination>,
    /// Workloads (`ns/…/sa/…`) of established identities, any trust domain.
    pub(super) workloads: LruCache<String, ()>,
    pub(super) prior_principal: Baselines<{ PRINCIPAL_FEATURES.len() }>,
    pub(super) prior_long: Baselines<{ LONG_FEATURES.len() }>,
    pub(super) prior_pair: Baselines<{ PAIR_FEATURES.len() }>,
    pub(super) prior_latency: Baselines<{ LATENCY_FEATURES.len() }>,
    pub(super) prior_service: Baselines<{ SERVICE_FEATURES.len() }>,
    /// Everyone's responses: what a new pair's are judged against.
    pub(super) prior_bytes: Baseline,
    pub(super) prior_redactions: Baseline,
    pub(super) evictions: Evictions,
    devs: Vec<(Deviation, f64)>,
    health_devs: Vec<(Deviation, f64)>,
    features: Vec<f64>,
    /// The current record's route.
    route: String,
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

/// One bit per PII type name.
fn pii_bits(redactions: &BTreeMap<Cow<'_, str>, u64>) -> u64 {
    redactions
        .iter()
        .filter(|(_, n)| **n > 0)
        .fold(0, |bits, (name, _)| {
            // FNV-1a: stable across runs and versions, for the checkpoint.
            let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            bits | 1 << (h % 64)
        })
}

fn hour_of_day(t: f64) -> usize {
    // Saturating cast; rem_euclid keeps it in 0..24.
    usize::try_from(((t / 3600.0).floor() as i64).rem_euclid(24)).unwrap_or(0)
}

fn direct(feature: Feature, z: f64) -> Deviation {
    Deviation {
        feature,
        scope: if feature == Feature::PlaintextToNewDestination {
            Scope::Destination
        } else {
            Scope::Principal
        },
        window: None,
        observed: 1.0,
        mu: 0.0,
        z,
    }
}

impl Scorer {
    pub fn new(config: ScoreConfig) -> Self {
        Self {
            principals: LruCache::new(cap(config.max_principals)),
            destinations: LruCache::new(cap(config.max_destinations)),
            workloads: LruCache::new(cap(config.max_principals)),
            config,
            started: None,
            now: f64::MIN,
            prior_principal: Default::default(),
            prior_long: Default::default(),
            prior_pair: Default::default(),
            prior_latency: Default::default(),
            prior_service: Default::default(),
            prior_bytes: Baseline::default(),
            prior_redactions: Baseline::default(),
            evictions: Evictions::default(),
            devs: Vec::new(),
            health_devs: Vec::new(),
            features: Vec::new(),
            route: String::new(),
        }
    }

    pub fn evictions(&self) -> Evictions {
        self.evictions
    }

    /// Principals and destinations currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        (self.principals.len(), self.destinations.len())
    }

    /// The last record's feature values (in baseline units: logs of sizes
    /// and rates, shares), always in the same order; empty unless
    /// [`ScoreConfig::keep_features`].
    pub fn features(&self) -> &[f64] {
        &self.features
    }

    /// Scores one record at record time `t` (seconds since the epoch; a time
    /// before the latest seen counts as the latest, so slightly unordered
    /// input from several proxies is fine) and learns from it.
    pub fn score(&mut self, t: f64, obs: &Observation<'_>) -> Scored {
        let t = t.max(self.now);
        self.now = t;
        let started = *self.started.get_or_insert(t);
        let warmup = t - started < self.config.warmup_secs;
        let Scorer {
            config: cfg,
            principals,
            destinations,
            workloads,
            evictions: ev,
            devs,
            health_devs,
            features,
            route,
            ..
        } = self;
        let keep = cfg.keep_features;
        if keep {
            features.clear();
            features.resize(N_FEATURES, 0.0);
        }
        let key = obs.key();
        let make_principal = || Principal {
            first_seen: t,
            requests: 0,
            known: warmup,
            established: false,
            tracked: Default::default(),
            long: Default::default(),
            templates: LruCache::new(cap(cfg.max_templates)),
            methods: LruCache::new(cap(MAX_METHODS)),
            pairs: LruCache::new(cap(cfg.max_pairs)),
            hours: [0.0; 24],
        };
        let Some((p, _)) = entry(principals, key, &mut ev.principals, make_principal) else {
            return Scored::quiet(warmup);
        };
        p.requests += 1;
        let Some((dest, _)) = entry(
            destinations,
            &obs.destination_workload,
            &mut ev.destinations,
            Destination::default,
        ) else {
            return Scored::quiet(warmup);
        };

        // Novelty, then this request's events. The route is built in a
        // reused buffer and copied only for a template new to the principal.
        template_into(&obs.path, route);
        let admin = is_admin(route);
        let seen = match p.templates.get_mut(route.as_str()) {
            Some(s) => {
                let before = *s;
                s.last = t;
                Some(before)
            }
            None => {
                let new = Seen { first: t, last: t };
                if p.templates.push(route.clone(), new).is_some() {
                    ev.templates += 1;
                }
                None
            }
        };
        let novel_method = p.methods.get(&*obs.method).is_none();
        if novel_method {
            p.methods.put(obs.method.to_string(), ());
        }
        let Some((pair, new_pair)) = entry(
            &mut p.pairs,
            &obs.destination_workload,
            &mut ev.pairs,
            || Pair::new(t),
        ) else {
            return Scored::quiet(warmup);
        };
        let ok = (200..300).contains(&obs.status);
        let redactions = obs.redaction_count() as f64;
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
        set(Count::NovelTemplate, seen.is_none());
        set(Count::NovelMethod, novel_method);
        set(Count::NovelDestination, new_pair);
        event[Count::Bytes as usize] = obs.response_bytes as f64;
        event[Count::Redactions as usize] = redactions;
        let expected_bytes = from_baseline(
            Kind::Log,
            pair.tracked
                .baseline(1, PAIR_BYTES_PER_REQUEST, &self.prior_pair)
                .mean,
        );
        let large_response =
            obs.response_bytes as f64 > LARGE_FACTOR * expected_bytes.max(LARGE_FLOOR_BYTES);
        event[Count::Large as usize] = if large_response { 1.0 } else { 0.0 };
        let mut fresh = [false; 2];
        let latency_bucket = LatencyHistogram::bucket_of(obs.duration_ms);
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            let mut e = event;
            fresh[w] = seen.is_none_or(|s| t - s.last > window.tau());
            e[Count::TemplateInWindow as usize] = if fresh[w] { 1.0 } else { 0.0 };
            p.tracked.windows[w].add(t, window, &e);
            pair.tracked.windows[w].add(t, window, &e);
            dest.service.windows[w].add(t, window, &e);
            dest.latency.windows[w].add_to(t, window, latency_bucket);
        }

        // The response against what its pair usually gets.
        let bytes_l = (obs.response_bytes as f64).ln_1p();
        let reds_l = redactions.ln_1p();
        let rb = pair.bytes.blend(&self.prior_bytes);
        let rr = pair.redactions.blend(&self.prior_redactions);
        let z_bytes = (bytes_l - rb.mean) / rb.scale.max(Feature::ResponseBytes.log_floor());
        let z_reds = (reds_l - rr.mean) / rr.scale.max(Feature::ResponseRedactions.log_floor());
        let bits = pii_bits(&obs.redactions);
        let new_pii = ok && pair.bytes.n >= RECORD_HISTORY && bits & !pair.pii_types != 0;
        let facts = Facts {
            status: obs.status,
            denied: obs.decision == "deny",
            plaintext: !obs.mtls,
            fresh,
            young_template: seen.is_none_or(|s| t - s.first < YOUNG_SECS) && !warmup,
            novel_method,
            young_pair: t - pair.first_seen < YOUNG_SECS && !warmup,
            large: ok && z_bytes >= LARGE_Z,
            large_response,
            pii: ok && redactions > 0.0 && z_reds >= LARGE_Z,
        };

        let method = cfg.method;
        let mut naive = 0.0f64;

        // The destination's health: 15 minutes count only while the last
        // minute shows the trouble too.
        health_devs.clear();
        let dsums = [0, 1].map(|w| dest.service.windows[w].sums(WindowId::ALL[w]));
        let mut short_z = [0.0f64; LATENCY_FEATURES.len() + SERVICE_FEATURES.len()];
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            let latency = dest.latency.windows[w].values(window, &LATENCY_FEATURES);
            let service = SERVICE_FEATURES.map(|f| dsums[w].value(f));
            let values = latency.iter().chain(&service);
            let features_at = LATENCY_FEATURES.iter().chain(&SERVICE_FEATURES);
            for (k, (f, v)) in features_at.zip(values).enumerate() {
                let Some(v) = *v else { continue };
                let b = if k < LATENCY_FEATURES.len() {
                    dest.latency.baseline(w, k, &self.prior_latency)
                } else {
                    let i = k - LATENCY_FEATURES.len();
                    dest.service.baseline(w, i, &self.prior_service)
                };
                let d = method.deviation(*f, Scope::Destination, Some(window), v, &b, 0.0);
                if keep {
                    let at = if k < LATENCY_FEATURES.len() {
                        AT_LATENCY + w * LATENCY_FEATURES.len() + k
                    } else {
                        AT_SERVICE + w * SERVICE_FEATURES.len() + k - LATENCY_FEATURES.len()
                    };
                    features[at] = to_baseline(f.kind(), v.0);
                }
                let mut e = method.evidence(&d);
                naive = naive.max(e);
                if w == 0 {
                    short_z[k] = d.z;
                } else if short_z[k] < Z_NOISE {
                    e = 0.0;
                }
                health_devs.push((d, e));
            }
        }
        let health = if warmup {
            0.0
        } else {
            method.score(health_devs.iter())
        };

        // Behaviour: the pair first, to know which of its error ratios the
        // destination's other callers share.
        devs.clear();
        let mut explained = 0u64;
        let mut pair_own = Groups::default();
        let mut principal_own = Groups::default();
        let mut long_own = Groups::default();
        // A record takes a deviation it takes part in; a longer window only
        // while the last minute shows the same (the aftermath of a burst is
        // over when its minute is); the last minute's others as context.
        let mut take = |d: Deviation, e: f64, w: usize, ongoing: bool, context: f64| {
            // A new relationship that misbehaves is suspect as a whole.
            let young = facts.young_pair && d.scope == Scope::Pair;
            let eff = if young || facts.takes_part(d.feature, w) {
                if w == 0 || ongoing {
                    e
                } else {
                    0.0
                }
            } else if w == 0 {
                (e * context).min(CONTEXT_MAX)
            } else {
                0.0
            };
            devs.push((d, eff));
        };
        // z per window and feature of the pair and the principal.
        let mut pair_z = [[0.0f64; Feature::COUNT]; 2];
        let mut principal_z = [[0.0f64; Feature::COUNT]; 2];
        let mut pair_rate = 0.0;
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            let sums = pair.tracked.windows[w].sums(window);
            if w == 0 {
                pair_rate = sums.value(Feature::RequestRate).map_or(0.0, |v| v.0);
            }
            let others = dsums[w].minus(&sums);
            let others_n = others.get(Count::Total);
            for (i, f) in PAIR_FEATURES.iter().enumerate() {
                let Some(v) = sums.value(*f) else { continue };
                if keep {
                    features[AT_PAIR + w * PAIR_FEATURES.len() + i] = to_baseline(f.kind(), v.0);
                }
                let b = pair.tracked.baseline(w, i, &self.prior_pair);
                let mut d = method.deviation(*f, Scope::Pair, Some(window), v, &b, 0.0);
                if f.kind() == Kind::Ratio && others_n >= MIN_OTHERS {
                    if let Some((x, n)) = others.value(*f) {
                        let pseudo = super::model::PSEUDO_COUNT;
                        let share = (x * n + pseudo * b.mean) / (n + pseudo);
                        let own = method.deviation(*f, Scope::Pair, Some(window), v, &b, share);
                        if d.z >= Z_NOISE && own.z < Z_NOISE {
                            explained |= 1 << (*f as u32);
                        }
                        d = own;
                    }
                }
                let e = method.evidence(&d);
                naive = naive.max(e);
                pair_own.add(&d, e);
                pair_z[w][*f as usize] = d.z;
                let ongoing = pair_z[0][*f as usize] >= Z_NOISE;
                take(d, e, w, ongoing, CONTEXT_PAIR);
            }
        }
        for (w, window) in WindowId::ALL.into_iter().enumerate() {
            let values = p.tracked.windows[w].values(window, &PRINCIPAL_FEATURES);
            for (i, (f, v)) in PRINCIPAL_FEATURES.iter().zip(values).enumerate() {
                let Some(v) = v else { continue };
                if keep {
                    features[w * PRINCIPAL_FEATURES.len() + i] = to_baseline(f.kind(), v.0);
                }
                let b = p.tracked.baseline(w, i, &self.prior_principal);
                let d = method.deviation(*f, Scope::Principal, Some(window), v, &b, 0.0);
                let e = method.evidence(&d);
                naive = naive.max(e);
                principal_own.add(&d, e);
                principal_z[w][*f as usize] = d.z;
                // The destination's trouble seen through its callers, or
                // another pair's: not this record's part.
                let elsewhere = PAIR_FEATURES.contains(f) && pair_z[w][*f as usize] < 1.0;
                let e = if explained & (1 << (*f as u32)) != 0 || elsewhere {
                    0.0
                } else {
                    e
                };
                let ongoing = principal_z[0][*f as usize] >= Z_NOISE;
                take(d, e, w, ongoing, CONTEXT_PRINCIPAL);
            }
        }
        for (w, window) in WindowId::LONG.into_iter().enumerate() {
            let values = p.long.windows[w].values(window, &LONG_FEATURES);
            for (i, (f, v)) in LONG_FEATURES.iter().zip(values).enumerate() {
                let Some(v) = v else { continue };
                if keep {
                    features[AT_LONG + w * LONG_FEATURES.len() + i] = to_baseline(f.kind(), v.0);
                }
                let b = p.long.baseline(w, i, &self.prior_long);
                let d = method.deviation(*f, Scope::Principal, Some(window), v, &b, 0.0);
                let e = method.evidence(&d);
                naive = naive.max(e);
                long_own.add(&d, e);
                // Never context: an hour's data is the slow leak's, or nothing.
                take(d, e, 1, true, 0.0);
            }
        }
        let record = |feature, observed: f64, b: &Baseline, z| Deviation {
            feature,
            scope: Scope::Record,
            window: None,
            observed,
            mu: b.mean,
            z,
        };
        if ok {
            let d = record(
                Feature::ResponseBytes,
                obs.response_bytes as f64,
                &rb,
                z_bytes,
            );
            devs.push((d, method.evidence(&d)));
            if redactions > 0.0 {
                let d = record(Feature::ResponseRedactions, redactions, &rr, z_reds);
                devs.push((d, method.evidence(&d)));
            }
        }
        if new_pii {
            let d = direct(Feature::NewPiiType, NEW_PII_TYPE_Z);
            devs.push((d, method.evidence(&d)));
        }

        // The identity and the transport, judged by themselves.
        let age = t - p.first_seen;
        let is_new =
            !p.known && (age < cfg.new_principal_secs || p.requests < cfg.new_principal_requests);
        // Plaintext from a known source (or in warm-up) is this
        // destination's usual.
        if !obs.mtls && (warmup || !is_new) {
            dest.plaintext_known = true;
        }
        if !warmup {
            if is_new {
                let sibling = workload(key).is_some_and(|w| workloads.contains(w));
                let mut z = if obs.source_principal.is_empty() {
                    NEW_SOURCE_IP_Z
                } else if sibling {
                    NEW_SIBLING_Z
                } else {
                    NEW_PRINCIPAL_Z
                };
                let sensitive = dest.pii_share >= SENSITIVE_PII_SHARE
                    || cfg
                        .sensitive_destinations
                        .iter()
                        .any(|d| *d == obs.destination_workload);
                if admin || sensitive {
                    z += SENSITIVE_Z;
                }
                let d = direct(Feature::NewPrincipal, z);
                devs.push((d, method.evidence(&d)));
            }
            if !obs.mtls {
                let z = match cfg.mesh {
                    MeshMode::Strict => Some((Feature::PlaintextInStrictMesh, STRICT_PLAINTEXT_Z)),
                    MeshMode::Permissive if !dest.plaintext_known => Some((
                        Feature::PlaintextToNewDestination,
                        NEW_PLAINTEXT_DESTINATION_Z,
                    )),
                    MeshMode::Permissive => None,
                };
                if let Some((f, z)) = z {
                    let d = direct(f, z);
                    devs.push((d, method.evidence(&d)));
                }
            }
            // Share of this principal's requests in this hour of day against
            // a flat day; z counts how much rarer than average this hour is.
            let total: f64 = p.hours.iter().sum();
            if age >= DAY_SECS && total > 0.0 {
                let expected = 1.0 / 24.0;
                let observed = p.hours[hour_of_day(t)] / total;
                let d = Deviation {
                    feature: Feature::TimeOfDay,
                    scope: Scope::Principal,
                    window: None,
                    observed,
                    mu: expected,
                    z: (expected - observed) / (0.25 * expected),
                };
                devs.push((d, method.evidence(&d)));
            }
        }
        if !is_new && !p.established {
            p.established = true;
            if let Some(w) = workload(key) {
                workloads.put(w.to_owned(), ());
            }
        }
        if keep {
            let r = &mut features[AT_RECORD..];
            r[0] = bytes_l;
            r[1] = reds_l;
            r[2] = if new_pii { 1.0 } else { 0.0 };
            r[3] = if obs.mtls { 0.0 } else { 1.0 };
            r[4] = if is_new { 1.0 } else { 0.0 };
            r[5] = if admin { 1.0 } else { 0.0 };
        }

        // A burst the pair's history expects counts a fraction. A burst is
        // what the pair does now (this response, the last minute); a young
        // pair's responses are judged against everyone's, so bursts are
        // told once there is an everyone.
        let burst = if method == Method::Robust && self.prior_bytes.n >= RECORD_HISTORY {
            devs.iter()
                .filter(|(d, _)| {
                    matches!(d.scope, Scope::Pair | Scope::Record)
                        && d.window != Some(WindowId::FifteenMinutes)
                        && bursty(Group::of(d.feature))
                })
                .map(|(d, _)| method.evidence(d))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        pair.bursts.settle(t, cfg.learn_below);
        let level = Level {
            bytes: if ok { bytes_l } else { 0.0 },
            redactions: reds_l,
            rate: pair_rate.ln_1p(),
        };
        let expected = pair.bursts.observe(t, burst, level, warmup);
        if expected && !warmup {
            for (d, e) in devs.iter_mut() {
                if bursty(Group::of(d.feature)) {
                    *e *= BURST_DISCOUNT;
                }
            }
        }

        let score = match (warmup, method) {
            (true, _) => 0.0,
            (false, Method::Robust) => method.score(devs.iter()),
            (false, Method::MaxZ) => {
                let extra = devs
                    .iter()
                    .filter(|(d, _)| d.window.is_none())
                    .map(|(d, _)| method.evidence(d))
                    .fold(0.0, f64::max);
                super::model::to_score(naive.max(extra))
            }
        };
        pair.bursts.scored(score);
        // A slow leak is data that did not page on its way out: what paged
        // is an incident of its own and stays out of the long windows, or
        // their hours would page its principal's larger responses.
        if score < ALERT {
            for (w, window) in WindowId::LONG.into_iter().enumerate() {
                p.long.windows[w].add(t, window, &event);
            }
        }

        // Learning, per key, unless it was anomalous.
        let lb = cfg.learn_below;
        let hold = pair.bursts.active();
        p.tracked.learn(
            t,
            principal_own.score(),
            (warmup, false),
            lb,
            WindowId::ALL,
            &PRINCIPAL_FEATURES,
            &mut self.prior_principal,
        );
        p.long.learn(
            t,
            long_own.score(),
            (warmup, false),
            lb,
            WindowId::LONG,
            &LONG_FEATURES,
            &mut self.prior_long,
        );
        pair.tracked.learn(
            t,
            pair_own.score(),
            (warmup, hold),
            lb,
            WindowId::ALL,
            &PAIR_FEATURES,
            &mut self.prior_pair,
        );
        dest.latency.learn(
            t,
            health,
            (warmup, false),
            lb,
            WindowId::ALL,
            &LATENCY_FEATURES,
            &mut self.prior_latency,
        );
        dest.service.learn(
            t,
            health,
            (warmup, false),
            lb,
            WindowId::ALL,
            &SERVICE_FEATURES,
            &mut self.prior_service,
        );
        if ok && !hold && (warmup || score < lb) {
            pair.bytes.learn(bytes_l, RECORD_ALPHA);
            pair.redactions.learn(reds_l, RECORD_ALPHA);
            self.prior_bytes.learn(bytes_l, RECORD_ALPHA);
            self.prior_redactions.learn(reds_l, RECORD_ALPHA);
            pair.pii_types |= bits;
        }
        if ok {
            let carries = if redactions > 0.0 { 1.0 } else { 0.0 };
            dest.pii_share += RECORD_ALPHA * (carries - dest.pii_share);
        }
        p.hours[hour_of_day(t)] += 1.0;
        Scored {
            score,
            warmup,
            reasons: if score > 0.0 {
                top_reasons(devs)
            } else {
                Vec::new()
            },
            health,
            health_reasons: if health > 0.0 {
                top_reasons(health_devs)
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests;
