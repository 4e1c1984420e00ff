//! Bursts of a (principal, destination) pair: runs of records far above
//! its usual volume, data or PII, and whether a burst is expected — a
//! periodic job running on time, or a recurrence of a burst learnt as
//! normal — so that a job that exports every 30 minutes is not paged every
//! time it runs.
//!
//! A burst starts with a record whose volume, data or PII evidence reaches
//! [`TRIGGER`] and ends after [`QUIET_SECS`] without one: a trickle (one
//! large response every 30 s for an hour) is one long burst, not a period.
//! Period and phase come from the pair's own burst onsets, warm-up
//! included: two onsets give a period, and the next burst is on time when
//! it starts within a tenth of the period (at least a minute) of the
//! predicted time. A burst learnt as normal (during warm-up, on time, or
//! scored below the learning threshold) makes the next one of at most its
//! size and length expected even without a period. Sizes are kept in
//! natural units (largest response, most redactions in one, highest
//! request rate), so they compare whatever the baselines did meanwhile; an
//! expected burst that grows beyond twice the size, or twice the length, of
//! the bursts it is expected from is no longer expected.

use serde::{Deserialize, Serialize};

/// Family evidence (volume, data, PII) that starts or extends a burst.
pub const TRIGGER: f64 = 2.0;
/// A burst ends after this long without a triggering record.
pub const QUIET_SECS: f64 = 300.0;
/// Shortest period taken for a job (shorter repeats are one burst anyway).
const MIN_PERIOD_SECS: f64 = 240.0;
/// Onsets remembered.
const ONSETS: usize = 4;
/// How far an expected burst may outgrow what it is expected from: twice
/// the size (in `ln(1 + x)`), twice the length plus two minutes.
const SIZE_SLACK: f64 = std::f64::consts::LN_2;
const LENGTH_SLACK: f64 = 2.0;
const LENGTH_MARGIN_SECS: f64 = 120.0;

/// How large one moment of a burst is, each as `ln(1 + x)`: the response
/// size, its redactions, the pair's requests per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub bytes: f64,
    pub redactions: f64,
    pub rate: f64,
}

impl Level {
    fn max(self, o: Level) -> Level {
        Level {
            bytes: self.bytes.max(o.bytes),
            redactions: self.redactions.max(o.redactions),
            rate: self.rate.max(o.rate),
        }
    }

    fn within(&self, o: &Level) -> bool {
        self.bytes <= o.bytes + SIZE_SLACK
            && self.redactions <= o.redactions + SIZE_SLACK
            && self.rate <= o.rate + SIZE_SLACK
    }
}

/// The shape of a burst: its peak level and its length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub peak: Level,
    pub secs: f64,
}

impl Shape {
    fn covers(&self, peak: &Level, secs: f64) -> bool {
        peak.within(&self.peak) && secs <= self.secs * LENGTH_SLACK + LENGTH_MARGIN_SECS
    }

    fn widen(&mut self, other: Shape) {
        self.peak = self.peak.max(other.peak);
        self.secs = self.secs.max(other.secs);
    }
}

/// Why a burst is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expected {
    /// On time for the pair's period; judged against the last burst.
    OnTime,
    /// A recurrence of bursts learnt as normal.
    Known,
    /// During warm-up: everything is learnt.
    Warmup,
}

/// The current burst.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    pub start: f64,
    pub last: f64,
    pub peak: Level,
    pub expected: Option<Expected>,
    /// Highest behaviour score of its records.
    pub score: f64,
}

/// A pair's bursts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bursts {
    pub current: Option<Burst>,
    /// Onsets of past bursts, oldest first.
    pub onsets: Vec<f64>,
    /// The last burst's shape, and the widest of those learnt as normal.
    pub last: Shape,
    pub known: Option<Shape>,
}

impl Bursts {
    /// Ends the current burst if it has been quiet long enough at `t`;
    /// `learn_below` decides whether it was normal.
    pub fn settle(&mut self, t: f64, learn_below: f64) {
        let Some(b) = self.current else { return };
        if t - b.last < QUIET_SECS {
            return;
        }
        self.current = None;
        let shape = Shape {
            peak: b.peak,
            secs: b.last - b.start,
        };
        self.last = shape;
        if self.onsets.len() == ONSETS {
            self.onsets.remove(0);
        }
        self.onsets.push(b.start);
        if b.expected.is_some() || b.score < learn_below {
            self.known.get_or_insert_with(Shape::default).widen(shape);
        }
    }

    /// The predicted start of the next run, from the last two onsets.
    fn on_time(&self, t: f64) -> bool {
        let [.., a, b] = self.onsets[..] else {
            return false;
        };
        let period = b - a;
        period >= MIN_PERIOD_SECS && (t - b - period).abs() <= (0.1 * period).max(60.0)
    }

    /// Takes a record at `t` with volume/data/PII evidence `evidence`
    /// (before any discount) at `level`; returns whether it belongs to an
    /// expected burst (whose evidence is then discounted).
    pub fn observe(&mut self, t: f64, evidence: f64, level: Level, warmup: bool) -> bool {
        // The warm-up's bursts end with it: what they were is known, and
        // what comes after is judged against that.
        if !warmup
            && self
                .current
                .is_some_and(|b| b.expected == Some(Expected::Warmup))
        {
            self.settle(f64::INFINITY, 0.0);
        }
        if evidence >= TRIGGER {
            let b = match &mut self.current {
                Some(b) => b,
                None => {
                    let expected = if warmup {
                        Some(Expected::Warmup)
                    } else if self.on_time(t) {
                        Some(Expected::OnTime)
                    } else if self.known.is_some() {
                        Some(Expected::Known)
                    } else {
                        None
                    };
                    self.current.insert(Burst {
                        start: t,
                        last: t,
                        peak: level,
                        expected,
                        score: 0.0,
                    })
                }
            };
            b.last = t;
            b.peak = b.peak.max(level);
        }
        let Some(b) = &mut self.current else {
            return false;
        };
        let against = match b.expected {
            None => return false,
            Some(Expected::Warmup) => return true,
            Some(Expected::OnTime) => self.last,
            Some(Expected::Known) => self.known.unwrap_or_default(),
        };
        if against.covers(&b.peak, t - b.start) {
            true
        } else {
            // It outgrew what it was expected from: judged in full from now on.
            b.expected = None;
            false
        }
    }

    /// Notes the behaviour score of a record of the current burst.
    pub fn scored(&mut self, score: f64) {
        if let Some(b) = &mut self.current {
            b.score = b.score.max(score);
        }
    }

    /// Whether a burst is under way: the pair's usual volume is not learnt
    /// from it (except in warm-up, when everything is learnt).
    pub fn active(&self) -> bool {
        self.current
            .is_some_and(|b| b.expected != Some(Expected::Warmup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(mb: f64) -> Level {
        Level {
            bytes: (mb * 1e6).ln_1p(),
            redactions: 100f64.ln_1p(),
            rate: 30f64.ln_1p(),
        }
    }

    /// A job every `period` s: a minute of 1 MB responses every 2 s.
    fn runs(b: &mut Bursts, from: f64, period: f64, count: u32, warmup_until: f64) -> Vec<bool> {
        let mut expected = Vec::new();
        for k in 0..count {
            let start = from + f64::from(k) * period;
            let mut all = true;
            for i in 0..30 {
                let t = start + f64::from(i) * 2.0;
                b.settle(t, 0.5);
                all &= b.observe(t, 5.0, level(1.0), t < warmup_until);
                b.scored(0.9);
            }
            expected.push(all);
        }
        expected
    }

    #[test]
    fn a_job_on_time_is_expected_from_its_third_run() {
        let mut b = Bursts::default();
        // Never seen in warm-up: the first two runs are surprises (scored
        // high, not learnt), the third is on time.
        let e = runs(&mut b, 0.0, 1800.0, 4, -1.0);
        assert_eq!(e, [false, false, true, true]);
    }

    #[test]
    fn a_run_seen_in_warmup_makes_the_next_expected() {
        let mut b = Bursts::default();
        let e = runs(&mut b, 0.0, 1800.0, 2, 600.0);
        assert_eq!(e, [true, true]);
        // Off time and three times as large: not what was learnt.
        b.settle(5000.0, 0.5);
        assert!(
            b.observe(5000.0, 5.0, level(1.5), false),
            "a known recurrence"
        );
        assert!(
            !b.observe(5002.0, 8.0, level(3.0), false),
            "outgrew the known shape"
        );
        assert!(
            !b.observe(5004.0, 5.0, level(1.0), false),
            "and stays judged in full"
        );
    }

    #[test]
    fn a_trickle_is_one_burst_and_never_periodic() {
        let mut b = Bursts::default();
        let mut expected = false;
        for i in 0..120 {
            let t = f64::from(i) * 30.0;
            b.settle(t, 0.5);
            expected |= b.observe(t, 5.0, level(0.4), false);
            b.scored(0.9);
        }
        assert!(!expected);
        assert!(b.onsets.is_empty(), "{b:?}");
        // Far too long for a known shape either way.
        assert!(b.active());
    }

    #[test]
    fn a_burst_of_the_warmup_ends_with_it() {
        let mut b = Bursts::default();
        for i in 0..100 {
            b.observe(f64::from(i), 5.0, level(0.01), true);
            assert!(!b.active(), "the warm-up learns everything");
        }
        assert!(
            !b.observe(100.0, 5.0, level(1.0), false),
            "larger than known"
        );
        assert!(b.active());
        assert_eq!(b.onsets, [0.0]);
    }

    #[test]
    fn quiet_records_do_not_start_a_burst() {
        let mut b = Bursts::default();
        assert!(!b.observe(0.0, 1.0, level(1.0), false));
        assert!(!b.active());
    }
}
