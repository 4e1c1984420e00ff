//! The JSON-lines commands beside `serve`: `redact` (the redaction engine
//! on text), `score` (the anomaly scorer on stored records), `verify` (a
//! stored trail's chains and checkpoints) and `evidence` (a time range of
//! the trail, checked, as a bundle `verify` checks again offline); and
//! `fields` (the field names LogQL can query, as JSON). [`lines`] is what
//! the streaming ones share.

pub mod evidence;
pub mod fields;
pub mod lines;
pub mod redact;
pub mod score;
pub mod verify;
