//! What a [`super::Scorer`] is told: method, warm-up, the mesh's mTLS mode,
//! when an identity stops being new, state caps.

use serde::Deserialize;

use super::model::Method;

/// The mesh's mTLS mode (Istio's PeerAuthentication), which decides what
/// plaintext means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MeshMode {
    /// Plaintext is allowed: a plaintext source is judged like any other
    /// (plaintext to a destination that never received any pages).
    #[default]
    Permissive,
    /// The mesh promises mTLS only: every plaintext request is a policy
    /// violation and pages by itself (`plaintext_in_strict_mesh`).
    Strict,
}

/// Tuning of a [`super::Scorer`].
#[derive(Debug, Clone)]
pub struct ScoreConfig {
    pub method: Method,
    /// Record time after the first record during which records are flagged
    /// as warm-up (no score) and everything is learnt.
    pub warmup_secs: f64,
    /// A key whose score reached this since its last baseline update does
    /// not learn, so an attack does not become the new normal.
    pub learn_below: f64,
    pub mesh: MeshMode,
    /// An identity first seen after warm-up stays new (and elevated) until
    /// it is this old (record time) and has made
    /// [`ScoreConfig::new_principal_requests`] requests.
    pub new_principal_secs: f64,
    pub new_principal_requests: u64,
    /// Destination workloads where a new identity weighs more (beside the
    /// ones whose responses carry PII, which count as sensitive anyway).
    pub sensitive_destinations: Vec<String>,
    /// Principals (or plaintext source IPs) tracked; the least recently seen
    /// is evicted beyond it.
    pub max_principals: usize,
    /// Path templates remembered per principal.
    pub max_templates: usize,
    /// Destinations tracked per principal.
    pub max_pairs: usize,
    /// Destination workloads tracked (health).
    pub max_destinations: usize,
    /// Keep every record's feature values ([`super::Scorer::features`]) for
    /// comparisons with other detectors; off in the collector.
    pub keep_features: bool,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            method: Method::Robust,
            warmup_secs: 30.0 * 60.0,
            learn_below: 0.5,
            mesh: MeshMode::Permissive,
            new_principal_secs: 60.0 * 60.0,
            new_principal_requests: 100,
            sensitive_destinations: Vec::new(),
            max_principals: 10_000,
            max_templates: 256,
            max_pairs: 64,
            max_destinations: 1_000,
            keep_features: false,
        }
    }
}
