//! The audit record fixture, defined once: [`request`] is what the load of
//! the benchmark sends, [`record`] the numbered records of the tests.

use observatory_proto::audit::{AuditBatch, AuditRecord};

/// The proxy id of [`record`] and [`batch`] (Envoy's node id in a mesh).
pub const PROXY: &str = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local";
/// The sender instance of [`batch`].
pub const INSTANCE: &str = "vm-7f3a";

/// An allowed mTLS `POST` from `web` to `orders` at `ts_unix_nanos`, every
/// other field at its default: about 530 bytes as a canonical JSON line
/// (the benchmark's load).
pub fn request(ts_unix_nanos: i64) -> AuditRecord {
    AuditRecord {
        ts_unix_nanos,
        correlation_id: "00000000-0000-4000-8000-000000000000".into(),
        source_principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
        source_ip: "10.0.0.9".into(),
        mtls: true,
        destination_workload: "orders".into(),
        destination_namespace: "shop".into(),
        method: "POST".into(),
        path: "/api/orders/12345".into(),
        status: 201,
        duration_ms: 12.5,
        request_bytes: 321,
        response_bytes: 54,
        user_agent: "curl/8.5.0".into(),
        decision: "allow".into(),
        rule: "orders/allow".into(),
        proxy_id: "web-1.shop".into(),
        ..AuditRecord::default()
    }
}

/// Record `n`, stamped `n` ns after a start time shared by the test process
/// (recent, as live traffic is: Loki's stream windows apply); a [`request`]
/// with a trace, a shadow decision, redactions and an audit policy.
pub fn record(n: u32) -> AuditRecord {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let now = observatory_proto::json::unix_nanos(std::time::SystemTime::now());
        now - now % 1_000_000_000 + 123_456_789
    });
    AuditRecord {
        correlation_id: format!("corr-{n}"),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        path: format!("/orders/{n}"),
        shadow_decision: "deny".into(),
        rule: "orders-write/allow-web".into(),
        redactions: [("email".to_owned(), 2)].into_iter().collect(),
        proxy_id: PROXY.into(),
        audit_policy: "pci".into(),
        ..request(start + i64::from(n))
    }
}

/// Batch `seq` of sender [`INSTANCE`] of [`PROXY`].
pub fn batch(seq: u64, records: Vec<AuditRecord>) -> AuditBatch {
    AuditBatch {
        proxy_id: PROXY.into(),
        instance_id: INSTANCE.into(),
        seq,
        records,
        gap: None,
    }
}
