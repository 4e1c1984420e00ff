//! The Observatory collector: receives the audit streams of the filters and
//! stores them.
//!
//! Data flow of one batch, module by module:
//! [`server`] (tonic, TCP or TLS, shutdown) → [`ingest`] (one task per
//! stream, its sender authenticated and authorised by [`auth`]) →
//! [`validate`] → [`dedupe`] (per-sender sequence numbers) → [`redact`]
//! (re-redaction, on by default) → [`score::live`] → [`wal`]
//! (append, fsync, [`chain`] stamps) → ack; the [`sink`]s ([`sink::jsonl`],
//! and [`sink::loki`] when configured) drain the WAL on their own. What
//! passes from stage to stage are the trail's lines ([`trail`]); anomaly
//! events also go to [`alert`], which turns them into webhook notifications.
//! The scorer's and the alerter's state outlive restarts in
//! [`state_file`]s.
//!
//! [`cli`] and [`config`] turn flags, `OBSERVATORY_*` env vars and an
//! optional TOML file into a [`config::ServeConfig`]; each component counts
//! what it did (the ingest, re-redaction, the WAL, the sinks, the scorer,
//! the alerter) and registers its counters with [`telemetry`], which serves
//! them as `/metrics` with the health endpoints.
//!
//! Beside `serve`, [`commands`] holds the JSON-lines commands: `redact` (the
//! engine re-redaction uses), `score` (the scorer [`score`] runs live),
//! `verify` (checks a stored trail's chains and checkpoints) and `evidence`
//! (a checked time range of the trail as a bundle `verify` checks offline);
//! `fields` prints the field names of the stored lines, for LogQL.

pub mod alert;
pub mod auth;
pub mod chain;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dedupe;
pub mod ingest;
pub mod redact;
pub mod score;
pub mod server;
pub mod sink;
pub mod state_file;
pub mod telemetry;
pub mod trail;
pub mod validate;
pub mod wal;
