//! The scorer's learnt state on disk, so that a restart does not forget the
//! baselines (and does not warm up again).
//!
//! JSON, written atomically ([`crate::state_file`]). Maps are stored least
//! recently used first, so a restore rebuilds the same LRU order. A file that does not parse or does
//! not fit (another version, wrong sizes) is an error for the caller to
//! report; it never half-restores.

use std::path::{Path, PathBuf};

use lru::LruCache;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::baseline::Baseline;
use super::bursts::Bursts;
use super::config::ScoreConfig;
use super::features::RingSnapshot;
use super::keys::{Destination, Pair, Principal, Seen, MAX_METHODS};
use super::state::{cap, Evictions, Scorer};
use super::tracked::{Baselines, Source, Tracked};
use crate::state_file::{self, StateFileError};

/// Bumped whenever the layout or the meaning of the state changes.
const VERSION: u32 = 2;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a scorer checkpoint: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: checkpoint version {found}, this collector reads {VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: checkpoint does not fit the scorer ({what})")]
    Shape { path: PathBuf, what: &'static str },
}

/// Everything a [`Scorer`] has learnt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    version: u32,
    started: Option<f64>,
    now: f64,
    principals: Vec<(String, PrincipalSnapshot)>,
    destinations: Vec<(String, DestinationSnapshot)>,
    workloads: Vec<String>,
    prior_principal: Vec<Baseline>,
    prior_long: Vec<Baseline>,
    prior_pair: Vec<Baseline>,
    prior_latency: Vec<Baseline>,
    prior_service: Vec<Baseline>,
    prior_bytes: Baseline,
    prior_redactions: Baseline,
    evictions: Evictions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrackedSnapshot {
    windows: [RingSnapshot; 2],
    baselines: Vec<Baseline>,
    next_learn: f64,
    peak: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PrincipalSnapshot {
    first_seen: f64,
    requests: u64,
    known: bool,
    established: bool,
    tracked: TrackedSnapshot,
    long: TrackedSnapshot,
    templates: Vec<(String, Seen)>,
    methods: Vec<String>,
    pairs: Vec<(String, PairSnapshot)>,
    hours: [f64; 24],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PairSnapshot {
    first_seen: f64,
    tracked: TrackedSnapshot,
    bytes: Baseline,
    redactions: Baseline,
    pii_types: u64,
    bursts: Bursts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DestinationSnapshot {
    latency: TrackedSnapshot,
    service: TrackedSnapshot,
    plaintext_known: bool,
    pii_share: f64,
}

/// An LRU map's entries, least recently used first.
fn lru_entries<V, S>(cache: &LruCache<String, V>, f: impl Fn(&V) -> S) -> Vec<(String, S)> {
    cache.iter().rev().map(|(k, v)| (k.clone(), f(v))).collect()
}

/// Rebuilds an LRU map from entries least recently used first; beyond `cap`
/// (a smaller cap than when saved) the oldest are dropped.
fn lru_from<V, S>(
    entries: &[(String, S)],
    max: usize,
    f: impl Fn(&S) -> Option<V>,
) -> Option<LruCache<String, V>> {
    let mut cache = LruCache::new(cap(max));
    for (k, s) in entries {
        cache.push(k.clone(), f(s)?);
    }
    Some(cache)
}

fn flatten<const N: usize>(b: &Baselines<N>) -> Vec<Baseline> {
    b.iter().flatten().copied().collect()
}

fn unflatten<const N: usize>(v: &[Baseline]) -> Option<Baselines<N>> {
    if v.len() != 2 * N {
        return None;
    }
    let mut out: Baselines<N> = [[Baseline::default(); N]; 2];
    for (row, values) in out.iter_mut().zip(v.chunks_exact(N)) {
        row.copy_from_slice(values);
    }
    Some(out)
}

impl<S: Source, const N: usize> Tracked<S, N> {
    fn snapshot(&self) -> TrackedSnapshot {
        TrackedSnapshot {
            windows: [self.windows[0].snapshot(), self.windows[1].snapshot()],
            baselines: flatten(&self.baselines),
            next_learn: self.next_learn,
            peak: self.peak,
        }
    }

    fn restore(s: &TrackedSnapshot) -> Option<Self> {
        Some(Tracked {
            windows: [S::restore(&s.windows[0])?, S::restore(&s.windows[1])?],
            baselines: unflatten(&s.baselines)?,
            next_learn: s.next_learn,
            peak: s.peak,
        })
    }
}

impl PairSnapshot {
    fn of(p: &Pair) -> Self {
        PairSnapshot {
            first_seen: p.first_seen,
            tracked: p.tracked.snapshot(),
            bytes: p.bytes,
            redactions: p.redactions,
            pii_types: p.pii_types,
            bursts: p.bursts.clone(),
        }
    }

    fn restore(&self) -> Option<Pair> {
        Some(Pair {
            first_seen: self.first_seen,
            tracked: Tracked::restore(&self.tracked)?,
            bytes: self.bytes,
            redactions: self.redactions,
            pii_types: self.pii_types,
            bursts: self.bursts.clone(),
        })
    }
}

impl PrincipalSnapshot {
    fn of(p: &Principal) -> Self {
        PrincipalSnapshot {
            first_seen: p.first_seen,
            requests: p.requests,
            known: p.known,
            established: p.established,
            tracked: p.tracked.snapshot(),
            long: p.long.snapshot(),
            templates: lru_entries(&p.templates, |t| *t),
            methods: p.methods.iter().rev().map(|(m, ())| m.clone()).collect(),
            pairs: lru_entries(&p.pairs, PairSnapshot::of),
            hours: p.hours,
        }
    }

    fn restore(&self, config: &ScoreConfig) -> Option<Principal> {
        let mut methods = LruCache::new(cap(MAX_METHODS));
        for m in &self.methods {
            methods.push(m.clone(), ());
        }
        Some(Principal {
            first_seen: self.first_seen,
            requests: self.requests,
            known: self.known,
            established: self.established,
            tracked: Tracked::restore(&self.tracked)?,
            long: Tracked::restore(&self.long)?,
            templates: lru_from(&self.templates, config.max_templates, |t| Some(*t))?,
            methods,
            pairs: lru_from(&self.pairs, config.max_pairs, PairSnapshot::restore)?,
            hours: self.hours,
        })
    }
}

impl DestinationSnapshot {
    fn of(d: &Destination) -> Self {
        DestinationSnapshot {
            latency: d.latency.snapshot(),
            service: d.service.snapshot(),
            plaintext_known: d.plaintext_known,
            pii_share: d.pii_share,
        }
    }

    fn restore(&self) -> Option<Destination> {
        Some(Destination {
            latency: Tracked::restore(&self.latency)?,
            service: Tracked::restore(&self.service)?,
            plaintext_known: self.plaintext_known,
            pii_share: self.pii_share,
        })
    }
}

impl Scorer {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: VERSION,
            started: self.started,
            now: self.now,
            principals: lru_entries(&self.principals, PrincipalSnapshot::of),
            destinations: lru_entries(&self.destinations, DestinationSnapshot::of),
            workloads: self
                .workloads
                .iter()
                .rev()
                .map(|(w, ())| w.clone())
                .collect(),
            prior_principal: flatten(&self.prior_principal),
            prior_long: flatten(&self.prior_long),
            prior_pair: flatten(&self.prior_pair),
            prior_latency: flatten(&self.prior_latency),
            prior_service: flatten(&self.prior_service),
            prior_bytes: self.prior_bytes,
            prior_redactions: self.prior_redactions,
            evictions: self.evictions,
        }
    }

    /// A scorer with `config` that continues from `snapshot`.
    fn restore(config: ScoreConfig, s: &Snapshot) -> Result<Scorer, &'static str> {
        let mut scorer = Scorer::new(config);
        let config = &scorer.config;
        scorer.principals = lru_from(&s.principals, config.max_principals, |p| p.restore(config))
            .ok_or("principal state")?;
        scorer.destinations = lru_from(
            &s.destinations,
            config.max_destinations,
            DestinationSnapshot::restore,
        )
        .ok_or("destination state")?;
        for w in &s.workloads {
            scorer.workloads.push(w.clone(), ());
        }
        scorer.prior_principal = unflatten(&s.prior_principal).ok_or("principal prior")?;
        scorer.prior_long = unflatten(&s.prior_long).ok_or("long window prior")?;
        scorer.prior_pair = unflatten(&s.prior_pair).ok_or("pair prior")?;
        scorer.prior_latency = unflatten(&s.prior_latency).ok_or("latency prior")?;
        scorer.prior_service = unflatten(&s.prior_service).ok_or("service prior")?;
        scorer.prior_bytes = s.prior_bytes;
        scorer.prior_redactions = s.prior_redactions;
        scorer.started = s.started;
        scorer.now = s.now;
        scorer.evictions = s.evictions;
        Ok(scorer)
    }
}

/// Writes `snapshot` to `path` atomically ([`crate::state_file`]).
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), CheckpointError> {
    state_file::save(path, snapshot).map_err(CheckpointError::from)
}

/// The scorer saved at `path` with `config` applied, or `None` if there is
/// no checkpoint yet.
pub fn load(path: &Path, config: ScoreConfig) -> Result<Option<Scorer>, CheckpointError> {
    let Some(snapshot) = state_file::load::<Snapshot>(path)? else {
        return Ok(None);
    };
    if snapshot.version != VERSION {
        return Err(CheckpointError::Version {
            path: path.to_owned(),
            found: snapshot.version,
        });
    }
    Scorer::restore(config, &snapshot)
        .map(Some)
        .map_err(|what| CheckpointError::Shape {
            path: path.to_owned(),
            what,
        })
}

impl From<StateFileError> for CheckpointError {
    fn from(e: StateFileError) -> Self {
        match e {
            StateFileError::Io { path, source } => CheckpointError::Io { path, source },
            StateFileError::Parse { path, source } => CheckpointError::Parse { path, source },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config() -> ScoreConfig {
        ScoreConfig {
            warmup_secs: 600.0,
            max_principals: 12,
            ..Default::default()
        }
    }

    #[test]
    fn missing_is_none_and_corrupt_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("score.json");
        assert!(load(&path, config()).unwrap().is_none());
        std::fs::write(&path, b"{\"version\":2,").unwrap();
        let err = load(&path, config()).err().unwrap();
        assert!(matches!(err, CheckpointError::Parse { .. }), "{err}");
        let mut s = Scorer::new(config()).snapshot();
        s.prior_pair.pop();
        save(&path, &s).unwrap();
        let err = load(&path, config()).err().unwrap();
        assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
        s.version = 99;
        save(&path, &s).unwrap();
        let err = load(&path, config()).err().unwrap();
        assert!(err.to_string().contains("version 99"), "{err}");
    }
}
