#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_proto::audit::AuditRecord;

use crate::exchange::INCOMPLETE_REQUEST;
use crate::host::mock::{configured, records_in, sent_records, Call, MockHost};
use crate::host::Headers;
use crate::http::Action;
use crate::plugin::Plugin;

const CONFIG: &str = r#"{"collector": {"cluster": "collector"}, "batch": {"maxRecords": 1}}"#;

/// The records sent once the stream is up.
fn delivered(host: &MockHost, plugin: &Plugin) -> Vec<AuditRecord> {
    plugin.on_tick(host);
    sent_records(host)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.as_bytes()[14] == b'4'
}

fn ns(ms: u64) -> Vec<u8> {
    (ms as i64 * 1_000_000).to_le_bytes().to_vec()
}

#[test]
fn a_request_envoy_rejected_before_its_headers_gets_a_valid_record() {
    let (host, plugin) = configured(CONFIG);
    let start = host.now_ms.get();
    host.advance(5);
    // An HTTP/1 codec error: no request headers callback, only the log.
    host.set_property(&["request", "time"], &ns(start));
    host.set_property(&["response", "code"], &400i64.to_le_bytes());
    host.set_property(&["response", "code_details"], b"http1.invalid_characters");
    host.set_property(&["source", "address"], b"127.0.0.1:40000");
    plugin.http_filter().on_log(&host);
    let r = delivered(&host, &plugin).pop().unwrap();
    assert_eq!(r.ts_unix_nanos, start as i64 * 1_000_000);
    assert_eq!(r.duration_ms, 5.0);
    assert!(is_uuid(&r.correlation_id), "{r:?}");
    assert!(is_uuid(&r.record_id), "{r:?}");
    assert_eq!((r.method.as_str(), r.path.as_str()), ("-", ""));
    assert_eq!(
        (r.status, r.decision.as_str(), r.rule.as_str()),
        (400, "deny", INCOMPLETE_REQUEST)
    );
    assert_eq!(r.response_details, "http1.invalid_characters");
    assert_eq!(
        (r.source_ip.as_str(), r.source_ip_origin.as_str()),
        ("127.0.0.1", "peer")
    );
    plugin.on_tick(&host);
    assert_eq!(host.counter("observatory_incomplete_requests"), 1);
}

#[test]
fn what_envoy_parsed_of_an_incomplete_request_is_recorded() {
    let (host, plugin) = configured(CONFIG);
    // `OPTIONS *`: rejected by the router, headers present at log time.
    host.set_request_headers(&[(":method", "OPTIONS"), (":path", "*")]);
    host.set_property(&["response", "code"], &404i64.to_le_bytes());
    host.set_property(&["response", "code_details"], b"absolute_path_rejected");
    plugin.http_filter().on_log(&host);
    let r = delivered(&host, &plugin).pop().unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.status),
        ("OPTIONS", "*", 404)
    );
    assert_eq!(r.rule, INCOMPLETE_REQUEST);
    // No request.time: the record starts when it is logged.
    assert_eq!(r.ts_unix_nanos, host.now_ms.get() as i64 * 1_000_000);
}

#[test]
fn the_access_logger_records_codec_resets_the_filter_never_saw() {
    let (host, plugin) = configured(CONFIG);
    let start = host.now_ms.get();
    host.advance(2);
    // An HTTP/2 stream reset for an upper-case header name: no status,
    // no request id, no HTTP context.
    host.set_property(&["request", "time"], &ns(start));
    host.set_property(&["response", "code_details"], b"http2.invalid.header.field");
    plugin.on_log(&host);
    let r = delivered(&host, &plugin).pop().unwrap();
    assert_eq!((r.status, r.rule.as_str()), (0, INCOMPLETE_REQUEST));
    assert_eq!(r.response_details, "http2.invalid.header.field");
    assert_eq!(r.duration_ms, 2.0);
    // A stream the HTTP filter saw has a request id (or a status): not again.
    host.set_property(&["request", "id"], b"seen-by-the-filter");
    plugin.on_log(&host);
    let (host, plugin) = configured(CONFIG);
    host.set_property(&["response", "code"], &431i64.to_le_bytes());
    plugin.on_log(&host);
    assert_eq!(delivered(&host, &plugin), []);
}

#[test]
fn a_complete_request_reads_no_log_time_extras() {
    let (host, plugin) = configured(CONFIG);
    for id in ["id-1", "id-2"] {
        host.set_request_headers(&[(":method", "GET"), (":path", "/"), ("x-request-id", id)]);
        host.set_property(&["connection", "id"], &3i64.to_le_bytes());
        host.set_property(&["source", "address"], b"10.0.0.1:40000");
        let mut f = plugin.http_filter();
        f.on_request_headers(&host, true);
        host.set_response_headers(&[(":status", "200"), ("content-length", "0")]);
        f.on_response_headers(&host, true);
        f.on_log(&host);
    }
    let reads = host.property_reads.borrow().clone();
    for extra in ["request.time", "response.code_details", "response.code"] {
        assert!(!reads.iter().any(|r| r == extra), "{extra} read: {reads:?}");
    }
    // The peer is read on the connection's first request only.
    let peer_reads = reads.iter().filter(|r| *r == "connection.mtls").count();
    assert_eq!(peer_reads, 1, "{reads:?}");
}

/// A GET with these extra headers, to its end and its record's delivery;
/// returns the calls it made and the records sent.
fn request(
    host: &MockHost,
    plugin: &Plugin,
    headers: &[(&str, &str)],
) -> (Vec<Call>, Vec<AuditRecord>) {
    let mut all = vec![(":method", "GET"), (":path", "/x")];
    all.extend_from_slice(headers);
    host.set_request_headers(&all);
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(host, true), Action::Continue);
    host.set_response_headers(&[(":status", "200")]);
    f.on_response_headers(host, true);
    f.on_log(host);
    plugin.on_tick(host);
    let calls = host.take_calls();
    let records = records_in(&calls);
    (calls, records)
}

fn echoed(calls: &[Call]) -> String {
    calls
        .iter()
        .find_map(|c| match c {
            Call::SetHeader {
                map: Headers::Response,
                name,
                value: Some(v),
            } if name == "x-correlation-id" => Some(v.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_request_id_that_is_long_or_not_plain_is_replaced_and_kept_escaped() {
    let (host, plugin) = configured(CONFIG);
    let long = "a".repeat(8 * 1024);
    for (client, kept) in [
        ("a\tb", r"a\x09b".to_string()),
        (
            r#"x","decision":"allow"#,
            r#"x","decision":"allow"#.to_string(),
        ),
        (long.as_str(), "a".repeat(128)),
    ] {
        let (calls, mut records) = request(&host, &plugin, &[("x-request-id", client)]);
        let id = echoed(&calls);
        assert!(is_uuid(&id), "{client:?} echoed as {id:?}");
        assert!(
            calls.contains(&Call::SetHeader {
                map: Headers::Request,
                name: "x-request-id".into(),
                value: Some(id.clone()),
            }),
            "the generated id is forwarded: {calls:?}"
        );
        let r = records.pop().unwrap();
        assert_eq!(
            (r.correlation_id.as_str(), r.client_request_id.as_str()),
            (id.as_str(), kept.as_str())
        );
    }
    plugin.on_tick(&host);
    assert_eq!(host.counter("observatory_request_ids_replaced"), 3);
}

#[test]
fn a_request_id_sent_twice_is_replaced_and_the_first_kept() {
    let (host, plugin) = configured(CONFIG);
    let (calls, mut records) = request(
        &host,
        &plugin,
        &[("x-request-id", "first"), ("x-request-id", "second")],
    );
    let id = echoed(&calls);
    assert!(is_uuid(&id), "{id}");
    let r = records.pop().unwrap();
    assert_eq!(
        (r.correlation_id.as_str(), r.client_request_id.as_str()),
        (id.as_str(), "first")
    );
}

#[test]
fn a_plain_request_id_is_taken_and_every_record_gets_its_own_record_id() {
    let (host, plugin) = configured(CONFIG);
    let (calls, mut records) = request(&host, &plugin, &[("x-request-id", "req-1")]);
    assert_eq!(echoed(&calls), "req-1");
    assert!(!calls.iter().any(|c| matches!(
        c,
        Call::SetHeader {
            map: Headers::Request,
            ..
        }
    )));
    records.extend(request(&host, &plugin, &[("x-request-id", "req-1")]).1);
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.correlation_id == "req-1" && r.client_request_id.is_empty()));
    assert_ne!(records[0].record_id, records[1].record_id);
}

#[test]
fn the_forwarded_chain_is_recorded_and_never_the_source() {
    let (host, plugin) = configured(CONFIG);
    // Envoy took source.address from the header; the filter state has the peer.
    host.set_property(&["source", "address"], b"203.0.113.9:0");
    host.set_property(&["filter_state", "observatory.peer"], b"127.0.0.1:40000");
    let (_, mut records) = request(
        &host,
        &plugin,
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "10.0.0.1\n"),
        ],
    );
    let r = records.pop().unwrap();
    assert_eq!(
        (
            r.source_ip.as_str(),
            r.source_ip_origin.as_str(),
            r.forwarded_for.as_str()
        ),
        ("127.0.0.1", "filter_state", r"203.0.113.9, 10.0.0.1\x0a")
    );
    // Without the filter state the address is unknown, not the header's.
    let (host, plugin) = configured(CONFIG);
    host.set_property(&["source", "address"], b"203.0.113.9:0");
    let (_, mut records) = request(&host, &plugin, &[("x-forwarded-for", &"9".repeat(1000))]);
    let r = records.pop().unwrap();
    assert_eq!(
        (r.source_ip.as_str(), r.source_ip_origin.as_str()),
        ("", "")
    );
    assert_eq!(r.forwarded_for.len(), 254);
}

#[test]
fn a_user_agent_sent_on_several_lines_is_recorded_whole() {
    let (host, plugin) = configured(CONFIG);
    let (_, mut records) = request(
        &host,
        &plugin,
        &[("user-agent", "curl/8.5"), ("user-agent", "evil/1.0")],
    );
    assert_eq!(records.pop().unwrap().user_agent, "curl/8.5, evil/1.0");
    let (_, mut records) = request(&host, &plugin, &[("user-agent", "curl/8.5")]);
    assert_eq!(records.pop().unwrap().user_agent, "curl/8.5");
}
