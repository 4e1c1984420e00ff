//! What the scorer keeps per key: a principal (its behaviour), each of its
//! (principal, destination) pairs (what it gets from one service), and a
//! destination (its health).

use lru::LruCache;

use super::baseline::Baseline;
use super::bursts::Bursts;
use super::features::{
    LatencyHistogram, Window, LATENCY_FEATURES, LONG_FEATURES, PAIR_FEATURES, PRINCIPAL_FEATURES,
    SERVICE_FEATURES,
};
use super::tracked::Tracked;

/// Methods remembered per principal (there are few).
pub const MAX_METHODS: usize = 16;

/// A path template's first and last use by one principal.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub first: f64,
    pub last: f64,
}

pub struct Principal {
    pub first_seen: f64,
    pub requests: u64,
    /// Seen during warm-up, or known by its workload in another trust
    /// domain when first seen, or no longer new: not new.
    pub known: bool,
    /// Its workload is in the scorer's set of known workloads.
    pub established: bool,
    pub tracked: Tracked<Window, { PRINCIPAL_FEATURES.len() }>,
    /// 1 h and 6 h windows: cumulative data, slow leaks.
    pub long: Tracked<Window, { LONG_FEATURES.len() }>,
    pub templates: LruCache<String, Seen>,
    pub methods: LruCache<String, ()>,
    pub pairs: LruCache<String, Pair>,
    /// Requests per hour of day (UTC).
    pub hours: [f64; 24],
}

pub struct Pair {
    pub first_seen: f64,
    pub tracked: Tracked<Window, { PAIR_FEATURES.len() }>,
    /// `ln(1 + bytes)` and `ln(1 + redactions)` of its successful
    /// responses, learnt per response: what one response usually is.
    pub bytes: Baseline,
    pub redactions: Baseline,
    /// PII types it has received, one bit per type name (hashed).
    pub pii_types: u64,
    pub bursts: Bursts,
}

impl Pair {
    pub fn new(t: f64) -> Self {
        Pair {
            first_seen: t,
            tracked: Tracked::default(),
            bytes: Baseline::default(),
            redactions: Baseline::default(),
            pii_types: 0,
            bursts: Bursts::default(),
        }
    }
}

#[derive(Default)]
pub struct Destination {
    pub latency: Tracked<LatencyHistogram, { LATENCY_FEATURES.len() }>,
    /// Every caller's requests: the destination's errors and load, and what
    /// its other callers get when one caller's share is judged.
    pub service: Tracked<Window, { SERVICE_FEATURES.len() }>,
    /// It has received plaintext from a known source (or during warm-up).
    pub plaintext_known: bool,
    /// Share of its successful responses that carry PII (decayed): a
    /// destination serving PII is sensitive.
    pub pii_share: f64,
}

/// PII share from which a destination counts as sensitive.
pub const SENSITIVE_PII_SHARE: f64 = 0.05;
