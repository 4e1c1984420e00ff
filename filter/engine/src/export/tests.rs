#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_proto::audit::{Ack, Quarantined};

use crate::host::mock::{configured, receive_ack, sent_batches, Call, MockHost};
use crate::plugin::Plugin;
use crate::stream::ACK_TIMEOUT_MS;

const CONFIG: &str = r#"{"collector": {"cluster": "collector", "minBackoffMs": 100, "maxBackoffMs": 100},
    "batch": {"maxRecords": 1}, "proxyId": "p1"}"#;

/// One finished request, its record sealed into a batch of its own.
fn request(host: &MockHost, plugin: &Plugin, id: &str) {
    host.set_request_headers(&[(":method", "GET"), (":path", "/x"), ("x-request-id", id)]);
    let mut f = plugin.http_filter();
    f.on_request_headers(host, true);
    f.on_log(host);
}

fn seqs(host: &MockHost) -> Vec<u64> {
    sent_batches(host).iter().map(|b| b.seq).collect()
}

fn ack(host: &MockHost, plugin: &Plugin, token: u32, seq: u64) {
    let quarantined = Vec::new();
    receive_ack(host, plugin, token, &Ack { seq, quarantined });
}

fn exported(host: &MockHost, plugin: &Plugin) -> u64 {
    plugin.on_tick(host);
    host.counter("observatory_records_exported")
}

#[test]
fn the_stream_opens_lazily_and_starts_with_a_heartbeat() {
    let (host, plugin) = configured(CONFIG);
    plugin.on_tick(&host);
    assert_eq!(host.take_calls(), [], "nothing to send, no stream");
    request(&host, &plugin, "a");
    assert_eq!(host.take_calls(), [], "sealed, but no stream yet");
    plugin.on_tick(&host);
    let calls = host.take_calls();
    let config = &plugin.active().unwrap().settings.config;
    assert_eq!(
        calls[0],
        Call::OpenStream {
            service: config.collector.service_for("p1").as_bytes().to_vec(),
            metadata: vec![("x-observatory-proxy".into(), b"p1".to_vec())],
        }
    );
    let sent: Vec<u64> = calls
        .into_iter()
        .filter_map(|c| match c {
            Call::Send { message, .. } => {
                use prost::Message;
                Some(
                    observatory_proto::audit::AuditBatch::decode(message.as_slice())
                        .unwrap()
                        .seq,
                )
            }
            _ => None,
        })
        .collect();
    assert_eq!(sent, [0, 1]);
    // Once open, a sealed batch goes out at once, from the request.
    request(&host, &plugin, "b");
    assert_eq!(seqs(&host), [2]);
}

#[test]
fn an_ack_releases_batches_and_counts_their_records() {
    let (host, plugin) = configured(CONFIG);
    request(&host, &plugin, "a");
    request(&host, &plugin, "b");
    plugin.on_tick(&host);
    assert_eq!(seqs(&host), [0, 1, 2]);
    ack(&host, &plugin, 1, 1);
    assert_eq!(exported(&host, &plugin), 1);
    ack(&host, &plugin, 1, 2);
    assert_eq!(exported(&host, &plugin), 2);
    let export = plugin.active().unwrap().export.borrow();
    assert!(!export.outbox.has_unacked());
}

#[test]
fn a_failed_stream_keeps_its_batches_and_resends_them_in_order() {
    let (host, plugin) = configured(CONFIG);
    request(&host, &plugin, "a");
    request(&host, &plugin, "b");
    plugin.on_tick(&host);
    assert_eq!(seqs(&host), [0, 1, 2]);
    plugin.on_grpc_stream_close(&host, 1, 14);
    plugin.on_tick(&host);
    assert_eq!(host.take_calls(), [], "backing off");
    host.advance(100);
    plugin.on_tick(&host);
    assert_eq!(seqs(&host), [0, 1, 2], "heartbeat, then every batch again");
    plugin.on_tick(&host);
    assert_eq!(host.counter("observatory_stream_reconnects"), 1);
}

#[test]
fn a_stream_without_acks_is_cancelled_and_reopened() {
    let (host, plugin) = configured(CONFIG);
    request(&host, &plugin, "a");
    plugin.on_tick(&host);
    host.take_calls();
    host.advance(ACK_TIMEOUT_MS);
    plugin.on_tick(&host);
    assert_eq!(host.take_calls(), [Call::Cancel(1)]);
    host.advance(100);
    plugin.on_tick(&host);
    let calls = host.take_calls();
    assert!(matches!(calls[0], Call::OpenStream { .. }), "{calls:?}");
}

#[test]
fn a_proxy_id_that_is_no_header_value_is_not_sent_as_metadata() {
    let (host, plugin) = configured(
        r#"{"collector": {"cluster": "collector"}, "batch": {"maxRecords": 1}, "proxyId": "p\n1"}"#,
    );
    request(&host, &plugin, "a");
    plugin.on_tick(&host);
    let calls = host.take_calls();
    assert!(
        matches!(&calls[0], Call::OpenStream { metadata, .. } if metadata.is_empty()),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| matches!(c, Call::Send { .. })),
        "the stream is used all the same: {calls:?}"
    );
}

#[test]
fn a_refused_batch_is_kept_counted_and_retried_with_backoff() {
    let (host, plugin) = configured(
        r#"{"collector": {"cluster": "collector", "minBackoffMs": 100, "maxBackoffMs": 1000},
            "batch": {"maxRecords": 1}}"#,
    );
    request(&host, &plugin, "a");
    request(&host, &plugin, "b");
    plugin.on_tick(&host);
    host.take_calls();
    *host.grpc_status.borrow_mut() = "batch seq 1 record 0: ts_unix_nanos must be > 0".into();
    plugin.on_grpc_stream_close(&host, 1, 3);
    plugin.on_tick(&host);
    assert_eq!(host.counter("observatory_batches_refused"), 1);
    assert_eq!(host.counter("observatory_records_dropped"), 0);
    host.advance(100);
    plugin.on_tick(&host);
    assert_eq!(seqs(&host), [0, 1, 2], "the refused batch first, in order");
    // Refused again: the next retry waits longer (100..200 ms).
    plugin.on_grpc_stream_close(&host, 2, 3);
    host.advance(99);
    plugin.on_tick(&host);
    assert_eq!(host.take_calls(), []);
    host.advance(101);
    plugin.on_tick(&host);
    assert_eq!(seqs(&host), [0, 1, 2]);
}

#[test]
fn quarantined_records_are_counted_and_their_batch_released() {
    let (host, plugin) = configured(CONFIG);
    request(&host, &plugin, "a");
    plugin.on_tick(&host);
    host.take_calls();
    let quarantined = vec![Quarantined {
        index: 0,
        reason: "ts_unix_nanos must be > 0, got 0".into(),
    }];
    receive_ack(
        &host,
        &plugin,
        1,
        &Ack {
            seq: 1,
            quarantined,
        },
    );
    plugin.on_tick(&host);
    assert_eq!(host.counter("observatory_records_quarantined"), 1);
    assert_eq!(host.counter("observatory_records_exported"), 1);
    assert!(!plugin
        .active()
        .unwrap()
        .export
        .borrow()
        .outbox
        .has_unacked());
}
