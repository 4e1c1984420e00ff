//! Self-telemetry over OTLP: the binary with `--otlp-endpoint` pushes the
//! metrics of `/metrics` periodically and the data path's spans, flushed
//! at SIGTERM; an endpoint that never answers holds up no ack and no exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::loki::FakeLoki;
use common::otlp::{attribute, int_attribute, Blackhole, Receiver};
use common::process::{self, Process};
use common::{batch, eventually, record, Stream};
use observatory_proto::audit::audit_service_client::AuditServiceClient;

const BATCHES: u64 = 3;
const RECORDS: u32 = 10;
/// A hung child fails the test instead of hanging it.
const EXIT_WITHIN: Duration = Duration::from_secs(60);

/// Sends `BATCHES` batches of `RECORDS` records on one stream; every one
/// must be acked.
async fn send_all(collector: &Process) {
    let mut client = AuditServiceClient::connect(format!("http://{}", collector.addr))
        .await
        .unwrap();
    let mut stream = Stream::open(&mut client).await;
    for seq in 1..=BATCHES {
        let first = u32::try_from(seq).unwrap() * 100;
        let records = (first..first + RECORDS).map(record).collect();
        assert_eq!(stream.send(batch(seq, records)).await.unwrap(), seq);
    }
}

#[tokio::test]
async fn metrics_and_data_path_spans_reach_the_otlp_endpoint() {
    let receiver = Receiver::start().await;
    let loki = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let loki_url = loki.config().url.unwrap().to_string();
    let collector = process::spawn(
        dir.path(),
        &[
            "--loki-url",
            &loki_url,
            "--otlp-endpoint",
            &receiver.url,
            "--otlp-metrics-interval-ms",
            "100",
            "--otlp-resource-attributes",
            "deployment.environment=test",
        ],
    )
    .await;
    send_all(&collector).await;
    let total = f64::from(RECORDS) * BATCHES as f64;

    // Pushed while running, with the numbers of /metrics.
    eventually("the record count over OTLP", || {
        receiver.number("observatory_records_written", &[]) == Some(total)
            && receiver.number("observatory_sink_records_confirmed", &[("sink", "loki")])
                == Some(total)
    })
    .await;
    assert_eq!(
        receiver.number("observatory_batches_written", &[]),
        Some(BATCHES as f64)
    );
    assert_eq!(receiver.number("observatory_wal_segments", &[]), Some(1.0));
    let latency = receiver
        .histogram("observatory_sink_push_latency_seconds", &[("sink", "loki")])
        .unwrap();
    assert!(latency.count >= 1, "{latency:?}");
    assert_eq!(
        latency.bucket_counts.len(),
        latency.explicit_bounds.len() + 1
    );
    assert_eq!(latency.bucket_counts.iter().sum::<u64>(), latency.count);
    let resource = receiver.metrics_resource().unwrap();
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some("observatory-collector")
    );
    assert_eq!(
        attribute(&resource.attributes, "deployment.environment"),
        Some("test")
    );

    collector.signal("TERM");
    let (status, log) = tokio::time::timeout(EXIT_WITHIN, collector.wait())
        .await
        .expect("the collector exits");
    assert!(status.success(), "{status:?}\n{log}");

    // Spans are flushed at the latest on the way out.
    let spans = receiver.spans();
    let named = |name: &str| {
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    };
    let batches = named("batch");
    assert_eq!(batches.len(), BATCHES as usize, "{spans:#?}");
    for batch in &batches {
        assert_eq!(attribute(&batch.attributes, "outcome"), Some("acked"));
        assert_eq!(
            int_attribute(&batch.attributes, "records"),
            Some(i64::from(RECORDS)),
            "{batch:?}"
        );
        // Validation and the WAL append are children of their batch.
        for child in ["validate", "wal_append"] {
            assert!(
                named(child)
                    .iter()
                    .any(|c| c.parent_span_id == batch.span_id && c.trace_id == batch.trace_id),
                "no {child} under {batch:?}"
            );
        }
    }
    for sink in ["jsonl", "loki"] {
        assert!(
            named("sink_write").iter().any(|s| {
                attribute(&s.attributes, "sink") == Some(sink)
                    && attribute(&s.attributes, "outcome") == Some("confirmed")
            }),
            "no confirmed sink_write of {sink}"
        );
    }
    assert!(named("loki_push")
        .iter()
        .any(|s| attribute(&s.attributes, "outcome") == Some("stored")));
    let (resource, _) = &spans[0];
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some("observatory-collector")
    );
}

#[tokio::test]
async fn an_otlp_endpoint_that_never_answers_holds_up_no_ack_and_no_exit() {
    let hung = Blackhole::start().await;
    let dir = tempfile::tempdir().unwrap();
    let collector = process::spawn(
        dir.path(),
        &[
            "--otlp-endpoint",
            &hung.url,
            "--otlp-metrics-interval-ms",
            "50",
            "--otlp-timeout-ms",
            "200",
        ],
    )
    .await;
    send_all(&collector).await;

    collector.signal("TERM");
    let (status, log) = tokio::time::timeout(EXIT_WITHIN, collector.wait())
        .await
        .expect("the collector exits although its OTLP endpoint hangs");
    assert!(status.success(), "{status:?}\n{log}");
    // At the latest the final push timed out, and was counted and logged.
    assert!(log.contains("OTLP export failed"), "{log}");
    let stored = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(stored.lines().count(), RECORDS as usize * BATCHES as usize);
}
