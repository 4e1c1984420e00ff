//! Evaluation of the collector's anomaly scorer, kept out of the collector
//! itself: [`sim`] generates seeded mesh traffic with labelled incidents,
//! [`eval`] scores it and reports detection quality. The examples
//! (`traffic`, `score_quality`, `live_batches`) and the quality floors in
//! `tests/` run on them.

pub mod eval;
pub mod sim;
