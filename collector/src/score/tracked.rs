//! One key's windows and the baselines of their features, learnt once a
//! minute of record time unless the key was anomalous meanwhile.

use super::baseline::{Baseline, MIN_ALPHA};
use super::features::{
    to_baseline, Feature, LatencyHistogram, RingSnapshot, Window, WindowId, LATENCY_BUCKETS,
};

/// Record time between two baseline updates of one key.
const LEARN_EVERY_SECS: f64 = 60.0;

/// Baselines per window and feature.
pub type Baselines<const N: usize> = [[Baseline; N]; 2];

/// Something windowed features are read from.
pub trait Source: Default + Sized {
    /// The values of `features` over `window` (natural units, requests).
    fn values<const N: usize>(
        &self,
        window: WindowId,
        features: &[Feature; N],
    ) -> [Option<(f64, f64)>; N];
    fn snapshot(&self) -> RingSnapshot;
    fn restore(s: &RingSnapshot) -> Option<Self>;
}

impl Source for Window {
    fn values<const N: usize>(
        &self,
        window: WindowId,
        features: &[Feature; N],
    ) -> [Option<(f64, f64)>; N] {
        let sums = self.sums(window);
        features.map(|f| sums.value(f))
    }
    fn snapshot(&self) -> RingSnapshot {
        Window::snapshot(self)
    }
    fn restore(s: &RingSnapshot) -> Option<Self> {
        Window::restore(s)
    }
}

impl Source for LatencyHistogram {
    fn values<const N: usize>(
        &self,
        _: WindowId,
        features: &[Feature; N],
    ) -> [Option<(f64, f64)>; N] {
        let counts: [f64; LATENCY_BUCKETS] = self.counts();
        features.map(|f| LatencyHistogram::value_of(&counts, f))
    }
    fn snapshot(&self) -> RingSnapshot {
        LatencyHistogram::snapshot(self)
    }
    fn restore(s: &RingSnapshot) -> Option<Self> {
        LatencyHistogram::restore(s)
    }
}

/// One key's two windows (which two is the owner's choice: short or
/// long), their baselines and when they learn next.
#[derive(Debug)]
pub struct Tracked<S, const N: usize> {
    pub windows: [S; 2],
    pub baselines: Baselines<N>,
    pub next_learn: f64,
    /// Highest score of this key's own features since it last learnt.
    pub peak: f64,
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

/// The slowest learning rate of a window: six hours learn a quarter as fast.
fn min_alpha(window: WindowId) -> f64 {
    match window {
        WindowId::SixHours => MIN_ALPHA / 4.0,
        _ => MIN_ALPHA,
    }
}

impl<S: Source, const N: usize> Tracked<S, N> {
    /// Feature `i`'s baseline in window slot `w`, shrunk towards `prior`
    /// while this key is young.
    pub fn baseline(&self, w: usize, i: usize, prior: &Baselines<N>) -> Baseline {
        self.baselines[w][i].blend(&prior[w][i])
    }

    /// Baseline updates so far (of the first feature of the first window).
    pub fn updates(&self) -> f64 {
        self.baselines[0].first().map_or(0.0, |b| b.n)
    }

    /// Learns the current window values once per [`LEARN_EVERY_SECS`],
    /// unless this key scored `learn_below` or more since the last time
    /// (outside warm-up: anomalies must not poison the baseline) or is told
    /// to `hold` (a burst under way is not the usual).
    #[allow(clippy::too_many_arguments)]
    pub fn learn(
        &mut self,
        t: f64,
        score: f64,
        (warmup, hold): (bool, bool),
        learn_below: f64,
        windows: [WindowId; 2],
        features: &[Feature; N],
        prior: &mut Baselines<N>,
    ) {
        self.peak = self.peak.max(score);
        if t < self.next_learn {
            return;
        }
        if !hold && (warmup || self.peak < learn_below) {
            for (w, window) in windows.into_iter().enumerate() {
                let values = self.windows[w].values(window, features);
                for (i, (feature, value)) in features.iter().zip(values).enumerate() {
                    if let Some((x, _)) = value {
                        let x = to_baseline(feature.kind(), x);
                        self.baselines[w][i].learn(x, min_alpha(window));
                        prior[w][i].learn(x, min_alpha(window));
                    }
                }
            }
        }
        self.peak = 0.0;
        self.next_learn = t + LEARN_EVERY_SECS;
    }
}
