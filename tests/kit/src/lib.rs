//! The test kit of the collector's tests (`collector/tests/`) and its
//! benchmark (`collector/examples/wal_bench.rs`), made to serve the
//! end-to-end harness (`tests/support`) as well:
//!
//! - [`process`]: the collector binary as a child process;
//! - [`loki`]: a Loki stand-in that answers as Loki does;
//! - [`otlp`]: an OTLP receiver (traces, metrics) and one that never answers;
//! - [`otlp_logs`]: an OTLP logs receiver (gRPC or HTTP) with scripted answers;
//! - [`record`]: the audit record and batch fixtures;
//! - [`stream`]: one audit stream to a collector, driven batch by batch;
//! - [`admin`]: the collector's admin server (`/metrics`);
//! - [`wait`]: bounded polling.
//!
//! It does not depend on the collector's library, so what needs it (the
//! in-process collector, its sink configs) stays with the collector's tests.
//! Everything binds to 127.0.0.1; helpers panic on what a test cannot go on
//! from, except the launcher, whose errors the benchmark reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod loki;
pub mod otlp;
pub mod otlp_logs;
pub mod process;
pub mod record;
pub mod stream;
pub mod wait;

/// A free TCP port on 127.0.0.1 (bound to port 0, then released), for a
/// server that must keep its port across restarts.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}
