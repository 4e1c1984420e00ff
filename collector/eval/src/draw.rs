//! Draws both traffic generators take from their seeded generator.

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut fastrand::Rng) -> f64 {
    let (u1, u2) = (1.0 - rng.f64(), rng.f64());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw around `median` with the log's spread `sigma`:
/// latencies and sizes.
pub fn lognormal(rng: &mut fastrand::Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}
