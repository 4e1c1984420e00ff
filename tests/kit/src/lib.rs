//! The test kit of the collector's tests (`collector/tests/`) and its
//! benchmark (`collector/examples/wal_bench.rs`), made to serve the
//! end-to-end harness (`tests/support`) as well:
//!
//! - [`process`]: the collector binary as a child process (every test and
//!   the benchmark that runs the binary starts it here);
//! - [`loki`]: a Loki stand-in that answers as Loki does;
//! - [`otlp`]: an OTLP receiver (traces, metrics) and one that never answers;
//! - [`otlp_logs`]: an OTLP logs receiver (gRPC or HTTP) with scripted answers;
//! - [`record`]: the audit record and batch fixtures;
//! - [`stream`]: one audit stream to a collector, driven batch by batch;
//! - [`admin`]: the collector's admin server (`/metrics`);
//! - [`wait`]: bounded polling (the end-to-end harness's too).
//!
//! It does not depend on the collector's library, so what needs it (the
//! in-process collector, its sink configs) stays with the collector's tests.
//! Everything binds to 127.0.0.1; helpers panic on what a test cannot go on
//! from, except the launcher, whose errors the benchmark reports and the
//! end-to-end harness retries on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod loki;
pub mod otlp;
pub mod otlp_logs;
pub mod process;
pub mod record;
pub mod stream;
pub mod wait;

/// A TCP port on 127.0.0.1 that was free when asked, for a server that binds
/// it later (a child process) or must keep it across restarts.
///
/// Not the kernel's port-0 pick: a port released by a port-0 bind is the
/// kernel's next candidate for another port-0 bind or outgoing connection,
/// which can take it before the server binds ("Address already in use" when
/// several test binaries share the machine). These ports come from below the
/// ephemeral range (32768–60999 on Linux), never twice from one process, and
/// from a different start point in each process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (std::process::id().wrapping_mul(7_919) ^ nanos) % SPAN
    });
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}
