//! What a feature normally looks like: a robust, slowly adapting mean and
//! scale, learnt once per key and minute of record time.

/// Updates after which a key's own baseline counts fully against the global
/// prior (see [`Baseline::blend`]).
const PRIOR_UPDATES: f64 = 5.0;
/// Slowest learning rate: one update per minute gives a memory of ~50 minutes.
pub const MIN_ALPHA: f64 = 0.02;
/// Values further than this many scales from the mean are clipped before
/// learning (Huber-style), so one outlier moves the baseline little.
const CLIP: f64 = 4.0;
/// Mean absolute deviation × 1.25 ≈ standard deviation for normal data.
const MAD_TO_SD: f64 = 1.25;

/// Exponentially weighted mean and absolute deviation.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub mean: f64,
    /// Robust spread (≈ standard deviation).
    pub scale: f64,
    /// Updates so far.
    pub n: f64,
}

impl Baseline {
    /// Learns one value. Starts as a plain running mean (fast convergence),
    /// then settles at [`MIN_ALPHA`].
    pub fn update(&mut self, x: f64) {
        self.learn(x, MIN_ALPHA);
    }

    /// [`Baseline::update`] settling at `min_alpha`: slower for long
    /// windows, faster per record than per minute.
    pub fn learn(&mut self, x: f64, min_alpha: f64) {
        if !x.is_finite() {
            return;
        }
        let alpha = (1.0 / (self.n + 1.0)).max(min_alpha);
        let x = if self.n >= PRIOR_UPDATES && self.scale > 0.0 {
            x.clamp(self.mean - CLIP * self.scale, self.mean + CLIP * self.scale)
        } else {
            x
        };
        self.mean += alpha * (x - self.mean);
        if self.n > 0.0 {
            self.scale += alpha * ((x - self.mean).abs() * MAD_TO_SD - self.scale);
        }
        self.n += 1.0;
    }

    /// This key's baseline shrunk towards the population's while it has
    /// little history, so a new key is judged against everyone else.
    pub fn blend(&self, prior: &Baseline) -> Baseline {
        let w = self.n / (self.n + PRIOR_UPDATES);
        Baseline {
            mean: w * self.mean + (1.0 - w) * prior.mean,
            scale: w * self.scale + (1.0 - w) * prior.scale,
            n: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_mean_and_scale() {
        let mut b = Baseline::default();
        for i in 0..200 {
            b.update(if i % 2 == 0 { 9.0 } else { 11.0 });
        }
        assert!((b.mean - 10.0).abs() < 0.1, "{b:?}");
        assert!((b.scale - 1.25).abs() < 0.2, "{b:?}");
    }

    #[test]
    fn an_outlier_barely_moves_it() {
        let mut b = Baseline::default();
        for i in 0..100 {
            b.update(10.0 + f64::from(i % 3) - 1.0);
        }
        let before = b.mean;
        b.update(1e6);
        assert!((b.mean - before).abs() < 0.2, "{before} → {}", b.mean);
    }

    #[test]
    fn new_keys_lean_on_the_prior() {
        let prior = Baseline {
            mean: 1.0,
            scale: 0.5,
            n: 100.0,
        };
        let mut own = Baseline::default();
        assert_eq!(own.blend(&prior).mean, 1.0);
        own.update(3.0);
        let early = own.blend(&prior).mean;
        assert!(early > 1.0 && early < 2.0, "{early}");
    }
}
