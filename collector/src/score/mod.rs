//! Anomaly scoring of audit records, live in the ingest ([`live`], which
//! reports anomalous principal-minutes as [`event`]s) and offline
//! (`observatory-collector score`, [`crate::commands::score`]).
//!
//! One record at a time, in record time (`ts`, never the wall clock):
//! [`template`] reduces the path to a route → [`state::Scorer`] updates the
//! bounded per-key state ([`features`]: decayed 1 min / 15 min windows per
//! principal, per (principal, destination) and per destination) → every
//! feature is compared with its robust [`baseline`] → [`model`] turns the
//! deviations into a score in [0, 1] (0.85 = page a human) → [`attribution`]
//! names the features behind it; [`checkpoint`] keeps the learnt state
//! across restarts. The traffic simulator and the detection-quality report
//! are a crate of their own, `observatory-eval` (`collector/eval/`).

pub mod attribution;
pub mod baseline;
pub mod checkpoint;
pub mod event;
pub mod features;
pub mod input;
pub mod live;
pub mod model;
pub mod state;
pub mod template;

pub use input::Observation;
pub use model::{Method, ScoreConfig};
pub use state::{Scored, Scorer};
