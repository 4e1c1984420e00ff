//! The Loki sink end to end: gRPC ingest → collector → (fake) Loki. Every
//! entry arrives with the right labels, structured metadata, line and
//! timestamp, in each body format, and the ack means Loki has it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::loki::{FakeLoki, LokiLine};
use common::{batch, record, PROXY};
use observatory_collector::sink::loki::config::{BasicAuth, Encoding, LokiConfig};
use observatory_proto::audit::{AuditGap, AuditRecord};
use observatory_proto::json::CanonicalRecord;

type Streams = BTreeMap<BTreeMap<String, String>, Vec<LokiLine>>;

fn line(r: &AuditRecord) -> String {
    serde_json::to_string(&CanonicalRecord::from(r)).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What Loki should hold for `sent` with the default labels and `cluster`.
fn expected(sent: &[AuditRecord], cluster: &str) -> Streams {
    let mut streams = Streams::new();
    for r in sent {
        let labels = map(&[
            ("cluster", cluster),
            ("decision", &r.decision),
            ("job", "observatory"),
            ("namespace", &r.destination_namespace),
            ("workload", &r.destination_workload),
        ]);
        let metadata = map(&[
            ("correlation_id", &r.correlation_id),
            ("proxy_id", &r.proxy_id),
            ("source_principal", &r.source_principal),
            ("trace_id", &r.trace_id),
        ]);
        streams.entry(labels).or_default().push(LokiLine {
            ts_nanos: r.ts_unix_nanos,
            line: line(r),
            metadata,
        });
    }
    for entries in streams.values_mut() {
        entries.sort();
    }
    streams
}

/// Sends 4 batches of 5 records over 2 namespaces and 2 decisions, each
/// batch newest first, and checks what Loki holds once they are acked.
async fn deliver_and_check(loki: &FakeLoki, config: LokiConfig) {
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    let mut stream = collector.open().await;
    let mut sent = Vec::new();
    for seq in 1..=4u64 {
        let records: Vec<AuditRecord> = (0..5)
            .rev()
            .map(|i| {
                let n = seq as u32 * 10 + i;
                let mut r = record(n);
                r.destination_namespace = ["web", "shop"][n as usize % 2].into();
                r.decision = ["deny", "allow", "allow"][n as usize % 3].into();
                r
            })
            .collect();
        sent.extend(records.clone());
        assert_eq!(stream.send(batch(seq, records)).await.unwrap(), seq);
    }

    // Acked means in the WAL; the Loki sink follows.
    collector.settled().await;
    assert_eq!(loki.stored(), expected(&sent, "prod-eu1"));
    for request in loki.requests() {
        for s in &request.streams {
            assert!(
                s.entries.windows(2).all(|w| w[0].ts_nanos <= w[1].ts_nanos),
                "entries of a stream in timestamp order: {s:?}"
            );
        }
    }
    let stats = collector.stats.snapshot();
    assert_eq!(stats.loki_entries_confirmed, 20);
    assert_eq!(stats.loki_push_retries, 0);
    // The local file has everything as well.
    assert_eq!(collector.lines().await.len(), 20);
}

#[tokio::test]
async fn protobuf_in_raw_snappy_is_delivered() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        cluster: Some("prod-eu1".into()),
        ..loki.config()
    };
    deliver_and_check(&loki, config).await;
    let request = &loki.requests()[0];
    assert_eq!(request.content_type, "application/x-protobuf");
    assert_eq!(request.content_encoding, "");
}

#[tokio::test]
async fn json_is_delivered() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        cluster: Some("prod-eu1".into()),
        encoding: Encoding::Json,
        ..loki.config()
    };
    deliver_and_check(&loki, config).await;
    assert_eq!(loki.requests()[0].content_type, "application/json");
}

#[tokio::test]
async fn gzipped_json_is_delivered() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        cluster: Some("prod-eu1".into()),
        encoding: Encoding::Json,
        gzip: true,
        ..loki.config()
    };
    deliver_and_check(&loki, config).await;
    let request = &loki.requests()[0];
    assert_eq!(request.content_type, "application/json");
    assert_eq!(request.content_encoding, "gzip");
}

#[tokio::test]
async fn tenant_and_credentials_are_sent() {
    let loki = FakeLoki::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let token = secrets.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let password = secrets.path().join("password");
    std::fs::write(&password, "pw").unwrap();

    let bearer = LokiConfig {
        tenant: Some("mesh".into()),
        bearer_token_file: Some(token),
        ..loki.config()
    };
    let basic = LokiConfig {
        basic_auth: Some(BasicAuth {
            username: "obs".into(),
            password_file: password,
        }),
        ..loki.config()
    };
    for config in [bearer, basic] {
        let collector = common::start_with(|c| c.loki = Some(config)).await;
        collector.deliver(vec![record(1)]).await;
        collector.settled().await;
    }
    let requests = loki.requests();
    assert_eq!(requests[0].tenant, "mesh");
    assert_eq!(requests[0].authorization, "Bearer s3cret");
    assert_eq!(requests[1].tenant, "");
    assert_eq!(requests[1].authorization, "Basic b2JzOnB3");
}

#[tokio::test]
async fn gap_lines_go_to_loki_as_written_locally() {
    let loki = FakeLoki::start().await;
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let mut lossy = batch(1, vec![record(1)]);
    lossy.gap = Some(AuditGap {
        dropped_records: 3,
        dropped_batches: 1,
    });
    collector.open().await.send(lossy).await.unwrap();
    collector.settled().await;

    let local = collector.lines().await;
    let gap: serde_json::Value = serde_json::from_str(&local[0]).unwrap();
    let stored = loki.stored();
    let gaps = &stored[&map(&[("job", "observatory")])];
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].line, local[0]);
    assert_eq!(gaps[0].metadata, map(&[("proxy_id", PROXY)]));
    let ts = time::OffsetDateTime::parse(
        gap["ts"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(i128::from(gaps[0].ts_nanos), ts.unix_timestamp_nanos());
    let (mut in_loki, mut in_file) = (loki.stored_lines(), local);
    in_loki.sort();
    in_file.sort();
    assert_eq!(in_loki, in_file);
}

#[tokio::test]
async fn line_over_256_kib_is_split_into_chunks() {
    let loki = FakeLoki::start().await;
    // Re-redaction off: it would cut the path at its scan limit (64 KiB).
    let collector = common::start_with(|c| {
        c.loki = Some(loki.config());
        c.redact = false;
    })
    .await;
    let mut big = record(1);
    big.path = format!("/{}", "a".repeat(300 * 1024));
    collector.deliver(vec![big.clone()]).await;
    collector.settled().await;

    let stored = loki.stored();
    let chunks = stored.values().next().unwrap();
    assert_eq!(chunks.len(), 2);
    let mut ordered = chunks.clone();
    ordered.sort_by_key(|c| c.metadata["chunk"].parse::<u32>().unwrap());
    let joined: String = ordered.iter().map(|c| c.line.as_str()).collect();
    assert_eq!(joined, line(&big));
    assert_eq!(joined, collector.lines().await[0]);
    for (i, c) in ordered.iter().enumerate() {
        assert_eq!(c.metadata["chunk"], (i + 1).to_string());
        assert_eq!(c.metadata["chunks"], "2");
        assert_eq!(c.metadata["correlation_id"], "corr-1");
        assert_eq!(c.ts_nanos, big.ts_unix_nanos);
    }
    assert_eq!(collector.stats.snapshot().loki_entries_dead_lettered, 0);
}

#[tokio::test]
async fn batch_max_bytes_splits_a_large_batch_into_several_requests() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        batch_max_bytes: 2_000.try_into().unwrap(),
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    let records: Vec<AuditRecord> = (1..=10).map(record).collect();
    collector.deliver(records.clone()).await;
    collector.settled().await;

    // A record is about 700 bytes: two per request.
    let requests = loki.requests();
    assert!(requests.len() >= 5, "{} requests", requests.len());
    for request in &requests {
        let bytes: usize = request
            .streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum();
        assert!(bytes <= 2_000, "{bytes}");
    }
    let all: Vec<String> = records.iter().map(line).collect();
    assert_eq!(loki.stored_lines(), all);
}

#[tokio::test]
async fn loki_can_be_the_only_sink() {
    let loki = FakeLoki::start().await;
    let collector = common::start_with(|c| {
        c.loki = Some(loki.config());
        c.file_sink = false;
    })
    .await;
    let sent: Vec<AuditRecord> = (0..5).map(record).collect();
    assert_eq!(collector.deliver(sent.clone()).await, 1);
    // Settles on Loki's confirmation alone: no other cursor holds the WAL.
    collector.settled().await;
    let mut want: Vec<String> = sent.iter().map(line).collect();
    want.sort();
    let mut got: Vec<String> = loki
        .stored_lines()
        .iter()
        .map(|l| common::canonical(l))
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(!collector.audit_path().exists());
}
