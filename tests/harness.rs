//! Self-checks of the harness that need only Envoy (no filter, no collector): the bootstrap
//! validates, plain routing reaches the recording upstream, the mTLS listener accepts a
//! client certificate from the test CA and refuses a client without one, and LDS pushes
//! through the file are picked up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::envoy::LdsOutcome;
use observatory_e2e::*;

fn setup_without_filter(pki: &Pki, upstream: &Upstream) -> EnvoySetup {
    // Nothing listens on the collector port; the cluster is just never used.
    EnvoySetup::new(pki, upstream.port, free_port(), None)
}

#[test]
fn bootstrap_validates() {
    let pki = Pki::new();
    let mut setup = EnvoySetup::new(&pki, free_port(), free_port(), None);
    if let Err(out) = Envoy::validate(&setup) {
        panic!("bootstrap without filter does not validate:\n{out}");
    }
    // With the filter too, when it has been built (the same YAML the tests use).
    let wasm = workspace_root().join("target/wasm32-wasip1/release/observatory_filter.wasm");
    let wasm = std::env::var_os("OBSERVATORY_WASM")
        .map(std::path::PathBuf::from)
        .unwrap_or(wasm);
    if wasm.is_file() {
        setup.plugin_config = Some(plugin_config().to_string());
        setup.wasm = Some(wasm);
        if let Err(out) = Envoy::validate(&setup) {
            panic!("bootstrap with filter does not validate:\n{out}");
        }
    } else {
        eprintln!("filter not built; validated the bootstrap without it only");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_mtls_routing_without_filter() {
    let pki = Pki::new();
    let upstream = Upstream::start();
    let envoy = Envoy::start(setup_without_filter(&pki, &upstream)).await;

    // Plaintext listener → upstream, headers recorded, Envoy generates x-request-id.
    let resp = plain_client()
        .get(envoy.http_url("/public/x?q=1"))
        .header("user-agent", "e2e-harness/1.0")
        .send()
        .await
        .expect("plaintext request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), UPSTREAM_BODY);
    let seen = upstream.requests_to("/public/x");
    assert_eq!(seen.len(), 1, "upstream saw {:?}", upstream.requests());
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/public/x?q=1");
    assert_eq!(seen[0].header("user-agent"), Some("e2e-harness/1.0"));
    assert!(
        !seen[0].header("x-request-id").unwrap_or("").is_empty(),
        "Envoy should generate x-request-id: {:?}",
        seen[0].headers
    );

    // A client-provided x-request-id is preserved.
    let id = unique_id("harness");
    let resp = plain_client()
        .get(envoy.http_url("/public/y"))
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(upstream.request_with_id(&id).is_some());

    // Raw client keeps dot segments byte-for-byte.
    let raw = raw_request(
        envoy.http_port,
        "GET",
        "/public/../raw",
        &[("x-request-id", "raw-1")],
        b"",
    )
    .await
    .expect("raw request");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text(), UPSTREAM_BODY);
    let seen = upstream
        .request_with_id("raw-1")
        .expect("raw request reached upstream");
    assert_eq!(seen.path, "/public/../raw");

    // POST body reaches the upstream.
    let resp = plain_client()
        .post(envoy.http_url("/public/upload"))
        .body(vec![b'a'; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream.requests_to("/public/upload")[0].body_len, 100);

    // mTLS listener with a client cert from the test CA.
    let client = mtls_client(&pki, &pki.client_identity(FRONTEND_SPIFFE));
    let resp = client
        .get(envoy.https_url("/api/orders/1"))
        .send()
        .await
        .expect("mTLS request");
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream.requests_to("/api/orders/1").len(), 1);

    // Without a client certificate the handshake is refused.
    let no_cert = client::tls_client_without_cert(&pki)
        .get(envoy.https_url("/api/orders/2"))
        .send()
        .await;
    assert!(
        no_cert.is_err(),
        "request without client cert should fail: {no_cert:?}"
    );
    assert!(upstream.requests_to("/api/orders/2").is_empty());

    // Stats are readable.
    let rq = envoy.stat("http.plain.downstream_rq_completed").await;
    assert!(rq >= 4, "http.plain.downstream_rq_completed = {rq}");
    assert!(envoy.stat("http.mtls.downstream_rq_completed").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lds_file_push_is_applied() {
    let pki = Pki::new();
    let upstream = Upstream::start();
    let mut envoy = Envoy::start(setup_without_filter(&pki, &upstream)).await;
    assert_eq!(envoy.stat("listener_manager.lds.update_rejected").await, 0);
    let ok0 = envoy.stat("listener_manager.lds.update_success").await;
    assert!(ok0 >= 1, "initial LDS load should count as a success");
    assert_eq!(envoy.push_and_wait(None).await, LdsOutcome::Accepted);
    assert!(envoy.stat("listener_manager.lds.update_success").await > ok0);
    let resp = plain_client()
        .get(envoy.http_url("/after-push"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(envoy.is_running());
}
