//! The OTLP logs sink, through the collector binary against a receiver
//! that decodes the exact protobuf: every stored line arrives as one log
//! record (gRPC and HTTP), its body the line, its fields attributes; an
//! outage is retried, a refusal goes to the dead-letter file, nothing is
//! lost or sent twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::process::Process;
use common::{batch, eventually, metric_until, record, Stream};
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_testkit::otlp::attribute;
use observatory_testkit::otlp_logs::{LogsReceiver, Reply};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

const RECORDS: u32 = 10;

/// The collector binary with its admin server on a port of its own.
async fn spawn(data_dir: &Path, args: &[&str]) -> Process {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], observatory_testkit::free_port()));
    observatory_testkit::process::Launch::new(env!("CARGO_BIN_EXE_observatory-collector"), data_dir)
        .admin_listen(admin)
        .args(args)
        .spawn()
        .await
        .unwrap()
}

async fn send(collector: &Process, seqs: std::ops::RangeInclusive<u64>) {
    let mut client = AuditServiceClient::connect(format!("http://{}", collector.addr))
        .await
        .unwrap();
    let mut stream = Stream::open(&mut client).await;
    for seq in seqs {
        let first = u32::try_from(seq).unwrap() * 100;
        let records = (first..first + RECORDS).map(record).collect();
        assert_eq!(stream.send(batch(seq, records)).await.unwrap(), seq);
    }
}

fn stored_lines(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn body(record: &LogRecord) -> String {
    match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("body {other:?}"),
    }
}

fn config_file(dir: &Path, table: &str) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(&path, format!("[otlp_logs]\n{table}")).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn every_line_reaches_a_grpc_receiver_as_a_log_record() {
    let receiver = LogsReceiver::start_grpc().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config_file(dir.path(), "[otlp_logs.headers]\nx-api-key = \"k-123\"\n");
    let collector = spawn(
        &data,
        &["--config", &config, "--otlp-logs-endpoint", &receiver.url],
    )
    .await;
    send(&collector, 1..=3).await;
    let total = (3 * RECORDS) as usize;
    eventually("30 log records", || receiver.records().len() >= total).await;
    let records = receiver.records();
    assert_eq!(records.len(), total, "nothing twice");

    // Each body is one stored line, exactly; together they are the trail (the JSON-lines
    // sink has its own WAL cursor: it may not have written them all yet).
    eventually("30 lines in audit.jsonl", || {
        stored_lines(&data).len() >= total
    })
    .await;
    let bodies: BTreeSet<String> = records.iter().map(|(_, r)| body(r)).collect();
    assert_eq!(bodies, stored_lines(&data));
    let (resource, first) = &records[0];
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some("observatory-collector")
    );
    assert_eq!(
        attribute(&first.attributes, "observatory.kind"),
        Some("record")
    );
    assert_eq!(
        attribute(&first.attributes, "correlation_id"),
        Some("corr-100")
    );
    assert_eq!(attribute(&first.attributes, "decision"), Some("allow"));
    assert!(first.time_unix_nano > 0 && first.observed_time_unix_nano > 0);
    assert_eq!(first.trace_id.len(), 16);
    assert!(receiver
        .header_values("x-api-key")
        .iter()
        .all(|v| v == "k-123"));
    assert!(!receiver.header_values("x-api-key").is_empty());
    metric_until(
        collector.admin,
        "observatory_sink_records_confirmed_total{sink=\"otlp_logs\"}",
        |v| v == total as f64,
    )
    .await;
}

#[tokio::test]
async fn http_outages_are_retried_and_refusals_dead_lettered() {
    let receiver = LogsReceiver::start_http().await;
    receiver.script([Reply::Unavailable, Reply::Unavailable, Reply::Refuse]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config_file(
        dir.path(),
        &format!(
            "endpoint = \"{}\"\nprotocol = \"http\"\nbatch_max_records = {RECORDS}\nmin_backoff_ms = 10\nmax_backoff_ms = 50\n",
            receiver.url
        ),
    );
    let collector = spawn(&data, &["--config", &config]).await;

    // Batch 1: two outages, then refused for good.
    send(&collector, 1..=1).await;
    let dead = metric_until(
        collector.admin,
        "observatory_sink_records_dead_lettered_total{sink=\"otlp_logs\"}",
        |v| v > 0.0,
    )
    .await;
    assert_eq!(dead, f64::from(RECORDS));
    let letters = std::fs::read_to_string(data.join("otlp-logs-dead-letter.jsonl")).unwrap();
    let kept: BTreeSet<String> = letters
        .lines()
        .map(|l| {
            let letter: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(letter["reason"], "HTTP 400: scripted refusal");
            letter["line"].as_str().unwrap().to_owned()
        })
        .collect();
    eventually("the batch in audit.jsonl", || {
        stored_lines(&data).len() >= RECORDS as usize
    })
    .await;
    assert_eq!(kept, stored_lines(&data), "the refused lines, verbatim");

    // Batch 2 is taken on the first attempt.
    send(&collector, 2..=2).await;
    eventually("batch 2 exported", || {
        receiver.records().len() == RECORDS as usize
    })
    .await;
    for (_, record) in receiver.records() {
        let id = attribute(&record.attributes, "correlation_id")
            .unwrap()
            .to_owned();
        assert!(id.starts_with("corr-2"), "{id}");
    }
    assert_eq!(receiver.requests(), 4);
    let (_, metrics) = common::get(collector.admin, "/metrics").await;
    assert_eq!(
        observatory_testkit::admin::sample(
            &metrics,
            "observatory_sink_records_retried_total{sink=\"otlp_logs\"}"
        ),
        Some(f64::from(2 * RECORDS))
    );
}

#[tokio::test]
async fn a_bad_endpoint_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "endpoint = \"https://otel:4317\"\n");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
        .args(["serve", "--config", &config, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!status.status.success());
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(err.contains("[otlp_logs] endpoint"), "{err}");
}
