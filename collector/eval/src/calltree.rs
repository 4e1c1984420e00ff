//! A second traffic generator, independent of [`crate::sim`] and built
//! differently: traffic is **call trees**. A user request enters through an
//! ingress gateway, its entry service calls its dependencies, which call
//! theirs; every hop is one record, its latency includes its children's,
//! a child's failure can fail its parent, and callers retry failures. So a
//! slow dependency slows its callers (cascade), a failing one multiplies
//! their traffic (retry storm), and a canary's errors reach every caller.
//!
//! Around that: two clusters (each workload has one identity per trust
//! domain), a diurnal load curve, periodic batch jobs at 5, 15, 30 and 60
//! minutes (running from the start, warm-up included), and attacks placed
//! inside busy legitimate pairs where they can hide. The mesh is strict
//! mTLS: nothing legitimate is plaintext. Deterministic for a seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use observatory_proto::json::{format_ts, CanonicalRecord};

use crate::draw::lognormal;
use crate::label::{Label, Labeled};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct TreeConfig {
    pub seed: u64,
    pub hours: f64,
    /// Multiplies the user request rate (smaller = faster tests); jobs and
    /// attacks keep their rates.
    pub rate_scale: f64,
    /// Incidents start after this (the scorer's warm-up).
    pub quiet_secs: f64,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            seed: 1,
            hours: 2.0,
            rate_scale: 1.0,
            quiet_secs: 30.0 * 60.0,
        }
    }
}

/// Security incidents.
pub const CREDENTIAL_STUFFING: Label = Label::attack("credential_stuffing_in_busy_pair");
pub const ID_ENUMERATION: Label = Label::attack("id_enumeration");
pub const PRIVILEGE_ESCALATION: Label = Label::attack("privilege_escalation");
pub const BULK_EXFILTRATION: Label = Label::attack("bulk_exfiltration_in_busy_pair");
pub const SLOW_EXFILTRATION: Label = Label::attack("slow_exfiltration_in_busy_pair");
pub const NEW_IDENTITY: Label = Label::attack("new_identity");
pub const PLAINTEXT: Label = Label::attack("plaintext_in_strict_mesh");
pub const LATERAL_MOVEMENT: Label = Label::attack("lateral_movement");
/// Service health incidents.
pub const CASCADE: Label = Label::operational("cascade_slow_dependency");
pub const RETRY_STORM: Label = Label::operational("retry_storm");
/// Surprises that should page no one.
pub const PERIODIC_JOB: Label = Label::benign("periodic_job");
pub const CANARY: Label = Label::benign("canary_deploy");
pub const NEW_REPLICA: Label = Label::benign("workload_in_new_cluster");

/// Every label this generator writes, attacks first.
pub const LABELS: [Label; 13] = [
    CREDENTIAL_STUFFING,
    ID_ENUMERATION,
    PRIVILEGE_ESCALATION,
    BULK_EXFILTRATION,
    SLOW_EXFILTRATION,
    NEW_IDENTITY,
    PLAINTEXT,
    LATERAL_MOVEMENT,
    CASCADE,
    RETRY_STORM,
    PERIODIC_JOB,
    CANARY,
    NEW_REPLICA,
];

type W = usize;
const GATEWAY: W = 0;
const STOREFRONT: W = 1;
const MOBILE_BFF: W = 2;
const PARTNER_API: W = 3;
const CATALOG: W = 4;
const PRICING: W = 5;
const CART: W = 6;
const ORDERS: W = 7;
const ACCOUNTS: W = 8;
const SEARCH: W = 9;
const RECOMMEND: W = 10;
const INVENTORY: W = 11;
const PAYMENTS: W = 12;
const LEDGER: W = 13;
const CUSTOMERS: W = 14;
const NOTIFY: W = 15;
const IDENTITY: W = 16;
const REPORTING: W = 17;
const EXPORTER: W = 18;
const BACKUP: W = 19;

/// A dependency a workload calls while serving a request.
struct Dep {
    dest: W,
    /// Chance of calling it at all; then 1..=`max` calls.
    p: f64,
    max: u32,
}

const fn dep(dest: W, p: f64, max: u32) -> Dep {
    Dep { dest, p, max }
}

/// A workload: its name, how it serves (time, sizes, what its responses
/// carry) and what it calls.
struct Workload {
    name: &'static str,
    namespace: &'static str,
    /// Own processing time, median ms.
    service_ms: f64,
    /// Response size, median bytes (log-normal, σ 0.7).
    bytes: f64,
    /// (PII type, chance per response, count).
    pii: &'static [(&'static str, f64, u64)],
    /// Route patterns; `{id}` becomes an identifier.
    routes: &'static [(&'static str, &'static str)],
    deps: &'static [Dep],
}

const WORKLOADS: [Workload; 20] = [
    Workload {
        name: "istio-ingressgateway",
        namespace: "istio-system",
        service_ms: 0.5,
        bytes: 1000.0,
        pii: &[],
        routes: &[("GET", "/")],
        deps: &[],
    },
    Workload {
        name: "storefront",
        namespace: "shop",
        service_ms: 6.0,
        bytes: 24_000.0,
        pii: &[],
        routes: &[
            ("GET", "/"),
            ("GET", "/products/{id}"),
            ("GET", "/category/{id}"),
            ("POST", "/cart/add"),
        ],
        deps: &[
            dep(CATALOG, 0.9, 2),
            dep(RECOMMEND, 0.5, 1),
            dep(CART, 0.3, 1),
            dep(ACCOUNTS, 0.3, 1),
            dep(SEARCH, 0.25, 1),
            dep(IDENTITY, 0.2, 1),
        ],
    },
    Workload {
        name: "mobile-bff",
        namespace: "shop",
        service_ms: 4.0,
        bytes: 6_000.0,
        pii: &[],
        routes: &[
            ("GET", "/m/v3/home"),
            ("GET", "/m/v3/item/{id}"),
            ("POST", "/m/v3/cart"),
        ],
        deps: &[
            dep(CATALOG, 0.8, 2),
            dep(CART, 0.35, 1),
            dep(IDENTITY, 0.6, 1),
            dep(ORDERS, 0.2, 1),
            dep(ACCOUNTS, 0.2, 1),
        ],
    },
    Workload {
        name: "partner-api",
        namespace: "partners",
        service_ms: 5.0,
        bytes: 12_000.0,
        pii: &[],
        routes: &[
            ("GET", "/partner/v1/feed"),
            ("GET", "/partner/v1/orders/{id}"),
        ],
        deps: &[
            dep(CATALOG, 0.7, 3),
            dep(ORDERS, 0.4, 1),
            dep(ACCOUNTS, 0.2, 1),
        ],
    },
    Workload {
        name: "catalog",
        namespace: "shop",
        service_ms: 3.0,
        bytes: 9_000.0,
        pii: &[],
        routes: &[
            ("GET", "/api/catalog/items/{id}"),
            ("GET", "/api/catalog/categories/{id}"),
            ("GET", "/api/catalog/items"),
        ],
        deps: &[
            dep(PRICING, 0.85, 1),
            dep(INVENTORY, 0.6, 1),
            dep(SEARCH, 0.1, 1),
        ],
    },
    Workload {
        name: "pricing",
        namespace: "shop",
        service_ms: 2.0,
        bytes: 700.0,
        pii: &[],
        routes: &[("GET", "/api/prices/{id}"), ("POST", "/api/prices/quote")],
        deps: &[],
    },
    Workload {
        name: "cart",
        namespace: "shop",
        service_ms: 4.0,
        bytes: 2_500.0,
        pii: &[],
        routes: &[("GET", "/api/cart/{id}"), ("POST", "/api/cart/{id}/items")],
        deps: &[dep(PRICING, 0.7, 2), dep(INVENTORY, 0.5, 1)],
    },
    Workload {
        name: "orders",
        namespace: "shop",
        service_ms: 8.0,
        bytes: 4_000.0,
        pii: &[("address", 0.3, 1)],
        routes: &[
            ("GET", "/api/orders/{id}"),
            ("POST", "/api/orders"),
            ("GET", "/api/orders/{id}/status"),
        ],
        deps: &[
            dep(PAYMENTS, 0.4, 1),
            dep(INVENTORY, 0.4, 1),
            dep(CUSTOMERS, 0.7, 1),
            dep(NOTIFY, 0.2, 1),
        ],
    },
    Workload {
        name: "accounts",
        namespace: "shop",
        service_ms: 5.0,
        bytes: 3_000.0,
        pii: &[("email", 0.5, 1)],
        routes: &[
            ("GET", "/api/accounts/{id}"),
            ("PATCH", "/api/accounts/{id}"),
        ],
        deps: &[dep(CUSTOMERS, 0.9, 1), dep(IDENTITY, 0.3, 1)],
    },
    Workload {
        name: "search",
        namespace: "shop",
        service_ms: 15.0,
        bytes: 30_000.0,
        pii: &[],
        routes: &[("GET", "/api/search"), ("GET", "/api/search/suggest")],
        deps: &[dep(CATALOG, 0.3, 1), dep(ACCOUNTS, 0.05, 1)],
    },
    Workload {
        name: "recommend",
        namespace: "shop",
        service_ms: 20.0,
        bytes: 5_000.0,
        pii: &[],
        routes: &[("GET", "/api/recommend/{id}")],
        deps: &[dep(CATALOG, 0.5, 2)],
    },
    Workload {
        name: "inventory",
        namespace: "shop",
        service_ms: 6.0,
        bytes: 500.0,
        pii: &[],
        routes: &[
            ("GET", "/api/inventory/{id}"),
            ("POST", "/api/inventory/reserve"),
        ],
        deps: &[],
    },
    Workload {
        name: "payments",
        namespace: "payments",
        service_ms: 25.0,
        bytes: 900.0,
        pii: &[("card", 0.2, 1)],
        routes: &[("POST", "/api/payments"), ("GET", "/api/payments/{id}")],
        deps: &[dep(LEDGER, 0.8, 1), dep(IDENTITY, 0.2, 1)],
    },
    Workload {
        name: "ledger",
        namespace: "payments",
        service_ms: 7.0,
        bytes: 1_200.0,
        pii: &[("iban", 0.1, 1)],
        routes: &[
            ("POST", "/api/ledger/entries"),
            ("GET", "/api/ledger/entries/{id}"),
        ],
        deps: &[],
    },
    Workload {
        name: "customers",
        namespace: "crm",
        service_ms: 4.0,
        bytes: 3_000.0,
        pii: &[("email", 0.8, 1), ("phone", 0.6, 1)],
        routes: &[
            ("GET", "/api/customers/{id}"),
            ("GET", "/api/customers/{id}/addresses"),
        ],
        deps: &[],
    },
    Workload {
        name: "notify",
        namespace: "shop",
        service_ms: 10.0,
        bytes: 300.0,
        pii: &[],
        routes: &[("POST", "/api/notify/email"), ("POST", "/api/notify/push")],
        deps: &[dep(CUSTOMERS, 0.6, 1)],
    },
    Workload {
        name: "identity",
        namespace: "auth",
        service_ms: 3.0,
        bytes: 800.0,
        pii: &[],
        routes: &[
            ("POST", "/api/identity/token"),
            ("GET", "/api/identity/session/{id}"),
        ],
        deps: &[],
    },
    Workload {
        name: "reporting",
        namespace: "batch",
        service_ms: 30.0,
        bytes: 2_000.0,
        pii: &[],
        routes: &[("GET", "/")],
        deps: &[],
    },
    Workload {
        name: "exporter",
        namespace: "batch",
        service_ms: 30.0,
        bytes: 2_000.0,
        pii: &[],
        routes: &[("GET", "/")],
        deps: &[],
    },
    Workload {
        name: "backup",
        namespace: "batch",
        service_ms: 30.0,
        bytes: 2_000.0,
        pii: &[],
        routes: &[("GET", "/")],
        deps: &[],
    },
];

/// Trust domains of the two clusters.
const CLUSTERS: [&str; 2] = ["east.mesh.example", "west.mesh.example"];
/// A call slower than this fails at the caller (504).
const TIMEOUT_MS: f64 = 1000.0;
/// Attempts per call when it fails (1 + retries).
const ATTEMPTS: u32 = 3;
/// User requests per second at the top of the diurnal curve.
const PEAK_ROOTS_PER_SEC: f64 = 14.0;

/// What a process sends: user request trees, a periodic job, an attack.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Users,
    Job(Job),
    Attack(Attack),
}

#[derive(Debug, Clone, Copy)]
struct Job {
    source: W,
    dest: W,
    /// Seconds between runs, their first start, and how long one lasts.
    period: f64,
    phase: f64,
    run: f64,
    /// Requests per second while running.
    rate: f64,
    route: &'static str,
    bytes: f64,
    pii: &'static [(&'static str, f64, u64)],
    /// Requests per second between runs (0: silent), on `idle_route`.
    idle_rate: f64,
    idle_route: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AttackKind {
    CredentialStuffing,
    Enumeration,
    Escalation,
    BulkExfil,
    SlowExfil,
    NewIdentity,
    Plaintext,
    Lateral,
}

#[derive(Debug, Clone, Copy)]
struct Attack {
    kind: AttackKind,
    start: f64,
    end: f64,
    rate: f64,
}

/// A change to how a destination serves, for a while.
#[derive(Debug, Clone, Copy)]
struct Effect {
    kind: EffectKind,
    dest: W,
    start: f64,
    end: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EffectKind {
    /// Latency ramps to ×10 over three minutes.
    Slow,
    /// Half the requests fail with 503.
    Failing,
    /// A share of requests reach the new version: slower, more 5xx, larger.
    Canary,
}

/// A record waiting for its turn (records of one tree start later than
/// its root, so they are held until no earlier one can come).
struct Pending {
    t_ns: u64,
    n: u64,
    labeled: Labeled,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.t_ns, self.n) == (other.t_ns, other.n)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.t_ns, self.n).cmp(&(other.t_ns, other.n))
    }
}

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
enum From {
    /// A workload of the table, in cluster 0 or 1.
    Workload(W, usize),
    /// An identity outside the table.
    Outsider(&'static str),
    /// No identity: plaintext from an address.
    Plaintext,
}

/// One request, as its record will tell it.
struct Request {
    source: From,
    dest: W,
    method: &'static str,
    path: String,
    status: u32,
    ms: f64,
    /// Response size (if it succeeds) and what its responses may carry.
    bytes: f64,
    pii: &'static [(&'static str, f64, u64)],
    label: Option<Label>,
}

/// How one call went, for its caller.
struct Outcome {
    ms: f64,
    status: u32,
    /// The operational incident behind a slow or failed subtree.
    trouble: Option<Label>,
}

/// The traffic, as an iterator of records in time order.
pub struct CallTreeTraffic {
    rng: fastrand::Rng,
    t0: f64,
    end: f64,
    rate_scale: f64,
    processes: Vec<Kind>,
    /// (next start in ns, process index)
    arrivals: BinaryHeap<Reverse<(u64, usize)>>,
    ready: BinaryHeap<Reverse<Pending>>,
    effects: Vec<Effect>,
    /// When `recommend` gets its first west replica.
    scale_out: f64,
    seq: u64,
    trace: u64,
    /// Next customer id of the enumeration.
    enum_id: u64,
}

impl CallTreeTraffic {
    pub fn new(cfg: TreeConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(cfg.seed ^ 0x5eed_ca11_7eee);
        // Start between 05:00 and 09:00 UTC of a day in 2027: the morning ramp.
        let day = 1_798_761_600.0 + 86_400.0 * f64::from(rng.u32(0..300));
        let t0 = day + 3600.0 * (5.0 + 4.0 * rng.f64());
        let end = t0 + cfg.hours * 3600.0;
        let quiet = t0 + cfg.quiet_secs;
        let mut processes = vec![Kind::Users];
        let job = |source, dest, period: f64, run, rate, route, bytes, pii, idle| Job {
            source,
            dest,
            period,
            phase: 0.0,
            run,
            rate,
            route,
            bytes,
            pii,
            idle_rate: idle,
            idle_route: "/api/health",
        };
        let jobs = [
            job(
                LEDGER,
                PAYMENTS,
                300.0,
                20.0,
                8.0,
                "/api/payments/{id}/status",
                600.0,
                &[],
                0.0,
            ),
            job(
                REPORTING,
                ORDERS,
                900.0,
                90.0,
                4.0,
                "/api/orders/report",
                60_000.0,
                &[],
                1.0 / 60.0,
            ),
            job(
                EXPORTER,
                CUSTOMERS,
                1800.0,
                60.0,
                3.0,
                "/api/customers/export",
                1_500_000.0,
                &[("email", 1.0, 150), ("phone", 1.0, 80)],
                1.0 / 120.0,
            ),
            job(
                BACKUP,
                LEDGER,
                3600.0,
                120.0,
                1.0,
                "/api/ledger/snapshot/{id}",
                6_000_000.0,
                &[],
                0.0,
            ),
        ];
        for mut j in jobs {
            // Jobs have run long before the stream starts: each runs at
            // least once in the quiet start (the scorer's warm-up).
            j.phase = t0 + rng.f64() * (j.period.min(cfg.quiet_secs) - j.run).max(0.0);
            processes.push(Kind::Job(j));
        }
        // Incidents at random times after the quiet start, each within the run.
        let mut at = |secs: f64| {
            let latest = (end - secs - 300.0).max(quiet + 180.0);
            quiet + 180.0 + rng.f64() * (latest - quiet - 180.0)
        };
        use AttackKind as A;
        let attacks = [
            (A::CredentialStuffing, 240.0, 3.0),
            (A::Enumeration, 180.0, 5.0),
            (A::Escalation, 480.0, 0.3),
            (A::BulkExfil, 90.0, 3.0),
            (A::SlowExfil, 3600.0, 1.0 / 45.0),
            (A::NewIdentity, 1500.0, 0.4),
            (A::Plaintext, 600.0, 0.5),
            (A::Lateral, 300.0, 1.0),
        ];
        for (kind, secs, rate) in attacks {
            let secs: f64 = f64::min(secs, end - quiet - 600.0).max(60.0);
            let start = at(secs);
            processes.push(Kind::Attack(Attack {
                kind,
                start,
                end: start + secs,
                rate,
            }));
        }
        let effect = |kind, dest, start: f64, secs: f64| Effect {
            kind,
            dest,
            start,
            end: start + secs,
        };
        let effects = vec![
            effect(EffectKind::Slow, INVENTORY, at(900.0), 900.0),
            effect(EffectKind::Failing, IDENTITY, at(240.0), 240.0),
            effect(EffectKind::Canary, PRICING, at(1200.0), 1200.0),
        ];
        let scale_out = at(600.0);
        let mut traffic = CallTreeTraffic {
            rng,
            t0,
            end,
            rate_scale: cfg.rate_scale,
            processes,
            arrivals: BinaryHeap::new(),
            ready: BinaryHeap::new(),
            effects,
            scale_out,
            seq: 0,
            trace: 0,
            enum_id: 40_000,
        };
        for i in 0..traffic.processes.len() {
            let from = match traffic.processes[i] {
                Kind::Attack(a) => a.start,
                _ => t0,
            };
            traffic.schedule(i, from);
        }
        traffic
    }

    /// User requests per second at `t`: a diurnal curve peaking at 14:00 UTC.
    fn user_rate(&self, t: f64) -> f64 {
        let hour = (t / 3600.0).rem_euclid(24.0);
        let curve = 1.0 + 0.5 * (std::f64::consts::TAU * (hour - 8.0) / 24.0).sin();
        PEAK_ROOTS_PER_SEC / 1.5 * curve * self.rate_scale
    }

    /// Queues process `i`'s next start after `after`.
    fn schedule(&mut self, i: usize, after: f64) {
        let exp = |rng: &mut fastrand::Rng, rate: f64| -(1.0 - rng.f64()).ln() / rate;
        let next = match self.processes[i] {
            Kind::Users => {
                // Thinning against the curve's maximum.
                let max = PEAK_ROOTS_PER_SEC * self.rate_scale;
                let mut t = after;
                loop {
                    t += exp(&mut self.rng, max);
                    if t >= self.end || self.rng.f64() * max < self.user_rate(t) {
                        break t;
                    }
                }
            }
            Kind::Job(j) => {
                let t = after + exp(&mut self.rng, j.rate);
                let into = (t - j.phase).rem_euclid(j.period);
                if t >= j.phase && into < j.run {
                    t
                } else {
                    // Idle calls until the next run, which starts on time.
                    let next_run = t + (j.period - into).rem_euclid(j.period);
                    let next_run = if t < j.phase { j.phase } else { next_run };
                    let idle = if j.idle_rate > 0.0 {
                        after + exp(&mut self.rng, j.idle_rate)
                    } else {
                        f64::INFINITY
                    };
                    idle.min(next_run)
                }
            }
            Kind::Attack(a) => after + exp(&mut self.rng, a.rate),
        };
        let bound = match self.processes[i] {
            Kind::Attack(a) => a.end.min(self.end),
            _ => self.end,
        };
        if next < bound {
            // Saturating cast: times are positive and far below 2^64 ns.
            self.arrivals.push(Reverse(((next * 1e9) as u64, i)));
        }
    }

    fn id(&mut self) -> String {
        match self.rng.u8(0..3) {
            0 => format!("{:012x}", self.rng.u64(1 << 40..1 << 48)),
            _ => self.rng.u32(1..9_999_999).to_string(),
        }
    }

    fn route(&mut self, pattern: &str) -> String {
        let mut out = String::with_capacity(pattern.len() + 8);
        for (i, part) in pattern.split("{id}").enumerate() {
            if i > 0 {
                out.push_str(&self.id());
            }
            out.push_str(part);
        }
        out
    }

    fn principal(w: W, cluster: usize) -> String {
        let wl = &WORKLOADS[w];
        format!(
            "spiffe://{}/ns/{}/sa/{}",
            CLUSTERS[cluster], wl.namespace, wl.name
        )
    }

    fn effect(&self, dest: W, t: f64, kind: EffectKind) -> Option<Effect> {
        self.effects
            .iter()
            .find(|e| e.dest == dest && e.kind == kind && (e.start..e.end).contains(&t))
            .copied()
    }

    /// The record of one request as the destination's proxy sees it.
    fn emit(&mut self, t: f64, req: Request) {
        let Request {
            source,
            dest,
            method,
            path,
            status,
            ms,
            bytes,
            pii,
            label,
        } = req;
        let mut redactions = BTreeMap::new();
        let ok = (200..300).contains(&status);
        if ok {
            for (kind, p, n) in pii {
                if self.rng.f64() < *p {
                    let n = u32::try_from(*n).unwrap_or(u32::MAX);
                    *redactions.entry((*kind).to_owned()).or_insert(0) += n;
                }
            }
        }
        let (principal, ip, mtls) = match source {
            From::Workload(w, c) => (
                Self::principal(w, c),
                format!("10.{}.{}.{}", 20 + c, w, 10 + self.rng.u8(0..6)),
                true,
            ),
            From::Outsider(p) => (p.to_owned(), "10.20.66.6".to_owned(), true),
            From::Plaintext => (String::new(), "10.9.8.7".to_owned(), false),
        };
        let wl = &WORKLOADS[dest];
        let denied = status == 403;
        self.seq += 1;
        let t_ns = (t * 1e9) as u64;
        let record = CanonicalRecord {
            ts: format_ts(i64::try_from(t_ns).unwrap_or(i64::MAX)),
            correlation_id: format!("ct-{:016x}", self.seq),
            trace_id: format!("{:032x}", self.trace),
            source_principal: principal,
            source_ip: ip,
            mtls,
            destination_workload: wl.name.to_owned(),
            destination_namespace: wl.namespace.to_owned(),
            method: method.to_owned(),
            path,
            status,
            duration_ms: (ms * 1000.0).round() / 1000.0,
            request_bytes: if method == "GET" { 0 } else { 420 },
            response_bytes: if ok { bytes.max(2.0) as u64 } else { 90 },
            user_agent: "envoy".to_owned(),
            decision: if denied { "deny" } else { "allow" }.to_owned(),
            rule: if denied { "admin-only" } else { "" }.to_owned(),
            redactions,
            proxy_id: format!("{}-{}", wl.name, self.rng.u8(0..3)),
            ..CanonicalRecord::default()
        };
        self.ready.push(Reverse(Pending {
            t_ns,
            n: self.seq,
            labeled: Labeled { record, label },
        }));
    }

    /// One call from `source` to `dest` at `t` and everything it calls;
    /// retried by the caller when it fails.
    fn call(&mut self, t: f64, source: (W, usize), dest: W, depth: u32) -> Outcome {
        let mut t = t;
        let mut last = Outcome {
            ms: 0.0,
            status: 200,
            trouble: None,
        };
        let mut spent = 0.0;
        for attempt in 0..ATTEMPTS {
            last = self.attempt(t, source, dest, depth);
            spent += last.ms.min(TIMEOUT_MS);
            let failed = last.status >= 500 || last.ms > TIMEOUT_MS;
            if !failed || attempt + 1 == ATTEMPTS || source.0 == GATEWAY {
                break;
            }
            let backoff = 25.0 * f64::from(2u32.pow(attempt)) * (0.5 + self.rng.f64());
            t += (last.ms.min(TIMEOUT_MS) + backoff) / 1000.0;
            spent += backoff;
        }
        if last.ms > TIMEOUT_MS {
            last.status = 504;
        }
        last.ms = spent;
        last
    }

    fn attempt(&mut self, t: f64, source: (W, usize), dest: W, depth: u32) -> Outcome {
        let wl = &WORKLOADS[dest];
        let (method, pattern) = wl.routes[self.rng.usize(0..wl.routes.len())];
        let mut own = lognormal(&mut self.rng, wl.service_ms, 0.45);
        let mut bytes = lognormal(&mut self.rng, wl.bytes, 0.7);
        let mut status = match self.rng.f64() {
            r if r < 0.004 => 404,
            r if r < 0.006 => 400,
            r if r < 0.008 => 503,
            _ if method == "POST" => 201,
            _ => 200,
        };
        // Users mistype passwords: the token endpoint answers 401 now and then.
        if dest == IDENTITY && pattern.ends_with("token") && self.rng.f64() < 0.03 {
            status = 401;
        }
        let mut trouble = None;
        if let Some(e) = self.effect(dest, t, EffectKind::Slow) {
            own *= 1.0 + 9.0 * ((t - e.start) / 180.0).min(1.0);
            trouble = Some(CASCADE);
        }
        if self.effect(dest, t, EffectKind::Failing).is_some() {
            trouble = Some(RETRY_STORM);
            if self.rng.bool() {
                status = 503;
            }
        }
        let mut label = trouble;
        if self.effect(dest, t, EffectKind::Canary).is_some() && self.rng.f64() < 0.15 {
            own *= 1.5;
            bytes *= 1.3;
            if self.rng.f64() < 0.04 {
                status = 500;
            }
            label = Some(CANARY);
        }
        // The canary was promoted: the new version serves everything.
        if dest == PRICING
            && self
                .effects
                .iter()
                .any(|e| e.kind == EffectKind::Canary && t >= e.end)
        {
            bytes *= 1.3;
        }
        let cluster = if dest == RECOMMEND && source.1 == 1 && t < self.scale_out {
            0
        } else {
            source.1
        };
        // Dependencies, one after the other, after a first slice of own work.
        let mut ms = own * 0.3;
        if status < 500 && depth < 5 {
            for d in wl.deps {
                if self.rng.f64() >= d.p {
                    continue;
                }
                for _ in 0..self.rng.u32(1..=d.max) {
                    let child = self.call(t + ms / 1000.0, (dest, cluster), d.dest, depth + 1);
                    ms += child.ms;
                    if child.trouble.is_some() {
                        trouble = trouble.or(child.trouble);
                        label = label.or(child.trouble);
                    }
                    if child.status >= 500 && self.rng.f64() < 0.7 {
                        status = if child.status == 504 { 504 } else { 502 };
                    }
                }
            }
        }
        ms += own * 0.7;
        if dest == RECOMMEND && cluster == 1 && t >= self.scale_out && label.is_none() {
            label = Some(NEW_REPLICA);
        }
        let path = self.route(pattern);
        self.emit(
            t,
            Request {
                source: From::Workload(source.0, source.1),
                dest,
                method,
                path,
                status,
                ms,
                bytes,
                pii: wl.pii,
                label,
            },
        );
        Outcome {
            ms,
            status,
            trouble,
        }
    }

    /// A user request: the gateway calls an entry service.
    fn user_tree(&mut self, t: f64) {
        let cluster = usize::from(self.rng.f64() < 0.4);
        let entry = match self.rng.f64() {
            r if r < 0.55 => STOREFRONT,
            r if r < 0.9 => MOBILE_BFF,
            _ => PARTNER_API,
        };
        self.call(t, (GATEWAY, cluster), entry, 0);
    }

    fn job_call(&mut self, t: f64, j: Job) {
        let into = (t - j.phase).rem_euclid(j.period);
        let running = t >= j.phase && into < j.run;
        let (route, bytes, pii, label) = if running {
            (j.route, j.bytes, j.pii, Some(PERIODIC_JOB))
        } else {
            (j.idle_route, 400.0, &[][..], None)
        };
        let method = "GET";
        let path = self.route(route);
        let ms = lognormal(
            &mut self.rng,
            WORKLOADS[j.dest].service_ms * if running { 4.0 } else { 1.0 },
            0.4,
        );
        let bytes = lognormal(&mut self.rng, bytes, 0.25);
        self.emit(
            t,
            Request {
                source: From::Workload(j.source, 0),
                dest: j.dest,
                method,
                path,
                status: 200,
                ms,
                bytes,
                pii,
                label,
            },
        );
    }

    fn attack_call(&mut self, t: f64, a: Attack) {
        use AttackKind as A;
        let r = self.rng.f64();
        let request = |source, dest, method, path, status, bytes, pii, label| Request {
            source,
            dest,
            method,
            path,
            status,
            ms: 0.0,
            bytes,
            pii,
            label: Some(label),
        };
        let mut req = match a.kind {
            A::CredentialStuffing => request(
                From::Workload(MOBILE_BFF, 0),
                IDENTITY,
                "POST",
                "/api/identity/token".to_owned(),
                if r < 0.91 { 401 } else { 201 },
                800.0,
                &[],
                CREDENTIAL_STUFFING,
            ),
            A::Enumeration => {
                self.enum_id += 1 + u64::from(self.rng.u8(0..3));
                request(
                    From::Workload(PARTNER_API, 0),
                    CUSTOMERS,
                    "GET",
                    format!("/api/customers/{}", self.enum_id),
                    if r < 0.65 { 404 } else { 200 },
                    3_000.0,
                    &[("email", 1.0, 1), ("phone", 1.0, 1)],
                    ID_ENUMERATION,
                )
            }
            A::Escalation => {
                let method = ["PUT", "DELETE", "POST"][self.rng.usize(0..3)];
                let path = format!("/internal/accounts/{}/roles", self.id());
                let status = if r < 0.9 { 403 } else { 200 };
                request(
                    From::Workload(SEARCH, 1),
                    ACCOUNTS,
                    method,
                    path,
                    status,
                    200.0,
                    &[],
                    PRIVILEGE_ESCALATION,
                )
            }
            A::BulkExfil => request(
                From::Workload(ORDERS, 0),
                CUSTOMERS,
                "GET",
                format!("/api/customers?page={}&size=500", self.rng.u32(1..400)),
                200,
                1_200_000.0,
                &[("email", 1.0, 300), ("phone", 1.0, 200)],
                BULK_EXFILTRATION,
            ),
            A::SlowExfil => request(
                From::Workload(ACCOUNTS, 1),
                CUSTOMERS,
                "GET",
                format!("/api/customers/{}/addresses", self.id()),
                200,
                250_000.0,
                &[("email", 1.0, 20), ("iban", 1.0, 5)],
                SLOW_EXFILTRATION,
            ),
            A::NewIdentity => {
                // The identity itself is the finding; its requests look ordinary.
                let (dest, pattern) = if r < 0.5 {
                    (PAYMENTS, "/api/payments/{id}")
                } else {
                    (CUSTOMERS, "/api/customers/{id}")
                };
                let wl = &WORKLOADS[dest];
                request(
                    From::Outsider("spiffe://east.mesh.example/ns/default/sa/default"),
                    dest,
                    "GET",
                    self.route(pattern),
                    200,
                    wl.bytes,
                    wl.pii,
                    NEW_IDENTITY,
                )
            }
            A::Plaintext => request(
                From::Plaintext,
                LEDGER,
                "GET",
                self.route("/api/ledger/entries/{id}"),
                200,
                1_200.0,
                &[],
                PLAINTEXT,
            ),
            A::Lateral => {
                let (dest, method, pattern) = match self.rng.u8(0..3) {
                    0 => (PAYMENTS, "POST", "/api/payments/{id}/refund"),
                    1 => (LEDGER, "GET", "/api/ledger/accounts"),
                    _ => (IDENTITY, "GET", "/admin/identity/tokens"),
                };
                let path = self.route(pattern);
                let status = if r < 0.4 { 403 } else { 200 };
                request(
                    From::Workload(NOTIFY, 0),
                    dest,
                    method,
                    path,
                    status,
                    1_500.0,
                    &[],
                    LATERAL_MOVEMENT,
                )
            }
        };
        req.ms = lognormal(&mut self.rng, WORKLOADS[req.dest].service_ms, 0.45);
        req.bytes = lognormal(&mut self.rng, req.bytes, 0.3);
        self.emit(t, req);
    }
}

impl Iterator for CallTreeTraffic {
    type Item = Labeled;

    fn next(&mut self) -> Option<Labeled> {
        loop {
            let next_start = self.arrivals.peek().map(|Reverse((t, _))| *t);
            if let Some(Reverse(p)) = self.ready.peek() {
                // Nothing that starts later can come before it.
                if next_start.is_none_or(|s| p.t_ns <= s) {
                    return self.ready.pop().map(|Reverse(p)| p.labeled);
                }
            }
            let Reverse((t_ns, i)) = self.arrivals.pop()?;
            let t = t_ns as f64 / 1e9;
            self.trace += 1;
            match self.processes[i] {
                Kind::Users => self.user_tree(t),
                Kind::Job(j) => self.job_call(t, j),
                Kind::Attack(a) => self.attack_call(t, a),
            }
            self.schedule(i, t);
            debug_assert!(t >= self.t0);
        }
    }
}
