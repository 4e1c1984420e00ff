//! `make demo`: the whole pipeline on embedded defaults. Starts the collector, a demo upstream
//! and a real Envoy with the filter, sends a little traffic (allowed, denied, plaintext, mTLS,
//! dry-run, audited), waits until every record is stored, and prints what happened and where
//! the records are (`.demo/` in the repository).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use observatory_e2e::*;

/// One demo request: who sends it, what, and why it is interesting.
struct Call {
    mtls_identity: Option<&'static str>,
    method: &'static str,
    path: &'static str,
    what: &'static str,
}

const OTHER_SPIFFE: &str = "spiffe://cluster.local/ns/batch/sa/report-job";

fn calls() -> Vec<Call> {
    let call = |mtls_identity, method, path, what| Call {
        mtls_identity,
        method,
        path,
        what,
    };
    vec![
        call(
            Some(FRONTEND_SPIFFE),
            "GET",
            "/api/orders/42",
            "frontend reads an order (mTLS)",
        ),
        call(
            Some(FRONTEND_SPIFFE),
            "DELETE",
            "/api/orders/42",
            "frontend may not DELETE",
        ),
        call(
            Some(OTHER_SPIFFE),
            "GET",
            "/api/orders/42",
            "another service account",
        ),
        call(
            None,
            "GET",
            "/api/orders/42",
            "same call in plaintext: no principal",
        ),
        call(
            None,
            "GET",
            "/public/catalog?page=2&email=a@b.c",
            "public page (query not recorded)",
        ),
        call(
            None,
            "GET",
            "/public/export/all",
            "public export, marked by an AUDIT policy",
        ),
        call(None, "GET", "/admin/users", "admin is denied for everyone"),
        call(
            None,
            "GET",
            "/public/../admin/users",
            "path traversal is normalised first",
        ),
        call(
            None,
            "GET",
            "/healthz",
            "would be denied by the dry-run policy",
        ),
    ]
}

fn demo_config() -> Value {
    let mut config = plugin_config();
    config["batch"]["maxAgeMs"] = json!(200);
    config["policies"].as_array_mut().expect("policies").push(
        json!({"name": "lockdown-health", "action": "DENY", "dryRun": true,
                     "rules": [{"to": [{"operation": {"paths": ["/healthz"]}}]}]}),
    );
    config
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let config = demo_config();
    println!("Starting collector, demo upstream and Envoy 1.40 with the Observatory filter…");
    let stack = Stack::start(&config).await;
    println!(
        "  Envoy plaintext {}  mTLS {}  collector {}\n",
        stack.http_url("/"),
        stack.https_url("/"),
        stack.collector.addr()
    );

    let mut ids = Vec::new();
    println!(
        "{:<7} {:<36} {:<6} {:<22} what",
        "method", "path", "status", "client"
    );
    for c in calls() {
        let id = unique_id("demo");
        let status = match c.mtls_identity {
            Some(spiffe) => {
                let client = stack.mtls(spiffe);
                let url = stack.https_url(c.path);
                let req = client.request(c.method.parse().expect("method"), url);
                send(req.header("x-request-id", &id)).await.status
            }
            // Raw socket: the path is sent exactly as written (no client-side `..` cleanup).
            None => {
                raw_request(
                    stack.envoy.http_port,
                    c.method,
                    c.path,
                    &[("x-request-id", id.as_str())],
                    b"",
                )
                .await
                .unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.path))
                .status
            }
        };
        let client = c
            .mtls_identity
            .map_or("plaintext", |s| s.rsplit('/').next().unwrap_or(s));
        println!(
            "{:<7} {:<36} {:<6} {:<22} {}",
            c.method, c.path, status, client, c.what
        );
        ids.push(id);
    }

    println!("\nWaiting for the records to be acknowledged by the collector…");
    let records: Vec<Value> = {
        let mut out = Vec::new();
        for id in &ids {
            out.push(stack.collector.wait_for_record(id).await);
        }
        out
    };
    println!(
        "\n{:<36} {:<6} {:<8} {:<8} {:<16} {:<14} principal",
        "recorded path", "status", "decision", "shadow", "rule", "audit_policy"
    );
    for r in &records {
        println!(
            "{:<36} {:<6} {:<8} {:<8} {:<16} {:<14} {}",
            s(r, "path"),
            u(r, "status").unwrap_or(0),
            s(r, "decision"),
            s(r, "shadow_decision"),
            s(r, "rule"),
            s(r, "audit_policy"),
            s(r, "source_principal")
        );
    }

    let out = workspace_root().join(".demo");
    std::fs::create_dir_all(&out).expect("create .demo");
    let copy = |from: PathBuf, name: &str| {
        let to = out.join(name);
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        to
    };
    let audit = copy(stack.collector.audit_path(), "audit.jsonl");
    let envoy_log = copy(stack.envoy.log_path(), "envoy.log");
    std::fs::write(out.join("collector.log"), stack.collector.log()).expect("write collector log");
    std::fs::write(
        out.join("plugin-config.json"),
        serde_json::to_string_pretty(&config).expect("json"),
    )
    .expect("write config");

    println!("\nEnvoy counters:");
    for (name, value) in stack.envoy.observatory_stats().await {
        println!("  {name} = {value}");
    }
    println!("\nOne record, as the collector stored it:");
    println!(
        "{}",
        serde_json::to_string_pretty(&records[0]).expect("json")
    );
    println!("\nRecords:       {}", audit.display());
    println!("Envoy log:     {}", envoy_log.display());
    println!("Collector log: {}", out.join("collector.log").display());
    println!(
        "Plugin config: {}",
        out.join("plugin-config.json").display()
    );
}
