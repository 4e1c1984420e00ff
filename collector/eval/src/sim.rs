//! Seeded synthetic mesh traffic with labelled incidents, to measure what
//! the scorer catches (see [`crate::eval`]). Deterministic for a seed.
//!
//! 20 services call each other (a random call graph, Poisson arrivals,
//! log-normal latencies and sizes, a trickle of 4xx/5xx), one legacy
//! plaintext client, and a bulk exporter; into that go the [`Scenario`]s.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use observatory_proto::json::{format_ts, CanonicalRecord};

use crate::draw::lognormal;
use crate::label::{Label, Labeled};

/// Injected incidents. Attacks should page; benign surprises should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    CredentialStuffing,
    PathScanning,
    PrivilegeEscalation,
    BulkExfiltration,
    SlowExfiltration,
    NewPrincipal,
    Plaintext,
    LatencyDegradation,
    DeployBlip,
    NightlyExport,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::CredentialStuffing,
        Scenario::PathScanning,
        Scenario::PrivilegeEscalation,
        Scenario::BulkExfiltration,
        Scenario::SlowExfiltration,
        Scenario::NewPrincipal,
        Scenario::Plaintext,
        Scenario::LatencyDegradation,
        Scenario::DeployBlip,
        Scenario::NightlyExport,
    ];

    /// The `label` written beside the record.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::CredentialStuffing => "credential_stuffing",
            Scenario::PathScanning => "path_scanning",
            Scenario::PrivilegeEscalation => "privilege_escalation",
            Scenario::BulkExfiltration => "bulk_exfiltration",
            Scenario::SlowExfiltration => "slow_exfiltration",
            Scenario::NewPrincipal => "new_principal",
            Scenario::Plaintext => "plaintext",
            Scenario::LatencyDegradation => "latency_degradation",
            Scenario::DeployBlip => "benign_deploy_blip",
            Scenario::NightlyExport => "benign_nightly_export",
        }
    }

    /// Latency is a service's health, not its callers' behaviour; the
    /// deploy blip and the nightly export are benign surprises.
    pub fn tag(self) -> Label {
        match self {
            Scenario::LatencyDegradation => Label::operational(self.label()),
            Scenario::DeployBlip | Scenario::NightlyExport => Label::benign(self.label()),
            _ => Label::attack(self.label()),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    pub seed: u64,
    pub hours: f64,
    /// Unix seconds of the first record; the nightly export runs at 01:00 UTC.
    pub start: f64,
    /// Multiplies every baseline rate (smaller = faster tests).
    pub rate_scale: f64,
    /// Incidents start after this (the scorer's warm-up).
    pub quiet_secs: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            hours: 3.0,
            // 2026-11-26T22:15:00Z: a 3 h run includes 01:00.
            start: 1_795_731_300.0,
            rate_scale: 1.0,
            quiet_secs: 40.0 * 60.0,
        }
    }
}

const SERVICES: [&str; 20] = [
    "frontend",
    "web",
    "gateway",
    "auth",
    "orders",
    "cart",
    "checkout",
    "payments",
    "inventory",
    "catalog",
    "search",
    "reviews",
    "shipping",
    "notifications",
    "users",
    "billing",
    "analytics",
    "reports",
    "exporter",
    "recommendations",
];
const SCAN_WORDS: [&str; 16] = [
    "admin",
    "backup",
    "config",
    "debug",
    "old",
    "test",
    "wp-admin",
    "phpmyadmin",
    ".git",
    "server-status",
    "console",
    "private",
    "internal",
    "dump",
    "env",
    "actuator",
];
const SCAN_FILES: [&str; 8] = [
    "index", "login", "db", "settings", "secrets", "keys", "users", "passwd",
];

fn service(name: &str) -> usize {
    SERVICES.iter().position(|s| *s == name).unwrap_or(0)
}

/// Who sends a flow's requests.
#[derive(Debug, Clone, Copy)]
enum Source {
    Service(usize),
    Outsider(&'static str),
    PlaintextIp(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    source: Source,
    dest: usize,
    /// Requests per second.
    rate: f64,
    start: f64,
    end: f64,
    scenario: Option<Scenario>,
}

/// A change to a destination's responses for a while (not a flow of its own).
#[derive(Debug, Clone, Copy)]
struct Effect {
    scenario: Scenario,
    dest: usize,
    start: f64,
    end: f64,
}

/// The traffic, as an iterator of records in time order.
pub struct Traffic {
    rng: fastrand::Rng,
    flows: Vec<Flow>,
    effects: Vec<Effect>,
    /// (next arrival in ns, flow index)
    queue: BinaryHeap<Reverse<(u64, usize)>>,
    base_latency: [f64; 20],
    seq: u64,
}

impl Traffic {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let (t0, end) = (cfg.start, cfg.start + cfg.hours * 3600.0);
        let mut flows = Vec::new();
        let normal = |source, dest, rate| Flow {
            source,
            dest,
            rate,
            start: t0,
            end,
            scenario: None,
        };
        for caller in 0..SERVICES.len() {
            let mut callees: Vec<usize> = (0..SERVICES.len()).filter(|d| *d != caller).collect();
            rng.shuffle(&mut callees);
            for dest in callees.into_iter().take(rng.usize(2..=4)) {
                let rate = cfg.rate_scale * (0.1 + 1.9 * rng.f64() * rng.f64());
                flows.push(normal(Source::Service(caller), dest, rate));
            }
        }
        flows.push(normal(
            Source::PlaintextIp("10.0.9.50"),
            service("catalog"),
            0.2 * cfg.rate_scale,
        ));
        flows.push(normal(
            Source::Service(service("exporter")),
            service("orders"),
            0.05,
        ));

        // Incidents, spread over the time after the quiet start.
        let span = (end - t0 - cfg.quiet_secs).max(0.0);
        let at = |f: f64| t0 + cfg.quiet_secs + f * span;
        let mut incident = |scenario, source, dest: &str, rate, start: f64, secs: f64| {
            flows.push(Flow {
                source,
                dest: service(dest),
                rate,
                start,
                end: start + secs,
                scenario: Some(scenario),
            });
        };
        use Scenario as S;
        let svc = |n| Source::Service(service(n));
        incident(
            S::CredentialStuffing,
            svc("web"),
            "auth",
            15.0,
            at(0.05),
            180.0,
        );
        incident(
            S::PathScanning,
            svc("reports"),
            "catalog",
            4.0,
            at(0.15),
            240.0,
        );
        incident(
            S::PrivilegeEscalation,
            svc("search"),
            "users",
            0.5,
            at(0.25),
            300.0,
        );
        incident(
            S::BulkExfiltration,
            svc("analytics"),
            "users",
            8.0,
            at(0.35),
            120.0,
        );
        incident(
            S::NewPrincipal,
            Source::Outsider("spiffe://cluster.local/ns/dev/sa/debug-shell"),
            "orders",
            0.3,
            at(0.45),
            600.0,
        );
        incident(
            S::Plaintext,
            Source::PlaintextIp("10.0.77.13"),
            "payments",
            1.0,
            at(0.55),
            600.0,
        );
        incident(
            S::SlowExfiltration,
            svc("billing"),
            "users",
            1.0 / 30.0,
            at(0.75),
            2400.0,
        );
        let mut night = (t0 / 86_400.0).floor() * 86_400.0 + 3600.0;
        while night < end {
            if night > t0 + cfg.quiet_secs {
                incident(
                    S::NightlyExport,
                    svc("exporter"),
                    "orders",
                    0.3,
                    night,
                    600.0,
                );
            }
            night += 86_400.0;
        }
        let effects = vec![
            Effect {
                scenario: S::DeployBlip,
                dest: service("cart"),
                start: at(0.1),
                end: at(0.1) + 45.0,
            },
            Effect {
                scenario: S::DeployBlip,
                dest: service("checkout"),
                start: at(0.6),
                end: at(0.6) + 45.0,
            },
            Effect {
                scenario: S::LatencyDegradation,
                dest: service("inventory"),
                start: at(0.65),
                end: at(0.65) + 1200.0,
            },
        ];
        let base_latency = std::array::from_fn(|_| 3.0 + 60.0 * rng.f64() * rng.f64());
        let mut traffic = Self {
            rng,
            flows,
            effects,
            queue: BinaryHeap::new(),
            base_latency,
            seq: 0,
        };
        for i in 0..traffic.flows.len() {
            let start = traffic.flows[i].start;
            traffic.schedule(i, start);
        }
        traffic
    }

    fn schedule(&mut self, i: usize, after: f64) {
        let flow = self.flows[i];
        let next = after - (1.0 - self.rng.f64()).ln() / flow.rate;
        if next < flow.end {
            // Saturating cast: times are positive and far below 2^64 ns.
            self.queue.push(Reverse(((next * 1e9) as u64, i)));
        }
    }

    fn id(&mut self) -> String {
        if self.rng.bool() {
            self.rng.u32(1..1_000_000).to_string()
        } else {
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                self.rng.u32(..),
                self.rng.u16(..),
                self.rng.u16(..0xfff),
                self.rng.u16(..0xfff),
                self.rng.u64(..1 << 48)
            )
        }
    }

    fn record(&mut self, t_ns: u64, flow: Flow) -> Labeled {
        let t = t_ns as f64 / 1e9;
        let dest = SERVICES[flow.dest];
        let mut label = flow.scenario;
        let r = self.rng.f64();
        let mut status = match r {
            r if r < 0.003 => 404,
            r if r < 0.005 => 401,
            r if r < 0.007 => 503,
            r if r < 0.03 => 201,
            _ => 200,
        };
        let mut method = if r < 0.2 { "POST" } else { "GET" };
        let mut latency = lognormal(&mut self.rng, self.base_latency[flow.dest], 0.5);
        let mut bytes = lognormal(&mut self.rng, 2_000.0, 1.0);
        let mut path = if self.rng.bool() {
            format!("/api/{dest}/{}", self.id())
        } else {
            format!("/api/{dest}")
        };
        let mut redactions = BTreeMap::new();
        let mut decision = "allow";
        if dest == "users" && self.rng.f64() < 0.3 {
            redactions.insert("email".to_owned(), 1);
        }
        match flow.scenario {
            Some(Scenario::CredentialStuffing) => {
                (method, path) = ("POST", "/api/login".to_owned());
                status = if self.rng.f64() < 0.97 { 401 } else { 200 };
            }
            Some(Scenario::PathScanning) => {
                let w = SCAN_WORDS[self.rng.usize(..SCAN_WORDS.len())];
                let f = SCAN_FILES[self.rng.usize(..SCAN_FILES.len())];
                path = format!(
                    "/{w}/{f}.{}",
                    ["php", "bak", "zip", "sql", "json"][self.rng.usize(..5)]
                );
                status = 404;
            }
            Some(Scenario::PrivilegeEscalation) => {
                method = ["PUT", "DELETE", "POST", "GET"][self.rng.usize(..4)];
                path = format!(
                    "/admin/{}/{}",
                    ["users", "roles", "grants"][self.rng.usize(..3)],
                    self.id()
                );
                (status, decision) = (403, "deny");
            }
            Some(Scenario::BulkExfiltration) => {
                path = format!("/api/customers/{}", self.id());
                bytes = lognormal(&mut self.rng, 3_000_000.0, 0.3);
                redactions.insert("email".to_owned(), 40);
                redactions.insert("phone".to_owned(), 25);
            }
            Some(Scenario::SlowExfiltration) => {
                path = format!("/api/customers/{}/statements", self.id());
                bytes = lognormal(&mut self.rng, 400_000.0, 0.3);
                redactions.insert("iban".to_owned(), 3);
            }
            Some(Scenario::NightlyExport) => {
                path = "/api/export/orders".to_owned();
                bytes = lognormal(&mut self.rng, 8_000_000.0, 0.3);
            }
            _ if matches!(flow.source, Source::Service(s) if SERVICES[s] == "exporter") => {
                path = "/api/export/orders".to_owned();
                bytes = lognormal(&mut self.rng, 2_000_000.0, 0.3);
            }
            _ => {}
        }
        for e in &self.effects {
            if e.dest == flow.dest && (e.start..e.end).contains(&t) {
                label = label.or(Some(e.scenario));
                if e.scenario == Scenario::DeployBlip && self.rng.f64() < 0.3 {
                    status = 503;
                }
                if e.scenario == Scenario::LatencyDegradation {
                    // Ramps to 10× over five minutes.
                    latency *= 1.0 + 9.0 * ((t - e.start) / 300.0).min(1.0);
                }
            }
        }
        if status == 403 && decision == "allow" {
            decision = "deny";
        }
        let (principal, ip, mtls) = match flow.source {
            Source::Service(s) => (
                format!("spiffe://cluster.local/ns/shop/sa/{}", SERVICES[s]),
                format!("10.0.{s}.{}", 10 + self.rng.u8(..4)),
                true,
            ),
            Source::Outsider(p) => (p.to_owned(), "10.0.66.6".to_owned(), true),
            Source::PlaintextIp(ip) => (String::new(), ip.to_owned(), false),
        };
        self.seq += 1;
        let ok = (200..300).contains(&status);
        Labeled {
            record: CanonicalRecord {
                ts: format_ts(i64::try_from(t_ns).unwrap_or(i64::MAX)),
                correlation_id: format!("sim-{:016x}", self.seq),
                trace_id: String::new(),
                source_principal: principal,
                source_ip: ip,
                mtls,
                destination_workload: dest.to_owned(),
                destination_namespace: "shop".to_owned(),
                method: method.to_owned(),
                path,
                query: String::new(),
                status,
                duration_ms: (latency * 1000.0).round() / 1000.0,
                request_bytes: if method == "GET" { 0 } else { 300 },
                response_bytes: if ok { bytes as u64 } else { 60 },
                user_agent: "Go-http-client/2.0".to_owned(),
                headers: BTreeMap::new(),
                request_body: String::new(),
                response_body: String::new(),
                decision: decision.to_owned(),
                shadow_decision: String::new(),
                rule: if decision == "deny" {
                    "no-admin".to_owned()
                } else {
                    String::new()
                },
                redactions: if ok { redactions } else { BTreeMap::new() },
                proxy_id: format!("{dest}-0"),
                audit_policy: String::new(),
                anomaly_score: None,
                anomaly_reasons: Vec::new(),
                ..Default::default()
            },
            label: label.map(Scenario::tag),
        }
    }
}

impl Iterator for Traffic {
    type Item = Labeled;

    fn next(&mut self) -> Option<Labeled> {
        let Reverse((t_ns, i)) = self.queue.pop()?;
        let flow = self.flows[i];
        self.schedule(i, t_ns as f64 / 1e9);
        Some(self.record(t_ns, flow))
    }
}
