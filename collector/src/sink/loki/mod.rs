//! The Loki sink: pushes every entry to Grafana Loki's push API
//! (`/loki/api/v1/push`). `write` returns once Loki has confirmed the
//! entries, or refused them for good and they are fsynced in the
//! dead-letter file; until then the WAL keeps them for this sink.
//!
//! `write` ([`sink`]) → [`line`] (the time, label fields and metadata read
//! from each stored line, long lines split) in its stream ([`labels`]) →
//! [`batcher`] (one push request per `batch_max_bytes`, across concurrent
//! writes; a partial one goes as soon as the write that filled it waits for
//! it and no other write is queued, at the latest after
//! `batch_max_wait_ms`) → up to `max_concurrent_requests` deliveries
//! ([`service`], the body written by [`wire`]), each retried until Loki
//! answers for good → every write whose entries were in the request is
//! answered. [`healthcheck`] asks Loki whether it is ready; [`config`] holds
//! the settings and Loki's limits, [`error`] what can go wrong only here.
//!
//! Answers, as measured against a real Loki 3.7:
//! 2xx confirms; 429, 5xx, other statuses and network errors are retried
//! forever with jittered exponential backoff (at least `Retry-After`);
//! 400 is partial — Loki stored the rest — so only the entries it names go
//! to the dead-letter file ([`reject`]); 413 and 422 dead-letter the whole
//! request. Nothing is resent after a 400/413/422.

pub mod config;

mod batcher;
mod error;
mod healthcheck;
mod labels;
mod line;
mod reject;
mod service;
mod sink;
mod stats;
mod wire;

#[cfg(test)]
mod tests;

pub use self::config::SINK_NAME;
pub use self::error::LokiError;
pub use self::labels::Labels;
pub use self::line::{Encoder, LokiEntry};
pub use self::sink::LokiSink;
pub use self::stats::LokiStats;
