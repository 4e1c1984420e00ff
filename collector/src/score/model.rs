//! Deviations → one score in [0, 1].
//!
//! Method ([`Method::Robust`]):
//! 1. Each feature gets a robust z-score against its baseline. Ratios are
//!    smoothed towards the expected share with [`PSEUDO_COUNT`] requests and
//!    their spread includes binomial noise for the window's request count
//!    (the expected share taken as at least 1 %), so one 404 from a quiet
//!    caller is not a 404 storm. Log features use the
//!    baseline's scale, floored.
//! 2. Evidence `e = weight × max(0, z − 2)`: deviations within two scales
//!    are normal noise and count nothing.
//! 3. Features that see the same thing (the 401 ratio and the 4xx ratio, a
//!    principal and its pair, 1 min and 15 min) form a [`Group`]; a group's
//!    evidence is its largest, so one event is not counted three times.
//! 4. `E = ‖group evidence‖₂`, `score = 1 − exp(−E / K)` with `K` such that
//!    `E = 4` gives 0.85. So one signal at z = 6, or four independent ones at
//!    z = 4, page a human (0.85); one at z = 4 gives 0.61.
//!
//! Which deviations a record's behaviour score takes (the record's own part
//! in them, the destination's health apart) is [`super::state`]'s business.
//!
//! [`Method::MaxZ`] is the naive comparison: plain z-scores (no smoothing, no
//! count-aware noise, no weights) and only the largest one.

use serde::{Deserialize, Serialize};

use super::baseline::Baseline;
use super::features::{from_baseline, to_baseline, Feature, Kind, WindowId};

/// The score at which a human is paged.
pub const ALERT: f64 = 0.85;
/// z-scores up to this are noise.
const Z_NOISE: f64 = 2.0;
/// Evidence `E` that maps to [`ALERT`].
const E_ALERT: f64 = 4.0;
/// Largest z considered: beyond it "very anomalous" is all there is to say.
const Z_CAP: f64 = 30.0;
/// Prior requests a ratio is smoothed with.
pub const PSEUDO_COUNT: f64 = 5.0;
/// Smallest spread of a ratio.
const RATIO_FLOOR: f64 = 0.02;
/// Smallest share assumed for the binomial noise: "never seen" is not
/// "impossible", so one 404 in three requests is not a page.
const RARE_SHARE: f64 = 0.01;

/// How deviations are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Robust,
    MaxZ,
}

/// Where a feature was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Principal,
    Pair,
    Destination,
    /// The record itself, against what its pair usually gets.
    Record,
}

/// One feature's observation against its expectation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    pub feature: Feature,
    pub scope: Scope,
    pub window: Option<WindowId>,
    /// Natural units (share, requests/min, bytes, ms).
    pub observed: f64,
    /// The expectation as the baseline holds it ([`to_baseline`] units):
    /// turned into natural units only for the few that become reasons.
    pub mu: f64,
    pub z: f64,
}

impl Deviation {
    /// The expectation in natural units.
    pub fn expected(&self) -> f64 {
        from_baseline(self.feature.kind(), self.mu)
    }
}

impl Method {
    /// Compares a windowed feature value (`x` natural units over `n`
    /// requests) with its baseline; a ratio is expected to be at least
    /// `at_least` (what the destination's other callers get meanwhile).
    pub fn deviation(
        self,
        feature: Feature,
        scope: Scope,
        window: Option<WindowId>,
        (x, n): (f64, f64),
        baseline: &Baseline,
        at_least: f64,
    ) -> Deviation {
        let kind = feature.kind();
        let mu = if kind == Kind::Ratio {
            baseline.mean.max(at_least)
        } else {
            baseline.mean
        };
        let z = match (self, kind) {
            (Method::Robust, Kind::Ratio) => {
                let p0 = mu.clamp(0.0, 1.0);
                let smoothed = (x * n + PSEUDO_COUNT * p0) / (n + PSEUDO_COUNT);
                let binomial = p0.max(RARE_SHARE) * (1.0 - p0) / (n + PSEUDO_COUNT);
                let sd = (binomial + (0.5 * baseline.scale).powi(2)).sqrt() + RATIO_FLOOR;
                (smoothed - p0) / sd
            }
            (Method::Robust, _) => {
                (to_baseline(kind, x) - mu) / baseline.scale.max(feature.log_floor())
            }
            (Method::MaxZ, _) => (to_baseline(kind, x) - mu) / baseline.scale.max(RATIO_FLOOR),
        };
        Deviation {
            feature,
            scope,
            window,
            observed: x,
            mu,
            z,
        }
    }

    /// How much a deviation counts. Only increases are suspicious: a
    /// decrease (fewer errors, less traffic) is no reason to page — except
    /// for time of day, whose z is "how much rarer than usual".
    pub fn evidence(self, d: &Deviation) -> f64 {
        let excess = (d.z.min(Z_CAP) - Z_NOISE).max(0.0);
        match self {
            Method::Robust => weight(d) * excess,
            Method::MaxZ => excess,
        }
    }

    /// Combined evidence of deviations → score in [0, 1].
    pub fn score<'a>(self, evidence: impl Iterator<Item = &'a (Deviation, f64)>) -> f64 {
        let e = match self {
            Method::Robust => {
                let mut groups = [0.0f64; Group::COUNT];
                for (d, e) in evidence {
                    let g = &mut groups[Group::of(d.feature) as usize];
                    *g = g.max(*e);
                }
                groups.iter().map(|e| e * e).sum::<f64>().sqrt()
            }
            Method::MaxZ => evidence.fold(0.0f64, |m, (_, e)| m.max(*e)),
        };
        to_score(e)
    }
}

/// Evidence `E` → score: `E = 4` is [`ALERT`].
pub fn to_score(e: f64) -> f64 {
    1.0 - (-e * (1.0 / (1.0 - ALERT)).ln() / E_ALERT).exp()
}

/// Families of features that move together; serialised by
/// [`Group::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    ClientErrors,
    ServerErrors,
    Volume,
    Novelty,
    #[serde(rename = "data_volume")]
    Data,
    Pii,
    #[serde(rename = "plaintext")]
    Transport,
    Latency,
    #[serde(rename = "time_of_day")]
    Time,
}

impl Group {
    pub const COUNT: usize = 9;

    /// Name in alerts (`reason` label).
    pub fn name(self) -> &'static str {
        match self {
            Group::ClientErrors => "client_errors",
            Group::ServerErrors => "server_errors",
            Group::Volume => "volume",
            Group::Novelty => "novelty",
            Group::Data => "data_volume",
            Group::Pii => "pii",
            Group::Transport => "plaintext",
            Group::Latency => "latency",
            Group::Time => "time_of_day",
        }
    }

    pub fn of(f: Feature) -> Group {
        use Feature as F;
        match f {
            F::Status4xxRatio | F::Status401Ratio | F::Status404Ratio | F::DeniedRatio => {
                Group::ClientErrors
            }
            F::Status5xxRatio => Group::ServerErrors,
            F::RequestRate => Group::Volume,
            F::NovelPathTemplate
            | F::NovelMethod
            | F::NovelDestination
            | F::DistinctTemplates
            | F::NewPrincipal => Group::Novelty,
            F::BytesPerRequest | F::BytesTotal | F::LargeResponses | F::ResponseBytes => {
                Group::Data
            }
            F::RedactionsPerRequest
            | F::RedactionsTotal
            | F::ResponseRedactions
            | F::NewPiiType => Group::Pii,
            F::PlaintextShare | F::PlaintextInStrictMesh | F::PlaintextToNewDestination => {
                Group::Transport
            }
            F::LatencyP50Ms | F::LatencyP95Ms => Group::Latency,
            F::TimeOfDay => Group::Time,
        }
    }
}

/// Relative trust in a feature. A principal's request rate moves with its
/// own load, a pair's more so; novelty and time of day are weak alone; a
/// caller's own share of 5xx is a weaker sign than its own 4xx. A
/// destination's load (saturation) counts half in its health.
fn weight(d: &Deviation) -> f64 {
    match (d.feature, d.scope) {
        (Feature::RequestRate, Scope::Pair | Scope::Destination) => 0.5,
        (Feature::RequestRate, _) => 0.7,
        (Feature::Status5xxRatio, Scope::Pair) => 0.8,
        (Feature::NovelMethod | Feature::NovelDestination | Feature::TimeOfDay, _) => 0.6,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(feature: Feature, z: f64) -> Deviation {
        Deviation {
            feature,
            scope: Scope::Principal,
            window: Some(WindowId::OneMinute),
            observed: 0.0,
            mu: 0.0,
            z,
        }
    }

    #[test]
    fn calibration_points() {
        let m = Method::Robust;
        let one = |z| {
            let d = dev(Feature::Status401Ratio, z);
            m.score([(d, m.evidence(&d))].iter())
        };
        assert_eq!(one(1.5), 0.0);
        assert!((one(6.0) - ALERT).abs() < 1e-9);
        assert!((one(4.0) - 0.61).abs() < 0.01);
        let four: Vec<_> = [
            Feature::Status404Ratio,
            Feature::DistinctTemplates,
            Feature::BytesTotal,
            Feature::PlaintextShare,
        ]
        .map(|f| (dev(f, 4.0), m.evidence(&dev(f, 4.0))))
        .into();
        assert!((m.score(four.iter()) - ALERT).abs() < 1e-9);
        // Four views of the same thing are one signal.
        let same: Vec<_> = [
            Feature::Status404Ratio,
            Feature::Status4xxRatio,
            Feature::DeniedRatio,
            Feature::Status401Ratio,
        ]
        .map(|f| (dev(f, 4.0), m.evidence(&dev(f, 4.0))))
        .into();
        assert!((m.score(same.iter()) - one(4.0)).abs() < 1e-9);
        assert!(one(100.0) < 1.0 && one(100.0) > 0.99);
    }

    #[test]
    fn a_callers_5xx_count_less_than_its_4xx_and_decreases_nothing() {
        let m = Method::Robust;
        let pair = |f| Deviation {
            scope: Scope::Pair,
            ..dev(f, 10.0)
        };
        assert!(
            m.evidence(&pair(Feature::Status5xxRatio)) < m.evidence(&pair(Feature::Status404Ratio))
        );
        assert_eq!(m.evidence(&dev(Feature::Status404Ratio, -10.0)), 0.0);
    }

    #[test]
    fn ratio_noise_depends_on_count() {
        let b = Baseline {
            mean: 0.01,
            scale: 0.01,
            n: 100.0,
        };
        let z = |n, at_least| {
            Method::Robust
                .deviation(
                    Feature::Status404Ratio,
                    Scope::Principal,
                    Some(WindowId::OneMinute),
                    (1.0, n),
                    &b,
                    at_least,
                )
                .z
        };
        assert!(z(1.0, 0.0) < 6.0, "one 404 must not page: {}", z(1.0, 0.0));
        assert!(z(30.0, 0.0) > 20.0, "a 404 storm must: {}", z(30.0, 0.0));
        // Unless every other caller gets them too.
        assert!(z(30.0, 0.9) < 2.0, "{}", z(30.0, 0.9));
    }

    #[test]
    fn max_z_takes_the_largest() {
        let m = Method::MaxZ;
        let d = dev(Feature::RequestRate, 0.0);
        let s = m.score([(d, 1.0), (d, 4.0), (d, 2.0)].iter());
        assert!((s - ALERT).abs() < 1e-9);
    }
}
