//! Stored lines to Loki entries to push bodies: labels and streams
//! ([`super::labels`]), lines ([`super::line`]), the wire formats
//! ([`super::wire`]).
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::SystemTime;

use observatory_proto::json::{unix_nanos, CanonicalRecord};
use observatory_proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use prost::Message as _;

use super::config::{LokiConfig, LATE, MAX_LINE_BYTES};
use super::labels::{window_label, Labels};
use super::line::{split_line, Encoder, LokiEntry};
use super::stats::LokiStats;
use super::wire::{json_body, protobuf_body, streams};
use crate::score::event::{AnomalyEvent, ServiceHealthEvent};
use crate::trail::{
    AnomalyNotice, Entry, GapDetail, GapNotice, InvalidDetail, InvalidNotice, ServiceHealthNotice,
};

fn record(n: u32, namespace: &str) -> CanonicalRecord {
    CanonicalRecord {
        ts: format!("2026-03-01T10:00:0{n}.000000007Z"),
        correlation_id: format!("corr-{n}"),
        trace_id: String::new(),
        source_principal: "spiffe://cluster.local/ns/shop/sa/web".into(),
        source_ip: "10.0.0.9".into(),
        mtls: true,
        destination_workload: "orders".into(),
        destination_namespace: namespace.into(),
        method: "GET".into(),
        path: "/orders".into(),
        query: String::new(),
        status: 200,
        duration_ms: 1.5,
        request_bytes: 0,
        response_bytes: 10,
        user_agent: "curl".into(),
        headers: BTreeMap::new(),
        request_body: String::new(),
        response_body: String::new(),
        decision: "allow".into(),
        shadow_decision: String::new(),
        rule: String::new(),
        redactions: BTreeMap::new(),
        proxy_id: "p-1".into(),
        audit_policy: String::new(),
        anomaly_score: None,
        anomaly_reasons: Vec::new(),
        ..Default::default()
    }
}

/// The fixtures have fixed timestamps in the past: late streams are off
/// here and tested on their own below.
fn encoder(config: LokiConfig) -> Encoder {
    Encoder::new(
        &LokiConfig {
            out_of_order_window_secs: 0,
            ..config
        },
        Arc::default(),
    )
}

const HOUR: i64 = 3_600_000_000_000;

fn at(enc: &Encoder, ts_nanos: i64) -> Arc<Labels> {
    let mut r = record(1, "shop");
    r.ts = observatory_proto::json::format_ts(ts_nanos);
    let e = encode(enc, Entry::from(r));
    assert_eq!(e[0].ts_nanos, ts_nanos);
    e[0].labels.clone()
}

#[test]
fn entries_too_far_behind_their_stream_go_to_a_late_stream_of_their_hour() {
    let stats = Arc::new(LokiStats::default());
    let enc = Encoder::new(&LokiConfig::default(), stats.clone());
    let now = unix_nanos(SystemTime::now());
    let current = at(&enc, now);
    assert!(!current.pairs().contains_key(LATE));
    // Within the window (less its margin): the stream itself.
    assert!(Arc::ptr_eq(&at(&enc, now - HOUR / 2), &current));

    let hour = (now - 3 * HOUR).div_euclid(HOUR) * HOUR;
    let late = at(&enc, hour + HOUR / 6);
    let mut expected = current.pairs().clone();
    expected.insert(LATE.into(), window_label(hour));
    assert_eq!(late.pairs(), &expected);
    assert!(late.rendered().contains(r#"late=""#), "{}", late.rendered());
    // The same hour shares the late stream, another hour has its own.
    assert!(Arc::ptr_eq(&at(&enc, hour + HOUR - 1), &late));
    let earlier = at(&enc, hour - 1);
    assert_eq!(earlier.pairs()[LATE], window_label(hour - HOUR));
    assert_eq!(stats.late_entries.get(), 3);
    assert!(Arc::ptr_eq(&at(&enc, now), &current));
}

#[test]
fn a_stream_starts_at_now_and_a_future_entry_does_not_push_it_ahead() {
    let enc = Encoder::new(&LokiConfig::default(), Arc::default());
    let now = unix_nanos(SystemTime::now());
    // Loki may hold entries up to now from before a restart.
    assert!(at(&enc, now - 2 * HOUR).pairs().contains_key(LATE));
    // A clock far ahead: Loki refuses it anyway, so it must not turn
    // the entries after it into late ones.
    assert!(!at(&enc, now + 5 * HOUR).pairs().contains_key(LATE));
    assert!(!at(&enc, now - HOUR / 3).pairs().contains_key(LATE));
}

#[test]
fn window_zero_never_routes_late() {
    let enc = encoder(LokiConfig::default());
    let now = unix_nanos(SystemTime::now());
    assert!(!at(&enc, now - 30 * HOUR).pairs().contains_key(LATE));
}

#[test]
fn late_window_label_is_rfc3339_to_the_second() {
    assert_eq!(
        window_label(1_772_359_200_000_000_000),
        "2026-03-01T10:00:00Z"
    );
}

fn encode(encoder: &Encoder, entry: Entry) -> Vec<LokiEntry> {
    let mut out = Vec::new();
    encoder.encode(&entry, &mut out).unwrap();
    out
}

#[test]
fn record_labels_metadata_line_and_timestamp() {
    let enc = encoder(LokiConfig {
        cluster: Some("prod".into()),
        ..LokiConfig::default()
    });
    let r = record(1, "shop");
    let e = encode(&enc, Entry::from(r.clone()));
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].labels.rendered(),
        r#"{cluster="prod", decision="allow", job="observatory", namespace="shop", workload="orders"}"#
    );
    assert_eq!(e[0].ts_nanos, 1_772_359_201_000_000_007);
    assert_eq!(e[0].line, serde_json::to_string(&r).unwrap());
    // Empty trace_id is left out.
    assert_eq!(
        e[0].metadata,
        [
            ("correlation_id", "corr-1".to_owned()),
            (
                "source_principal",
                "spiffe://cluster.local/ns/shop/sa/web".to_owned()
            ),
            ("proxy_id", "p-1".to_owned()),
        ]
    );
}

#[test]
fn gap_and_invalid_lines_have_only_static_labels() {
    let enc = encoder(LokiConfig::default());
    let mut hostile = record(1, "ns-from-a-hostile-sender");
    hostile.decision = "maybe".into();
    let invalid = Entry::Invalid(InvalidNotice {
        ts: "2026-03-01T10:00:00Z".into(),
        proxy_id: "p-1".into(),
        sender: "spiffe://cluster.local/ns/shop/sa/web".into(),
        invalid: InvalidDetail {
            instance_id: "i".into(),
            seq: 3,
            index: 0,
            reason: "decision must be \"allow\" or \"deny\", got \"maybe\"".into(),
            record: hostile,
        },
    });
    let gap = Entry::Gap(GapNotice {
        ts: "2026-03-01T10:00:00Z".into(),
        proxy_id: "p-1".into(),
        sender: "spiffe://cluster.local/ns/shop/sa/web".into(),
        audit_gap: GapDetail {
            instance_id: "i".into(),
            seq: 3,
            dropped_records: 1,
            dropped_batches: 0,
            missing_seq_from: None,
            missing_seq_to: None,
        },
    });
    for entry in [gap, invalid] {
        let e = encode(&enc, entry);
        assert_eq!(e[0].labels.rendered(), r#"{job="observatory"}"#);
        assert_eq!(e[0].metadata, [("proxy_id", "p-1".to_owned())]);
        assert_eq!(e[0].ts_nanos, 1_772_359_200_000_000_000);
    }
}

#[test]
fn anomaly_and_service_health_events_are_streams_of_their_own() {
    let enc = encoder(LokiConfig {
        cluster: Some("east".into()),
        ..LokiConfig::default()
    });
    let event = Entry::Anomaly(AnomalyNotice {
        ts: "2026-03-01T10:00:00Z".into(),
        anomaly: AnomalyEvent {
            principal: "spiffe://x".into(),
            destination: "orders".into(),
            score: 0.97,
            window_start: "2026-03-01T10:00:00Z".into(),
            reasons: Vec::new(),
            correlation_ids: vec!["c-1".into()],
        },
    });
    let e = encode(&enc, event);
    assert_eq!(
        e[0].labels.rendered(),
        r#"{cluster="east", job="observatory", kind="anomaly"}"#
    );
    assert_eq!(
        e[0].metadata,
        [("source_principal", "spiffe://x".to_owned())]
    );
    assert!(
        e[0].line
            .starts_with(r#"{"ts":"2026-03-01T10:00:00Z","anomaly":{"principal":"spiffe://x""#),
        "{}",
        e[0].line
    );
    let health = Entry::Health(ServiceHealthNotice {
        ts: "2026-03-01T10:00:00Z".into(),
        service_health: ServiceHealthEvent {
            destination: "inventory".into(),
            score: 0.93,
            window_start: "2026-03-01T10:00:00Z".into(),
            reasons: Vec::new(),
            correlation_ids: vec!["c-1".into()],
        },
    });
    let e = encode(&enc, health);
    assert_eq!(
        e[0].labels.rendered(),
        r#"{cluster="east", job="observatory", kind="service_health"}"#
    );
    assert_eq!(
        e[0].metadata,
        [("destination_workload", "inventory".to_owned())]
    );
}

#[test]
fn label_values_are_escaped() {
    let labels = Labels::new([("a".to_owned(), "x\"y\\z\n".to_owned())].into());
    assert_eq!(labels.rendered(), r#"{a="x\"y\\z\n"}"#);
}

#[test]
fn new_label_sets_beyond_the_limit_collapse_to_overflow() {
    let stats = Arc::new(LokiStats::default());
    let enc = Encoder::new(
        &LokiConfig {
            max_label_sets: NonZeroUsize::new(2).unwrap(),
            out_of_order_window_secs: 0,
            ..LokiConfig::default()
        },
        stats.clone(),
    );
    let ns = |n| encode(&enc, Entry::from(record(1, n)))[0].labels.clone();
    let a = ns("a");
    assert_eq!(ns("b").pairs()["namespace"], "b");
    let c = ns("c");
    assert_eq!(
        c.rendered(),
        r#"{decision="_overflow", job="observatory", namespace="_overflow", workload="_overflow"}"#
    );
    // Known sets keep their labels; every newcomer shares the overflow set.
    assert!(Arc::ptr_eq(&ns("a"), &a));
    assert!(Arc::ptr_eq(&ns("d"), &c));
    assert_eq!(stats.label_overflows.get(), 2);
}

#[test]
fn long_line_is_split_at_char_boundaries_with_chunk_metadata() {
    let enc = encoder(LokiConfig::default());
    let mut r = record(1, "shop");
    // Multi-byte chars so a cut at exactly 256 KiB would split one.
    r.path = "é".repeat(200_000);
    let line = serde_json::to_string(&r).unwrap();
    let e = encode(&enc, Entry::from(r));
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|c| c.line.len() <= MAX_LINE_BYTES));
    assert_eq!(e.iter().map(|c| c.line.as_str()).collect::<String>(), line);
    for (i, c) in e.iter().enumerate() {
        let meta: BTreeMap<_, _> = c.metadata.iter().cloned().collect();
        assert_eq!(meta["chunk"], (i + 1).to_string());
        assert_eq!(meta["chunks"], "2");
        assert_eq!(meta["correlation_id"], "corr-1");
        assert_eq!(c.ts_nanos, e[0].ts_nanos);
    }
    assert_eq!(split_line(&"a".repeat(MAX_LINE_BYTES)).len(), 1);
}

#[test]
fn bodies_group_streams_and_sort_entries() {
    let enc = encoder(LokiConfig::default());
    let mut entries = Vec::new();
    for (n, ns) in [(3, "a"), (1, "b"), (2, "a"), (1, "a")] {
        enc.encode(&Entry::from(record(n, ns)), &mut entries)
            .unwrap();
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&protobuf_body(&entries).unwrap())
        .unwrap();
    let push = PushRequest::decode(raw.as_slice()).unwrap();
    assert_eq!(push.streams.len(), 2);
    let a = &push.streams[0];
    assert!(a.labels.contains(r#"namespace="a""#));
    let secs: Vec<i64> = a
        .entries
        .iter()
        .map(|e| e.timestamp.unwrap().seconds % 10)
        .collect();
    assert_eq!(secs, [1, 2, 3]);
    assert_eq!(a.entries[0].timestamp.unwrap().nanos, 7);

    let gz = json_body(&entries, true).unwrap();
    let mut json = Vec::new();
    io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let a = &json["streams"][0];
    assert_eq!(a["stream"]["namespace"], "a");
    assert_eq!(a["values"][0][0], "1772359201000000007");
    assert_eq!(a["values"][0][2]["correlation_id"], "corr-1");
    assert_eq!(
        json_body(&entries, false).unwrap(),
        serde_json::to_vec(&json).unwrap()
    );
}

/// What prost writes for these entries' `PushRequest`.
fn prost_request(entries: &[LokiEntry]) -> Vec<u8> {
    PushRequest {
        streams: streams(entries)
            .into_values()
            .map(|(labels, entries)| StreamAdapter {
                labels: labels.rendered().to_owned(),
                entries: entries
                    .into_iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: e.ts_nanos.div_euclid(1_000_000_000),
                            nanos: e.ts_nanos.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: (*name).to_owned(),
                                value: value.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
    .encode_to_vec()
}

#[test]
fn protobuf_body_is_what_prost_writes() {
    let enc = encoder(LokiConfig::default());
    let mut entries = Vec::new();
    for (n, ns) in [(3, "a"), (1, "b"), (2, "a")] {
        enc.encode(&Entry::from(record(n, ns)), &mut entries)
            .unwrap();
    }
    // A split line (chunk metadata), an empty value, a whole second,
    // the epoch itself and a time before it.
    let mut long = record(4, "a");
    long.path = "x".repeat(MAX_LINE_BYTES + 10);
    enc.encode(&Entry::from(long), &mut entries).unwrap();
    let labels = entries[0].labels.clone();
    for ts_nanos in [1_772_359_200_000_000_000, 0, -1_500_000_000] {
        entries.push(LokiEntry {
            labels: labels.clone(),
            ts_nanos,
            line: String::new(),
            metadata: vec![("proxy_id", String::new())],
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&protobuf_body(&entries).unwrap())
        .unwrap();
    assert_eq!(raw, prost_request(&entries));
    assert_eq!(
        snap::raw::Decoder::new()
            .decompress_vec(&protobuf_body(&[]).unwrap())
            .unwrap(),
        prost_request(&[])
    );
}
