//! Export outage in `open` mode: with the collector down traffic keeps flowing, records beyond
//! the buffer bound are dropped and counted; once the collector is back, records flow again and
//! a gap line with `dropped_records > 0` reaches the store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use observatory_e2e::*;

const OUTAGE_REQUESTS: usize = 150;

/// Pads records to a few KiB (long path and user agent) so the outage overflows the buffer.
fn padding() -> String {
    "p".repeat(1500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_outage_drops_are_counted_and_reported_as_a_gap() {
    let mut cfg = plugin_config();
    // Small buffer so the outage overflows it quickly.
    // Smallest buffer the filter accepts (64 KiB); with ~3 KiB records it holds ~20.
    cfg["batch"] = json!({"maxRecords": 8, "maxAgeMs": 100, "maxBufferedBytes": 65536});
    let mut stack = Stack::start(&cfg).await;
    let client = stack.plain();

    // The stream works before the outage.
    let warm = unique_id("warm");
    let resp = get_with_id(&client, &stack.http_url("/public/warm"), &warm).await;
    assert_eq!(resp.status, 200);
    stack.collector.wait_for_record(&warm).await;

    stack.collector.kill();

    // Traffic keeps flowing while the collector is down.
    let mut outage_ids = Vec::new();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for i in 0..OUTAGE_REQUESTS {
        let id = unique_id(&format!("outage-{i}"));
        let resp = send(
            client
                .get(stack.http_url(&format!("/public/outage/{i}/{}", padding())))
                .header("user-agent", format!("e2e-outage/{}", padding()))
                .header("x-request-id", &id),
        )
        .await;
        *statuses.entry(resp.status).or_default() += 1;
        outage_ids.push(id);
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        statuses.get(&200).copied().unwrap_or(0),
        OUTAGE_REQUESTS,
        "open mode: every request must succeed while the collector is down; got {statuses:?}"
    );

    let (dropped, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_records_dropped", WAIT, |v| v > 0)
        .await;
    assert!(
        ok,
        "no drops counted after {OUTAGE_REQUESTS} ~3 KiB records with a 64 KiB buffer; stats {:?}",
        stack.envoy.observatory_stats().await
    );
    eprintln!("records_dropped during outage: {dropped}");

    stack.collector.restart().await;

    // Records flow again.
    let after = unique_id("after");
    let resp = get_with_id(&client, &stack.http_url("/public/after"), &after).await;
    assert_eq!(resp.status, 200);
    stack
        .collector
        .wait_for_record_within(&after, Duration::from_secs(30))
        .await;

    // A gap line with dropped_records > 0 from this proxy reaches the store.
    let gap = stack
        .collector
        .wait_for_line(WAIT, |l| {
            l.get("audit_gap")
                .and_then(|g| g.get("dropped_records"))
                .and_then(Value::as_u64)
                .is_some_and(|n| n > 0)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no gap line with dropped_records > 0; gaps: {:?}",
                stack.collector.gaps()
            )
        });
    assert_eq!(s(&gap, "proxy_id"), NODE_ID, "{gap}");
    assert!(parse_rfc3339_utc(s(&gap, "ts")).is_some(), "gap ts: {gap}");
    assert!(
        !s(&gap["audit_gap"], "instance_id").is_empty(),
        "gap without instance_id: {gap}"
    );

    // The newest outage record was kept in the buffer (drops are oldest-first) and delivered.
    let last = outage_ids.last().unwrap();
    stack.collector.wait_for_record(last).await;

    // No silent loss: every outage request is either stored or counted in a gap.
    let accounted = eventually(WAIT, || {
        let records = stack.collector.records();
        let delivered = outage_ids
            .iter()
            .filter(|id| {
                records
                    .iter()
                    .any(|r| s(r, "correlation_id") == id.as_str())
            })
            .count();
        let gap_dropped: u64 = stack
            .collector
            .gaps()
            .iter()
            .filter_map(|g| g["audit_gap"]["dropped_records"].as_u64())
            .sum();
        let total = delivered as u64 + gap_dropped;
        (total >= OUTAGE_REQUESTS as u64).then_some((delivered, gap_dropped))
    })
    .await;
    let (delivered, gap_dropped) = accounted.unwrap_or_else(|| {
        panic!(
            "outage records neither stored nor reported as dropped; gaps {:?}; stats {:?}",
            stack.collector.gaps(),
            stack.collector.records().len()
        )
    });
    eprintln!("outage: {delivered} records delivered, {gap_dropped} reported dropped");
    assert!(
        gap_dropped <= OUTAGE_REQUESTS as u64 + 2,
        "more drops reported ({gap_dropped}) than records produced"
    );

    // The collector deduplicates resends: one record per correlation id.
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in stack.collector.records() {
        *per_id
            .entry(s(&r, "correlation_id").to_string())
            .or_default() += 1;
    }
    let dups: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicate records stored: {dups:?}");

    let reconnects = stack
        .envoy
        .stat("wasmcustom.observatory_stream_reconnects")
        .await;
    assert!(
        reconnects >= 1,
        "stream_reconnects = {reconnects}; stats {:?}",
        stack.envoy.observatory_stats().await
    );
}
