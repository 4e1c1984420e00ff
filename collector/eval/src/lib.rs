//! Evaluation of the collector's anomaly scorer, kept out of the collector
//! itself. Two independent traffic generators with labelled incidents —
//! [`sim`] (independent Poisson flows between services) and [`calltree`]
//! (request trees with cascades, retries, jobs, two clusters) — share the
//! ground truth of [`label`] and the draws of [`draw`]; [`run`] names a generated stream; [`eval`]
//! scores one with the scorer and with two baselines (naive max-z and an
//! [`iforest`] on the same features) and reports detection quality. The
//! examples run on them: `traffic` (a stream as JSON lines),
//! `score_quality` (the side-by-side report; `--check` for the targets),
//! `false_alerts` (why a stream pages where it should not) and
//! `live_batches` (what live scoring costs a batch).

pub mod calltree;
pub mod draw;
pub mod eval;
pub mod iforest;
pub mod label;
pub mod run;
pub mod sim;
