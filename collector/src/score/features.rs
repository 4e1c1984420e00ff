//! Streaming features over sliding windows of record time.
//!
//! A request window is a ring of [`BUCKETS`] buckets of counters (1 min:
//! 12 s buckets, 15 min: 3 min buckets, 1 h and 6 h for a principal's
//! cumulative data): constant memory per key, and an incident leaves the
//! window once it is older than the window, instead of lingering as it
//! would in an exponentially decayed counter. Latency histograms per
//! destination slide the same way.

use serde::{Deserialize, Serialize};

/// The window lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowId {
    #[serde(rename = "1m")]
    OneMinute,
    #[serde(rename = "15m")]
    FifteenMinutes,
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "6h")]
    SixHours,
}

impl WindowId {
    /// The windows of behaviour and health.
    pub const ALL: [WindowId; 2] = [WindowId::OneMinute, WindowId::FifteenMinutes];
    /// A principal's cumulative data: slow leaks.
    pub const LONG: [WindowId; 2] = [WindowId::OneHour, WindowId::SixHours];

    /// Length in seconds.
    pub fn tau(self) -> f64 {
        match self {
            WindowId::OneMinute => 60.0,
            WindowId::FifteenMinutes => 900.0,
            WindowId::OneHour => 3600.0,
            WindowId::SixHours => 21_600.0,
        }
    }
}

/// Per-request events a window counts.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Total,
    Status4xx,
    Status401Or403,
    Status404,
    Status5xx,
    Denied,
    Plaintext,
    NovelTemplate,
    NovelMethod,
    NovelDestination,
    /// Path template not used by this key within the window: summed, it is
    /// the number of distinct templates in the window.
    TemplateInWindow,
    Bytes,
    Redactions,
    /// A response far larger than this caller usually gets from this
    /// destination (see [`LARGE_FACTOR`]).
    Large,
}

pub const N_COUNTS: usize = 14;

/// A response this many times the (principal, destination)'s expected
/// bytes per request is large: a trickle of them is a slow leak even
/// when the pair's totals hide it among busy traffic.
pub const LARGE_FACTOR: f64 = 50.0;
/// Expected bytes per request assumed at least (new pairs, empty baselines).
pub const LARGE_FLOOR_BYTES: f64 = 1000.0;

/// One request's contribution to a window.
pub type Event = [f64; N_COUNTS];

/// Buckets per request window.
pub const BUCKETS: usize = 5;

/// A ring of [`BUCKETS`] buckets of `N` counters sliding over one window.
/// f32: a fifth of a window per bucket needs no more precision, and keys are many.
#[derive(Debug, Clone)]
pub struct Ring<const N: usize> {
    /// Bucket number (time / bucket width) of the newest event.
    head: i64,
    /// Time of the newest event.
    last: f64,
    buckets: [[f32; N]; BUCKETS],
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self {
            head: 0,
            last: 0.0,
            buckets: [[0.0; N]; BUCKETS],
        }
    }
}

impl<const N: usize> Ring<N> {
    /// The bucket for time `t`, after clearing the buckets it slid past.
    /// Out-of-order events count in the newest bucket.
    fn bucket(&mut self, t: f64, window: WindowId) -> &mut [f32; N] {
        let width = window.tau() / BUCKETS as f64;
        // Saturating cast; record times are far inside i64.
        let idx = (t / width).floor() as i64;
        if idx > self.head {
            for k in 0..(idx - self.head).min(BUCKETS as i64) {
                self.buckets[slot(idx - k)] = [0.0; N];
            }
            self.head = idx;
        }
        self.last = self.last.max(t);
        &mut self.buckets[slot(self.head)]
    }

    fn sum(&self, i: usize) -> f64 {
        self.buckets.iter().map(|b| f64::from(b[i])).sum()
    }

    /// Seconds the window covers: the full buckets plus the current one so far.
    fn span(&self, window: WindowId) -> f64 {
        let width = window.tau() / BUCKETS as f64;
        let into_head = (self.last - self.head as f64 * width).clamp(0.0, width);
        (BUCKETS - 1) as f64 * width + into_head.max(1.0)
    }
}

/// A ring as a checkpoint stores it: buckets flattened, oldest slot first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RingSnapshot {
    head: i64,
    last: f64,
    buckets: Vec<f32>,
}

impl<const N: usize> Ring<N> {
    fn snapshot(&self) -> RingSnapshot {
        RingSnapshot {
            head: self.head,
            last: self.last,
            buckets: self.buckets.iter().flatten().copied().collect(),
        }
    }

    /// `None` if the snapshot has the wrong number of counters.
    fn restore(s: &RingSnapshot) -> Option<Self> {
        if s.buckets.len() != BUCKETS * N {
            return None;
        }
        let mut ring = Ring {
            head: s.head,
            last: s.last,
            ..Ring::default()
        };
        for (bucket, values) in ring.buckets.iter_mut().zip(s.buckets.chunks_exact(N)) {
            bucket.copy_from_slice(values);
        }
        Some(ring)
    }
}

fn slot(idx: i64) -> usize {
    // rem_euclid keeps it in 0..BUCKETS.
    usize::try_from(idx.rem_euclid(BUCKETS as i64)).unwrap_or(0)
}

/// Request counters of one key in one window.
#[derive(Debug, Clone, Default)]
pub struct Window(Ring<N_COUNTS>);

impl Window {
    pub fn snapshot(&self) -> RingSnapshot {
        self.0.snapshot()
    }

    pub fn restore(s: &RingSnapshot) -> Option<Self> {
        Ring::restore(s).map(Window)
    }

    pub fn add(&mut self, t: f64, window: WindowId, event: &Event) {
        for (c, e) in self.0.bucket(t, window).iter_mut().zip(event) {
            *c += *e as f32;
        }
    }

    pub fn get(&self, c: Count) -> f64 {
        self.0.sum(c as usize)
    }

    /// Every counter summed over the window, once.
    pub fn sums(&self, window: WindowId) -> Sums {
        let mut c = [0.0; N_COUNTS];
        for bucket in &self.0.buckets {
            for (sum, v) in c.iter_mut().zip(bucket) {
                *sum += f64::from(*v);
            }
        }
        Sums {
            c,
            span: self.0.span(window),
            window,
        }
    }

    /// The feature's value in natural units and the number of
    /// requests behind it; `None` for features not measured by a window.
    pub fn value(&self, feature: Feature, window: WindowId) -> Option<(f64, f64)> {
        self.sums(window).value(feature)
    }
}

/// A window's counters, summed.
#[derive(Debug, Clone, Copy)]
pub struct Sums {
    c: [f64; N_COUNTS],
    /// Seconds the window covers so far.
    span: f64,
    window: WindowId,
}

impl Sums {
    pub fn get(&self, c: Count) -> f64 {
        self.c[c as usize]
    }

    /// These counters less `other`'s (a destination's less one caller's).
    pub fn minus(&self, other: &Sums) -> Sums {
        let mut c = self.c;
        for (a, b) in c.iter_mut().zip(&other.c) {
            *a = (*a - b).max(0.0);
        }
        Sums { c, ..*self }
    }

    /// The feature's value in natural units and the number of requests
    /// behind it; `None` for features not measured by a window.
    pub fn value(&self, feature: Feature) -> Option<(f64, f64)> {
        let n = self.get(Count::Total);
        let per_request = |c| if n > 0.0 { self.get(c) / n } else { 0.0 };
        let long = matches!(self.window, WindowId::OneHour | WindowId::SixHours);
        // The long windows fill for hours: their totals are projected to
        // the whole window, so that they compare from the start.
        let total = |c| {
            if long {
                self.get(c) * self.window.tau() / self.span
            } else {
                self.get(c)
            }
        };
        let v = match feature {
            Feature::RequestRate => n * 60.0 / self.span,
            Feature::DistinctTemplates => self.get(Count::TemplateInWindow),
            Feature::BytesTotal => total(Count::Bytes),
            Feature::RedactionsTotal => total(Count::Redactions),
            Feature::BytesPerRequest => per_request(Count::Bytes),
            Feature::RedactionsPerRequest => per_request(Count::Redactions),
            Feature::LargeResponses => self.get(Count::Large),
            _ => per_request(feature.numerator()?),
        };
        Some((v, n))
    }
}

/// How a feature's deviation is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A share in [0, 1]; its noise depends on the request count.
    Ratio,
    /// A positive quantity spanning orders of magnitude: compared as `ln(1+x)`.
    Log,
    /// Not windowed; the scorer computes its z directly.
    Direct,
}

/// Every feature the scorer measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    RequestRate,
    #[serde(rename = "status_4xx_ratio")]
    Status4xxRatio,
    #[serde(rename = "status_401_403_ratio")]
    Status401Ratio,
    #[serde(rename = "status_404_ratio")]
    Status404Ratio,
    #[serde(rename = "status_5xx_ratio")]
    Status5xxRatio,
    DeniedRatio,
    PlaintextShare,
    NovelPathTemplate,
    NovelMethod,
    NovelDestination,
    DistinctTemplates,
    BytesPerRequest,
    BytesTotal,
    RedactionsPerRequest,
    RedactionsTotal,
    LargeResponses,
    LatencyP50Ms,
    LatencyP95Ms,
    NewPrincipal,
    TimeOfDay,
    /// This response's size against the pair's usual responses.
    ResponseBytes,
    /// This response's redactions against the pair's usual responses.
    ResponseRedactions,
    /// A kind of PII this caller never got from this destination.
    NewPiiType,
    /// Plaintext where the mesh promises mTLS only.
    PlaintextInStrictMesh,
    /// Plaintext to a destination that never received any.
    PlaintextToNewDestination,
}

/// Features of a principal's short windows (1 min, 15 min): its own
/// behaviour. 5xx are not among them: they are the destinations' health
/// (a caller's own share of them is judged per pair).
pub const PRINCIPAL_FEATURES: [Feature; 13] = [
    Feature::RequestRate,
    Feature::Status4xxRatio,
    Feature::Status401Ratio,
    Feature::Status404Ratio,
    Feature::DeniedRatio,
    Feature::PlaintextShare,
    Feature::NovelPathTemplate,
    Feature::NovelMethod,
    Feature::NovelDestination,
    Feature::DistinctTemplates,
    Feature::BytesPerRequest,
    Feature::BytesTotal,
    Feature::RedactionsPerRequest,
];

/// Features of a principal's long windows (1 h, 6 h): slow leaks.
pub const LONG_FEATURES: [Feature; 2] = [Feature::BytesTotal, Feature::RedactionsTotal];

/// Features of a (principal, destination) pair's windows: what one caller
/// sees of one service, and what it takes from it (a busy principal hides a
/// slow leak from one service in its own totals). Its error ratios are
/// judged against what the destination's other callers get at the time.
pub const PAIR_FEATURES: [Feature; 9] = [
    Feature::RequestRate,
    Feature::Status4xxRatio,
    Feature::Status401Ratio,
    Feature::Status404Ratio,
    Feature::DeniedRatio,
    Feature::Status5xxRatio,
    Feature::BytesPerRequest,
    Feature::RedactionsPerRequest,
    Feature::LargeResponses,
];

/// Where [`Feature::BytesPerRequest`] sits in [`PAIR_FEATURES`].
pub const PAIR_BYTES_PER_REQUEST: usize = 6;

/// Features of a destination's latency histograms: its health.
pub const LATENCY_FEATURES: [Feature; 2] = [Feature::LatencyP50Ms, Feature::LatencyP95Ms];

/// Features of a destination's request windows: the rest of its health,
/// its errors and its load.
pub const SERVICE_FEATURES: [Feature; 2] = [Feature::Status5xxRatio, Feature::RequestRate];

impl Feature {
    /// Number of features (for arrays indexed by `feature as usize`).
    pub const COUNT: usize = Feature::PlaintextToNewDestination as usize + 1;

    pub fn kind(self) -> Kind {
        match self {
            Feature::NewPrincipal
            | Feature::TimeOfDay
            | Feature::NewPiiType
            | Feature::PlaintextInStrictMesh
            | Feature::PlaintextToNewDestination => Kind::Direct,
            f if f.numerator().is_some() => Kind::Ratio,
            _ => Kind::Log,
        }
    }

    /// The counter a ratio feature divides by the request count.
    fn numerator(self) -> Option<Count> {
        Some(match self {
            Feature::Status4xxRatio => Count::Status4xx,
            Feature::Status401Ratio => Count::Status401Or403,
            Feature::Status404Ratio => Count::Status404,
            Feature::Status5xxRatio => Count::Status5xx,
            Feature::DeniedRatio => Count::Denied,
            Feature::PlaintextShare => Count::Plaintext,
            Feature::NovelPathTemplate => Count::NovelTemplate,
            Feature::NovelMethod => Count::NovelMethod,
            Feature::NovelDestination => Count::NovelDestination,
            _ => return None,
        })
    }

    /// Smallest spread assumed for a log feature (≈ ±35 %; ±65 % for sizes
    /// and counts, which depend on the request mix), so a key with a steady
    /// history does not alert on jitter.
    pub fn log_floor(self) -> f64 {
        match self {
            Feature::DistinctTemplates
            | Feature::BytesPerRequest
            | Feature::BytesTotal
            | Feature::ResponseBytes
            | Feature::ResponseRedactions => 0.5,
            Feature::RedactionsTotal => 0.4,
            _ => 0.3,
        }
    }
}

/// Value as the baseline stores it.
pub fn to_baseline(kind: Kind, x: f64) -> f64 {
    match kind {
        Kind::Log => x.max(0.0).ln_1p(),
        Kind::Ratio | Kind::Direct => x,
    }
}

/// Back to natural units, for people reading a reason.
pub fn from_baseline(kind: Kind, x: f64) -> f64 {
    match kind {
        Kind::Log => x.exp_m1().max(0.0),
        Kind::Ratio | Kind::Direct => x,
    }
}

/// Log-spaced latency buckets: 0.1 ms × 1.5^i, up to ~18 min.
pub const LATENCY_BUCKETS: usize = 40;
const BUCKET_BASE_MS: f64 = 0.1;
const BUCKET_RATIO: f64 = 1.5;

/// A latency histogram of one destination in one window.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram(Ring<LATENCY_BUCKETS>);

impl LatencyHistogram {
    pub fn snapshot(&self) -> RingSnapshot {
        self.0.snapshot()
    }

    pub fn restore(s: &RingSnapshot) -> Option<Self> {
        Ring::restore(s).map(LatencyHistogram)
    }

    pub fn add(&mut self, t: f64, window: WindowId, ms: f64) {
        self.add_to(t, window, Self::bucket_of(ms));
    }

    /// The bucket of a latency, to add it to several windows at the cost
    /// of one logarithm.
    pub fn bucket_of(ms: f64) -> usize {
        let i = (ms.max(BUCKET_BASE_MS) / BUCKET_BASE_MS).ln() / BUCKET_RATIO.ln();
        // Saturating float → int cast; NaN lands in bucket 0.
        (i as usize).min(LATENCY_BUCKETS - 1)
    }

    /// Counts one request in latency bucket `i` ([`LatencyHistogram::bucket_of`]).
    pub fn add_to(&mut self, t: f64, window: WindowId, i: usize) {
        if let Some(c) = self.0.bucket(t, window).get_mut(i) {
            *c += 1.0;
        }
    }

    /// The `q` quantile in ms (bucket's geometric middle) and the count.
    pub fn quantile(&self, q: f64) -> Option<(f64, f64)> {
        quantile(&self.counts(), q)
    }

    /// Requests per latency bucket over the window.
    pub fn counts(&self) -> [f64; LATENCY_BUCKETS] {
        let mut counts = [0.0; LATENCY_BUCKETS];
        for bucket in &self.0.buckets {
            for (sum, v) in counts.iter_mut().zip(bucket) {
                *sum += f64::from(*v);
            }
        }
        counts
    }

    /// The latency feature's value from [`LatencyHistogram::counts`].
    pub fn value_of(counts: &[f64; LATENCY_BUCKETS], feature: Feature) -> Option<(f64, f64)> {
        match feature {
            Feature::LatencyP50Ms => quantile(counts, 0.5),
            Feature::LatencyP95Ms => quantile(counts, 0.95),
            _ => None,
        }
    }

    pub fn value(&self, feature: Feature) -> Option<(f64, f64)> {
        Self::value_of(&self.counts(), feature)
    }
}

/// The `q` quantile in ms (bucket's geometric middle) and the count.
fn quantile(counts: &[f64; LATENCY_BUCKETS], q: f64) -> Option<(f64, f64)> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut seen = 0.0;
    let i = counts
        .iter()
        .position(|b| {
            seen += b;
            seen >= q * total
        })
        .unwrap_or(LATENCY_BUCKETS - 1);
    let i = i32::try_from(i).unwrap_or(0);
    Some((
        BUCKET_BASE_MS * BUCKET_RATIO.powf(f64::from(i) + 0.5),
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(pairs: &[(Count, f64)]) -> Event {
        let mut e = [0.0; N_COUNTS];
        e[Count::Total as usize] = 1.0;
        for (c, v) in pairs {
            e[*c as usize] = *v;
        }
        e
    }

    #[test]
    fn rate_is_requests_per_minute() {
        let mut w = Window::default();
        for i in 0..600 {
            w.add(f64::from(i), WindowId::OneMinute, &event(&[]));
        }
        let (rate, _) = w
            .value(Feature::RequestRate, WindowId::OneMinute)
            .unwrap_or_default();
        assert!((rate - 60.0).abs() < 2.0, "{rate}");
    }

    #[test]
    fn windows_forget_at_their_own_pace() {
        let (mut fast, mut slow) = (Window::default(), Window::default());
        let e = event(&[(Count::Status401Or403, 1.0)]);
        fast.add(0.0, WindowId::OneMinute, &e);
        slow.add(0.0, WindowId::FifteenMinutes, &e);
        let quiet = event(&[]);
        fast.add(300.0, WindowId::OneMinute, &quiet);
        slow.add(300.0, WindowId::FifteenMinutes, &quiet);
        assert_eq!(fast.get(Count::Status401Or403), 0.0);
        assert_eq!(slow.get(Count::Status401Or403), 1.0);
        slow.add(1000.0, WindowId::FifteenMinutes, &quiet);
        assert_eq!(slow.get(Count::Status401Or403), 0.0);
    }

    #[test]
    fn each_ratio_feature_reads_its_counter() {
        let mut w = Window::default();
        let cases = [
            (Feature::Status4xxRatio, Count::Status4xx),
            (Feature::Status401Ratio, Count::Status401Or403),
            (Feature::Status404Ratio, Count::Status404),
            (Feature::Status5xxRatio, Count::Status5xx),
            (Feature::DeniedRatio, Count::Denied),
            (Feature::PlaintextShare, Count::Plaintext),
            (Feature::NovelPathTemplate, Count::NovelTemplate),
            (Feature::NovelMethod, Count::NovelMethod),
            (Feature::NovelDestination, Count::NovelDestination),
        ];
        w.add(0.0, WindowId::OneMinute, &event(&[]));
        for (i, (feature, count)) in cases.iter().enumerate() {
            let mut one = Window::default();
            one.add(0.0, WindowId::OneMinute, &event(&[(*count, 1.0)]));
            one.add(0.0, WindowId::OneMinute, &event(&[]));
            assert_eq!(feature.kind(), Kind::Ratio, "{i}");
            assert_eq!(
                one.value(*feature, WindowId::OneMinute),
                Some((0.5, 2.0)),
                "{feature:?}"
            );
        }
    }

    #[test]
    fn bytes_redactions_and_distinct_templates() {
        let mut w = Window::default();
        let e = event(&[
            (Count::Bytes, 1000.0),
            (Count::Redactions, 2.0),
            (Count::TemplateInWindow, 1.0),
        ]);
        w.add(0.0, WindowId::FifteenMinutes, &e);
        w.add(
            0.0,
            WindowId::FifteenMinutes,
            &event(&[(Count::Bytes, 3000.0)]),
        );
        let v = |f| w.value(f, WindowId::FifteenMinutes).map(|(v, _)| v);
        assert_eq!(v(Feature::BytesPerRequest), Some(2000.0));
        assert_eq!(v(Feature::BytesTotal), Some(4000.0));
        assert_eq!(v(Feature::RedactionsPerRequest), Some(1.0));
        assert_eq!(v(Feature::DistinctTemplates), Some(1.0));
        assert_eq!(v(Feature::LatencyP50Ms), None);
    }

    #[test]
    fn latency_quantiles() {
        let mut h = LatencyHistogram::default();
        for i in 0..100 {
            h.add(0.0, WindowId::OneMinute, if i < 90 { 10.0 } else { 1000.0 });
        }
        let (p50, n) = h.value(Feature::LatencyP50Ms).unwrap_or_default();
        let (p95, _) = h.value(Feature::LatencyP95Ms).unwrap_or_default();
        assert_eq!(n, 100.0);
        assert!((7.0..14.0).contains(&p50), "{p50}");
        assert!((700.0..1400.0).contains(&p95), "{p95}");
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn log_kind_round_trips() {
        let x = to_baseline(Kind::Log, 99.0);
        assert!((from_baseline(Kind::Log, x) - 99.0).abs() < 1e-9);
    }
}
