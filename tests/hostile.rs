//! The hostile battery, in the mesh's shape: the filter's Envoy streams its records over mTLS
//! to a sidecar Envoy in front of the collector (through the cluster named as Istio names
//! it), the sidecar forwards the workload's certificate in `x-forwarded-client-cert`, and the
//! collector, in `xfcc` mode, binds the stream to that SPIFFE id. Normal requests (plaintext
//! and mTLS, allowed and denied) are interleaved with every hostile class: HTTP/1 requests the
//! codec rejects (a 70 KiB header among them), HTTP/2 streams it resets, `//` and
//! encoded-slash paths, a spoofed X-Forwarded-For, injected and reused request ids. In `open`
//! and `closed` audit mode: every request that reached Envoy has exactly one stored record,
//! valid and sent by the filter's workload; no normal request's record is lost; nothing is
//! answered 503 while the collector is healthy; the path decided on is the path forwarded;
//! `source_ip` is the address of the client's socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use observatory_e2e::hostile::{
    h2_request_from, h2_resets, http1_rejections, send_raw_from, H2Outcome,
};
use observatory_e2e::*;

/// Rounds of the battery; each sends every kind of request once (twice for a reused id).
const ROUNDS: usize = 15;
/// The filter's workload, as its certificate names it.
const ORDERS: &str = "spiffe://cluster.local/ns/shop/sa/orders";
/// The node id Istio gives the sidecar of an `orders` pod in `shop`: a proxy id the
/// collector's default rule lets `ORDERS` write.
const PROXY: &str = "sidecar~127.0.0.1~orders-5d9f7-x2k4p.shop~shop.svc.cluster.local";
const SPOOFED: &str = "203.0.113.9";

/// Where each kind of client connects from, so that `source_ip` tells them apart.
const NORMAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const SPOOFER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const MALFORMED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const RESETTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));

/// How the record of a request is found.
#[derive(Debug)]
enum Key {
    /// Its correlation id, sent by the test and used once.
    Id(String),
    /// Its path, used once (its id is generated or shared).
    Path(String),
    /// Envoy ended it before the filter saw it: its `response_details`.
    Details(&'static str),
}

impl Key {
    fn finds(&self, rec: &Value) -> bool {
        match self {
            Key::Id(id) => s(rec, "correlation_id") == id,
            Key::Path(path) => s(rec, "path") == path,
            Key::Details(details) => {
                s(rec, "rule") == "incomplete-request" && s(rec, "response_details") == *details
            }
        }
    }
}

/// A request of the battery.
#[derive(Debug)]
struct Sent {
    key: Key,
    from: IpAddr,
    /// What the client got (0: no response).
    status: u16,
}

/// The requests sent so far.
#[derive(Default)]
struct Sends {
    sent: Vec<Sent>,
    /// HTTP/2 streams Envoy resets: it answers nothing and closes their connection only
    /// after its delayed-close timeout (1 s), so they run beside the rest of the battery.
    resets: Vec<tokio::task::JoinHandle<(&'static str, std::io::Result<H2Outcome>)>>,
}

impl Sends {
    /// Notes a request that got `status`, which must be `expected` and never 503.
    fn push(&mut self, key: Key, from: IpAddr, status: u16, expected: u16) {
        assert_ne!(status, 503, "{key:?}: 503 while the collector is healthy");
        assert_eq!(status, expected, "{key:?}");
        self.sent.push(Sent { key, from, status });
    }

    async fn raw(&mut self, port: u16, key: Key, target: &str, id: &str, expected: u16) {
        let resp = raw_request(port, "GET", target, &[("x-request-id", id)], b"")
            .await
            .unwrap();
        self.push(key, NORMAL, resp.status, expected);
    }

    /// One request of each kind.
    async fn round(&mut self, stack: &Stack, frontend: &reqwest::Client, round: usize) {
        let port = stack.envoy.http_port;
        let plain = stack.plain();
        for (mtls, path, expected) in [
            (false, format!("/public/n-{round}"), 200),
            (true, format!("/api/n-{round}"), 200),
            (false, format!("/admin/n-{round}"), 403),
        ] {
            let id = unique_id("normal");
            let (client, url) = match mtls {
                true => (frontend, stack.https_url(&path)),
                false => (&plain, stack.http_url(&path)),
            };
            let status = get_with_id(client, &url, &id).await.status;
            self.push(Key::Id(id), NORMAL, status, expected);
        }
        for r in http1_rejections() {
            let status = send_raw_from(MALFORMED, port, &r.bytes).await.unwrap();
            self.push(
                Key::Details(r.details),
                MALFORMED,
                status.unwrap_or(0),
                r.status,
            );
        }
        for r in h2_resets() {
            self.push(Key::Details(r.details), RESETTER, 0, 0);
            self.resets.push(tokio::spawn(async move {
                (r.name, h2_request_from(RESETTER, port, &r.headers).await)
            }));
        }
        for (target, expected) in [
            ("//admin/users".to_owned(), 403),
            ("/admin%2Fusers".to_owned(), 403),
            (format!("/public//a/./b-{round}"), 200),
            (format!("/public/x%2fy-{round}"), 200),
        ] {
            let id = unique_id("path");
            self.raw(port, Key::Id(id.clone()), &target, &id, expected)
                .await;
        }
        let id = unique_id("spoofed");
        let spoofed = format!(
            "GET /public/xff-{round} HTTP/1.1\r\nHost: a\r\nx-request-id: {id}\r\n\
             x-forwarded-for: {SPOOFED}\r\nConnection: close\r\n\r\n"
        );
        let status = send_raw_from(SPOOFER, port, spoofed.as_bytes())
            .await
            .unwrap();
        self.push(Key::Id(id), SPOOFER, status.unwrap_or(0), 200);
        let long = "x".repeat(8 * 1024);
        for (i, injected) in ["a\tb", r#"id","decision":"allow"#, long.as_str()]
            .into_iter()
            .enumerate()
        {
            let path = format!("/public/injected-{round}-{i}");
            self.raw(port, Key::Path(path.clone()), &path, injected, 200)
                .await;
        }
        let reused = unique_id("reused");
        for i in 0..2 {
            let path = format!("/public/reused-{round}-{i}");
            let status = get_with_id(&plain, &stack.http_url(&path), &reused)
                .await
                .status;
            self.push(Key::Path(path), NORMAL, status, 200);
        }
    }

    /// Waits for the reset streams: none got a response.
    async fn resets_ended(&mut self) {
        for reset in self.resets.drain(..) {
            let (name, outcome) = reset.await.unwrap();
            assert_ne!(outcome.unwrap(), H2Outcome::Response, "{name}");
        }
    }

    /// Every sent request's record, found by its key; panics on a missing or extra record.
    fn claim(&self, records: &[Value]) {
        let mut unclaimed: Vec<&Value> = records.iter().collect();
        for sent in &self.sent {
            let at = unclaimed
                .iter()
                .position(|r| sent.key.finds(r))
                .unwrap_or_else(|| panic!("no record of {sent:?}"));
            let rec = unclaimed.swap_remove(at);
            assert_valid_record(rec, PROXY);
            assert_eq!(s(rec, "sender"), ORDERS, "{rec}");
            assert_eq!(
                s(rec, "source_ip"),
                sent.from.to_string(),
                "{sent:?}: {rec}"
            );
            assert_eq!(u(rec, "status"), Some(u64::from(sent.status)), "{rec}");
            assert!(matches!(s(rec, "decision"), "allow" | "deny"), "{rec}");
            let id = s(rec, "correlation_id");
            let plain = |c: char| c.is_ascii_alphanumeric() || "._:-".contains(c);
            assert!(
                !id.is_empty() && id.len() <= 128 && id.chars().all(plain),
                "{rec}"
            );
            if sent.from == SPOOFER {
                assert_eq!(s(rec, "forwarded_for"), SPOOFED, "{rec}");
            }
        }
        assert!(
            unclaimed.is_empty(),
            "records of no request: {unclaimed:#?}"
        );
        let record_ids: BTreeSet<&str> = records.iter().map(|r| s(r, "record_id")).collect();
        assert_eq!(record_ids.len(), records.len(), "a record_id repeats");
    }
}

/// Every allowed request reached the upstream with the path its record names, once.
fn decided_as_forwarded(upstream: &Upstream, records: &[Value]) {
    let forwarded = upstream.requests();
    let allowed: Vec<&Value> = records
        .iter()
        .filter(|r| s(r, "decision") == "allow")
        .collect();
    assert_eq!(forwarded.len(), allowed.len(), "{forwarded:#?}");
    for rec in allowed {
        let seen = forwarded
            .iter()
            .filter(|f| f.header("x-request-id") == Some(s(rec, "correlation_id")))
            .filter(|f| f.path.split('?').next() == Some(s(rec, "path")))
            .count();
        assert_eq!(seen, 1, "{rec}: forwarded as {forwarded:#?}");
    }
}

async fn battery(mode: &str) {
    let collector = Collector::start_authenticated("[ingest]\nauth = \"xfcc\"\n").await;
    let pki = Pki::new();
    let sidecar = Sidecar::start_mtls(collector.port, &pki).await;
    let workload = pki.client_identity(ORDERS);
    let mut cfg = plugin_config();
    cfg["auditFailureMode"] = json!(mode);
    let stack = Stack::start_with_pki(&cfg, collector, pki, |setup| {
        setup.node_id = PROXY.to_owned();
        setup.collector_port = sidecar.port;
        setup.collector_client_cert = Some((workload.cert_path.clone(), workload.key_path.clone()));
    })
    .await;
    let frontend = stack.mtls(FRONTEND_SPIFFE);
    let mut sends = Sends::default();
    for round in 0..ROUNDS {
        sends.round(&stack, &frontend, round).await;
    }
    sends.resets_ended().await;

    let expected = sends.sent.len();
    let collector = &stack.collector;
    let stored = eventually(WAIT, || {
        let n = collector.records().len();
        (n >= expected).then_some(n)
    })
    .await;
    // Time for a record too many to arrive.
    tokio::time::sleep(POLL * 5).await;
    let lines = collector.lines();
    assert_eq!(stored, Some(expected), "{} lines stored", lines.len());
    let odd: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("invalid").is_some() || l.get("audit_gap").is_some())
        .collect();
    assert!(odd.is_empty(), "{odd:#?}");
    let records = collector.records();
    sends.claim(&records);
    decided_as_forwarded(&stack.upstream, &records);

    let envoy = &stack.envoy;
    let reached = envoy.stat("http.plain.downstream_rq_total").await
        + envoy.stat("http.mtls.downstream_rq_total").await;
    assert_eq!(reached, expected as u64, "requests Envoy counted");
    let stats = envoy.observatory_stats().await;
    for counter in [
        "batches_refused",
        "records_dropped",
        "records_quarantined",
        "audit_unavailable",
    ] {
        let n = stats.get(&format!("wasmcustom.observatory_{counter}"));
        assert_eq!(n.copied().unwrap_or(0), 0, "{counter}: {stats:?}");
    }
    let xfcc = format!("URI={ORDERS}");
    assert!(sidecar.log().contains(&xfcc), "{}", sidecar.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_records_every_request_of_a_hostile_client() {
    battery("open").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_records_every_request_and_refuses_none() {
    battery("closed").await;
}
