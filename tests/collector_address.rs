//! The collector's cluster has the name Istio gives it (`outbound|4317||…`; the `|`s are not
//! valid in an `:authority`). The filter opens its stream with a `GrpcService` naming that
//! cluster and the authority `HOST:PORT`, so the stream works against the collector directly
//! and through a second Envoy in front of it acting as the collector's sidecar, which sees
//! the authority, keyed by proxy (`p<16 hex>.HOST:PORT`: Envoy hashes a Wasm stream on its
//! authority), and the proxy's `x-observatory-proxy` metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

const AUTHORITY: &str = "observatory-collector.observatory.svc.cluster.local:4317";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_istio_named_cluster_reaches_the_collector() {
    assert!(
        COLLECTOR_CLUSTER.starts_with("outbound|4317||"),
        "{COLLECTOR_CLUSTER}"
    );
    let stack = Stack::start(&plugin_config()).await;
    let id = unique_id("istio-cluster");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/istio"), &id).await;
    assert_eq!(resp.status, 200);
    stack.collector.wait_for_record(&id).await;
    let rq = stack
        .envoy
        .stat(&format!("cluster.{COLLECTOR_CLUSTER}.upstream_rq_total"))
        .await;
    assert!(rq >= 1, "no stream on the Istio-named cluster");
    let reconnects = stack
        .envoy
        .stat("wasmcustom.observatory_stream_reconnects")
        .await;
    assert_eq!(reconnects, 0, "the first stream should have stayed up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flow_through_a_sidecar_in_front_of_the_collector() {
    let collector = Collector::start().await;
    let sidecar = Sidecar::start(collector.port).await;
    let stack = Stack::start_customized(&plugin_config(), collector, |setup| {
        setup.collector_port = sidecar.port;
    })
    .await;
    let id = unique_id("via-sidecar");
    let resp = get_with_id(&stack.plain(), &stack.http_url("/public/sidecar"), &id).await;
    assert_eq!(resp.status, 200);
    stack.collector.wait_for_record(&id).await;
    // `sidecar-log <authority> <x-observatory-proxy> …`
    let label = eventually(WAIT, || {
        sidecar.log().lines().find_map(|l| {
            let mut words = l.strip_prefix("sidecar-log ")?.split(' ');
            let label = words.next()?.strip_suffix(&format!(".{AUTHORITY}"))?;
            (words.next() == Some(NODE_ID)).then(|| label.to_owned())
        })
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no `sidecar-log <key>.{AUTHORITY} {NODE_ID}` in the sidecar's log:\n{}",
            sidecar.log()
        )
    });
    assert!(
        label.len() == 17
            && label.starts_with('p')
            && label[1..].bytes().all(|b| b.is_ascii_hexdigit()),
        "the authority's proxy key is not p<16 hex>: {label:?}"
    );
}
