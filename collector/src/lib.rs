//! The Observatory collector: receives the audit streams of the filters and
//! stores them.
//!
//! Data flow of one batch, module by module:
//! [`server`] (tonic, TCP, shutdown) → [`ingest`] (one task per stream) →
//! [`validate`] → [`dedupe`] (per-sender sequence numbers) →
//! [`redact`] (re-redaction, on by default) → score → [`wal`] (append,
//! fsync, [`chain`] stamps) → ack; the [`sink`]s ([`sink::jsonl`], and
//! [`sink::loki`] when configured) drain the WAL on their own, and
//! [`verify`] checks what they stored. What passes from stage to stage are
//! the trail's lines ([`trail`]).
//!
//! [`cli`] and [`config`] turn flags, `OBSERVATORY_*` env vars and an
//! optional TOML file into a [`config::ServeConfig`]; each component counts
//! what it did (the ingest, re-redaction, the WAL, the sinks, the scorer,
//! the alerter) and registers its counters with [`telemetry`], which serves
//! them as `/metrics` with the health endpoints. [`score`] scores records for anomalies: live between
//! re-redaction and the sinks ([`score::live`]), offline with
//! `observatory-collector score`; [`alert`] turns anomaly events into
//! webhook notifications; [`redact`] also backs
//! `observatory-collector redact`. Both streaming commands share one
//! JSON-lines loop (`lines`).

pub mod alert;
pub mod chain;
pub mod cli;
pub mod config;
pub mod dedupe;
pub mod ingest;
mod lines;
pub mod redact;
pub mod score;
pub mod server;
pub mod sink;
pub mod telemetry;
pub mod trail;
pub mod validate;
pub mod verify;
pub mod wal;
