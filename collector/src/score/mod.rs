//! Anomaly scoring of audit records, live in the ingest ([`live`], which
//! reports anomalous principal-minutes and unhealthy destination-minutes as
//! [`event`]s) and offline (`observatory-collector score`,
//! [`crate::commands::score`]).
//!
//! One record at a time, in record time (`ts`, never the wall clock):
//! [`template`] reduces the path to a route → [`state::Scorer`] updates the
//! bounded per-key state ([`keys`]: [`features`] in sliding windows per
//! principal, per (principal, destination) and per destination, each with
//! its [`baseline`]s, [`tracked`]) → every feature is compared with its
//! baseline → [`model`] turns the deviations a record takes part in into a
//! **behaviour** score in [0, 1] (0.85 = page a human) and the destination's
//! into a **health** score → [`attribution`] names the features behind each.
//! [`bursts`] knows a pair's periodic jobs, [`identity`] what a SPIFFE ID
//! and a route say by themselves, [`config`] the knobs (mesh mode among
//! them); [`checkpoint`] keeps the learnt state across restarts. The
//! traffic generators and the detection-quality report are a crate of
//! their own, `observatory-eval` (`collector/eval/`).

pub mod attribution;
pub mod baseline;
pub mod bursts;
pub mod checkpoint;
pub mod config;
pub mod event;
pub mod features;
pub mod identity;
pub mod input;
pub mod keys;
pub mod live;
pub mod model;
pub mod state;
pub mod template;
pub mod tracked;

pub use config::{MeshMode, ScoreConfig};
pub use input::Observation;
pub use model::Method;
pub use state::{Scored, Scorer};
