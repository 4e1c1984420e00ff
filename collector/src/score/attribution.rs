//! Why a record scored: the features that contributed most.

use serde::{Deserialize, Serialize};

use super::features::{Feature, WindowId};
use super::model::{Deviation, Group, Scope};

/// Reasons kept per scored record.
pub const TOP: usize = 3;

/// One contributing feature, e.g.
/// `{"feature":"status_401_403_ratio","scope":"principal","window":"1m","direction":"above","observed":0.95,"expected":0.02,"z":14.1,"share":0.8}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub feature: Feature,
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowId>,
    pub direction: Direction,
    pub observed: f64,
    pub expected: f64,
    pub z: f64,
    /// Share of the squared evidence: how much of the score is this signal.
    pub share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Above,
    Below,
}

/// The strongest deviation of each [`Group`] with evidence (as the score
/// counts them), best first, at most [`TOP`]: distinct signals rather than
/// three views of one. Non-empty exactly when the score is > 0.
pub fn top_reasons(scored: &[(Deviation, f64)]) -> Vec<Reason> {
    let mut best: Vec<&(Deviation, f64)> = Vec::new();
    for s in scored.iter().filter(|(_, e)| *e > 0.0) {
        match best
            .iter_mut()
            .find(|b| Group::of(b.0.feature) == Group::of(s.0.feature))
        {
            Some(b) if b.1 < s.1 => *b = s,
            Some(_) => {}
            None => best.push(s),
        }
    }
    let total: f64 = best.iter().map(|(_, e)| e * e).sum();
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.truncate(TOP);
    best.into_iter()
        .map(|(d, e)| Reason {
            feature: d.feature,
            scope: d.scope,
            window: d.window,
            direction: if d.observed < d.expected() {
                Direction::Below
            } else {
                Direction::Above
            },
            observed: round(d.observed),
            expected: round(d.expected()),
            z: round(d.z),
            share: round(e * e / total),
        })
        .collect()
}

/// Four significant digits: readable lines, no false precision.
pub fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let digits = 3 - x.abs().log10().floor() as i32;
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(feature: Feature, observed: f64, mu: f64) -> Deviation {
        Deviation {
            feature,
            scope: Scope::Principal,
            window: Some(WindowId::OneMinute),
            observed,
            mu,
            z: 9.0,
        }
    }

    #[test]
    fn strongest_first_with_observed_and_expected() {
        let scored = [
            (dev(Feature::Status404Ratio, 0.1, 0.0), 1.0),
            (dev(Feature::Status401Ratio, 0.95, 0.02), 3.0),
            (dev(Feature::RequestRate, 1.0, 1.0), 0.0),
            (dev(Feature::BytesTotal, 5e6, 9.2), 2.0),
            (dev(Feature::DeniedRatio, 0.5, 0.01), 2.5),
            (dev(Feature::PlaintextShare, 1.0, 0.0), 0.5),
            (dev(Feature::NovelMethod, 0.5, 0.0), 1.0),
        ];
        let r = top_reasons(&scored);
        let names: Vec<_> = r.iter().map(|r| r.feature).collect();
        // 404 and denied are the 401 ratio's group: only the strongest shows.
        assert_eq!(
            names,
            [
                Feature::Status401Ratio,
                Feature::BytesTotal,
                Feature::NovelMethod
            ]
        );
        let share_sum: f64 = r.iter().map(|r| r.share).sum();
        assert!((share_sum - 14.0 / 14.25).abs() < 1e-3, "{share_sum}");
        assert_eq!(
            (r[0].observed, r[0].expected, r[0].direction),
            (0.95, 0.02, Direction::Above)
        );
        let json = serde_json::to_string(&r[0]).unwrap_or_default();
        assert!(json.starts_with(r#"{"feature":"status_401_403_ratio","scope":"principal","window":"1m","direction":"above","observed":0.95,"expected":0.02"#), "{json}");
    }

    #[test]
    fn no_evidence_no_reasons() {
        assert!(top_reasons(&[(dev(Feature::RequestRate, 1.0, 1.0), 0.0)]).is_empty());
    }

    #[test]
    fn rounding() {
        assert_eq!(round(0.123456), 0.1235);
        assert_eq!(round(123456.7), 123500.0);
        assert_eq!(round(f64::NAN), 0.0);
    }
}
