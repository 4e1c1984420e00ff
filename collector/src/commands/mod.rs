//! The JSON-lines commands beside `serve`: `redact` (the redaction engine
//! on text), `score` (the anomaly scorer on stored records) and `verify`
//! (a stored trail's chains and checkpoints). [`lines`] is what the
//! streaming ones share.

pub mod lines;
pub mod redact;
pub mod score;
pub mod verify;
