//! Loki refuses an entry more than an hour behind the newest entry of its
//! stream. A proxy that kept its records through a long outage delivers
//! them that late while other proxies kept the stream current: they must
//! reach Loki (in a `late` stream, at their own time), not the dead-letter
//! file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::loki::{FakeLoki, LokiLine};
use common::{batch, record};
use observatory_proto::audit::AuditRecord;
use observatory_proto::json::CanonicalRecord;

const HOUR: i64 = 3_600_000_000_000;

fn line(r: &AuditRecord) -> String {
    serde_json::to_string(&CanonicalRecord::from(r)).unwrap()
}

/// Records 1–3 now from the usual proxy; then records 4–6, three hours old,
/// from a second proxy with the same destination (so the same labels).
async fn current_then_three_hours_behind(collector: &common::Running) -> Vec<AuditRecord> {
    let current: Vec<AuditRecord> = (1..=3).map(record).collect();
    collector.deliver(current.clone()).await;
    collector.settled().await;
    let behind: Vec<AuditRecord> = (4..=6)
        .map(|n| AuditRecord {
            ts_unix_nanos: record(n).ts_unix_nanos - 3 * HOUR,
            proxy_id: "sidecar~10.0.0.2~web-2.shop~shop.svc.cluster.local".into(),
            ..record(n)
        })
        .collect();
    let mut b = batch(1, behind.clone());
    b.proxy_id = behind[0].proxy_id.clone();
    assert_eq!(collector.open().await.send(b).await.unwrap(), 1);
    collector.settled().await;
    current.into_iter().chain(behind).collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[tokio::test]
async fn records_hours_behind_their_stream_reach_loki_in_a_late_stream() {
    let loki = FakeLoki::start().await;
    let collector = common::start_with(|c| c.loki = Some(loki.config())).await;
    let sent = current_then_three_hours_behind(&collector).await;

    let stored = loki.stored();
    let all: Vec<String> = stored
        .values()
        .flatten()
        .map(|l: &LokiLine| common::canonical(&l.line))
        .collect();
    assert_eq!(sorted(all), sorted(sent.iter().map(line).collect()));
    assert_eq!(stored.len(), 2, "{:?}", stored.keys());
    for (labels, lines) in &stored {
        let mut expected = labels.clone();
        let late = expected.remove("late");
        assert_eq!(expected["namespace"], "shop");
        assert_eq!(expected["job"], "observatory");
        match late {
            None => assert!(lines.iter().all(|l| !l.line.contains("10.0.0.2"))),
            Some(window) => {
                assert_eq!(lines.len(), 3);
                for l in lines {
                    // Each at its own time, inside the hour its label names.
                    let start = time::OffsetDateTime::parse(
                        &window,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap()
                    .unix_timestamp_nanos() as i64;
                    assert!((start..start + HOUR).contains(&l.ts_nanos), "{window}");
                    assert!(l.line.contains("10.0.0.2"));
                }
            }
        }
    }
    let stats = collector.stats.snapshot();
    assert_eq!(stats.loki_late_entries, 3);
    assert_eq!(stats.loki_entries_dead_lettered, 0);
    assert_eq!(stats.loki_entries_confirmed, 6);
}

#[tokio::test]
async fn without_late_streams_loki_refuses_them_as_too_far_behind() {
    let loki = FakeLoki::start().await;
    let collector = common::start_with(|c| {
        let mut config = loki.config();
        config.out_of_order_window_secs = 0;
        c.loki = Some(config);
    })
    .await;
    let sent = current_then_three_hours_behind(&collector).await;

    assert_eq!(
        sorted(
            loki.stored_lines()
                .iter()
                .map(|l| common::canonical(l))
                .collect()
        ),
        sorted(sent[..3].iter().map(line).collect())
    );
    let dead = collector.dead_letters();
    assert_eq!(dead.len(), 3);
    for d in &dead {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("entry too far behind"), "{reason}");
    }
    assert_eq!(collector.stats.snapshot().loki_late_entries, 0);
}
