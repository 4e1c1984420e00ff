#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::*;
use observatory_proto::audit::{Ack, Quarantined};

use crate::host::mock::{
    configured, local_replies, receive_ack, records_in, sent_batches, sent_records, Call, MockHost,
};
use crate::host::Body;
use crate::plugin::Plugin;

const POLICIES: &str = r#""policies": [
    {"name": "public", "action": "ALLOW", "rules": [{"to": [{"operation": {"paths": ["/public/*", "/pay*"]}}]}]},
    {"name": "no-admin", "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}
]"#;

fn config(extra: &str) -> String {
    format!(r#"{{"collector": {{"cluster": "collector"}}, "proxyId": "p1", {POLICIES}{extra}}}"#)
}

/// Request headers of a GET to `path` from 10.0.0.1 on connection 7.
fn get(host: &MockHost, path: &str, request_id: &str) {
    host.set_request_headers(&[
        (":method", "GET"),
        (":path", path),
        ("x-request-id", request_id),
    ]);
    host.set_property(&["connection", "id"], &7i64.to_le_bytes());
    host.set_property(&["source", "address"], b"10.0.0.1:40000");
}

/// Runs the request to its end; returns the action at request headers.
fn run(host: &MockHost, plugin: &Plugin, path: &str, request_id: &str) -> Action {
    get(host, path, request_id);
    let mut f = plugin.http_filter();
    let action = f.on_request_headers(host, true);
    respond(host, &mut f, action)
}

/// A 200 response if the request went on, then the log; returns `action`.
fn respond(host: &MockHost, f: &mut HttpFilter, action: Action) -> Action {
    if action == Action::Continue {
        host.set_response_headers(&[(":status", "200"), ("content-length", "2")]);
        f.on_response_headers(host, false);
    }
    f.on_log(host);
    action
}

#[test]
fn an_allowed_request_continues_is_tagged_and_recorded() {
    let (host, plugin) = configured(&config(""));
    get(&host, "/public/x", "id-1");
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(&host, true), Action::Continue);
    assert_eq!(host.take_calls(), []);
    host.set_response_headers(&[(":status", "200"), ("content-length", "2")]);
    assert_eq!(f.on_response_headers(&host, false), Action::Continue);
    assert_eq!(
        host.take_calls(),
        [Call::SetHeader {
            map: Headers::Response,
            name: "x-correlation-id".into(),
            value: Some("id-1".into()),
        }]
    );
    host.advance(10);
    f.on_log(&host);

    host.advance(2_000);
    plugin.on_tick(&host);
    let batches = sent_batches(&host);
    assert_eq!(batches.len(), 2, "heartbeat, then the batch: {batches:?}");
    let r = &batches[1].records[0];
    assert_eq!(
        (
            r.correlation_id.as_str(),
            r.method.as_str(),
            r.path.as_str()
        ),
        ("id-1", "GET", "/public/x")
    );
    assert_eq!(
        (r.status, r.decision.as_str(), r.rule.as_str()),
        (200, "allow", "public")
    );
    assert_eq!(
        (r.source_ip.as_str(), r.proxy_id.as_str()),
        ("10.0.0.1", "p1")
    );
    assert_eq!(r.response_bytes, 2);
    assert_eq!(r.duration_ms, 10.0);
}

#[test]
fn a_denied_request_gets_a_403_with_its_correlation_id() {
    let (host, plugin) = configured(&config(""));
    assert_eq!(run(&host, &plugin, "/admin/users", "id-2"), Action::Pause);
    let calls = host.take_calls();
    assert_eq!(
        local_replies(&calls),
        [(
            403,
            r#"{"correlation_id":"id-2","error":"forbidden","rule":"no-admin"}"#.to_string()
        )]
    );
    assert!(
        matches!(&calls[0], Call::LocalReply { details, headers, .. }
        if details == "observatory_forbidden"
            && headers.contains(&("x-correlation-id".into(), "id-2".into())))
    );
}

/// Puts the stream to the collector into a failed state with a record
/// unacknowledged for a minute.
fn fail_delivery(host: &MockHost, plugin: &Plugin) {
    run(host, plugin, "/public/before", "id-before");
    host.advance(2_000);
    plugin.on_tick(host);
    plugin.on_grpc_stream_close(host, 1, 14);
    host.advance(60_000);
    plugin.on_tick(host);
    host.take_calls();
}

#[test]
fn a_denial_is_answered_403_before_the_fail_closed_503() {
    let (host, plugin) = configured(&config(r#", "auditFailureMode": "closed""#));
    fail_delivery(&host, &plugin);
    run(&host, &plugin, "/admin/x", "id-denied");
    run(&host, &plugin, "/public/x", "id-allowed");
    let replies: Vec<u32> = local_replies(&host.take_calls())
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(replies, [403, 503]);
}

#[test]
fn fail_open_serves_while_delivery_fails() {
    let (host, plugin) = configured(&config(""));
    fail_delivery(&host, &plugin);
    assert_eq!(run(&host, &plugin, "/public/x", "id-3"), Action::Continue);
    assert_eq!(local_replies(&host.take_calls()), []);
}

#[test]
fn an_unconfigured_plugin_lets_requests_pass_untouched() {
    let host = MockHost::default();
    let plugin = Plugin::new(1);
    assert_eq!(run(&host, &plugin, "/admin/x", "id-4"), Action::Continue);
    assert_eq!(host.take_calls(), []);
    assert!(host.property_reads.borrow().is_empty());
}

#[test]
fn records_with_excerpts_are_built_on_the_next_tick() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "recordBodies": {"maxBytes": 64}, "batch": {"maxRecords": 1}"#,
    ));
    run(&host, &plugin, "/public/x", "id-5");
    let calls = host.take_calls();
    assert_eq!(
        calls.last(),
        Some(&Call::TickPeriod(Duration::from_millis(1))),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| matches!(c, Call::Send { .. })),
        "{calls:?}"
    );
    plugin.on_tick(&host);
    let calls = host.take_calls();
    assert_eq!(
        calls.first(),
        Some(&Call::TickPeriod(Duration::from_millis(500))),
        "back to the regular tick first: {calls:?}"
    );
    let sent: Vec<_> = calls
        .iter()
        .filter(|c| matches!(c, Call::Send { .. }))
        .collect();
    assert_eq!(sent.len(), 2, "heartbeat and the record's batch: {calls:?}");
}

/// A GET to `/pay/1` under a `redactResponses` rule, past its request
/// headers.
fn rewriting_pay(request_id: &str) -> (MockHost, Plugin, HttpFilter) {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "pay", "paths": ["/pay*"], "redactResponses": true}]"#,
    ));
    get(&host, "/pay/1", request_id);
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(&host, true), Action::Continue);
    (host, plugin, f)
}

#[test]
fn a_dlp_response_is_held_and_rewritten_without_its_length() {
    let (host, _plugin, mut f) = rewriting_pay("id-6");
    host.set_response_headers(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", "31"),
    ]);
    assert_eq!(f.on_response_headers(&host, false), Action::Continue);
    let body = br#"{"email": "jane@example.com"}"#;
    *host.response_body.borrow_mut() = body.to_vec();
    assert_eq!(f.on_response_body(&host, body.len(), false), Action::Pause);
    assert_eq!(
        f.on_response_body(&host, body.len(), true),
        Action::Continue
    );
    let calls = host.take_calls();
    assert_eq!(
        calls[0],
        Call::SetHeader {
            map: Headers::Response,
            name: "content-length".into(),
            value: None
        }
    );
    assert_eq!(
        calls[2],
        Call::ReplaceBody {
            which: Body::Response,
            data: br#"{"email": "[REDACTED:EMAIL]"}"#.to_vec()
        }
    );
}

#[test]
fn a_coded_dlp_response_is_not_held_whatever_the_order_of_its_codings() {
    let (host, plugin, mut f) = rewriting_pay("id-7");
    host.set_response_headers(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-encoding", "identity"),
    ]);
    assert_eq!(f.on_response_headers(&host, false), Action::Continue);
    // Not held, so not rewritten: its bytes are passed on as they are.
    assert_eq!(f.on_response_body(&host, 31, false), Action::Continue);
    let calls = host.take_calls();
    assert!(
        !calls.iter().any(|c| matches!(
            c,
            Call::SetHeader { name, .. } if name == "content-length"
        )),
        "{calls:?}"
    );
    assert_eq!(dlp_skipped(&host, &plugin), 1);
}

fn statuses(host: &MockHost) -> Vec<u32> {
    local_replies(&host.take_calls())
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// Fail-closed after a second without an ack; a batch per record.
const FAIL_CLOSED: &str =
    r#", "auditFailureMode": "closed", "auditFailureTimeoutMs": 1000, "batch": {"maxRecords": 1}"#;

#[test]
fn fail_closed_answers_503_only_after_the_timeout_without_an_ack() {
    let (host, plugin) = configured(&config(FAIL_CLOSED));
    run(&host, &plugin, "/public/a", "id-a");
    plugin.on_tick(&host);
    host.advance(999);
    assert_eq!(run(&host, &plugin, "/public/b", "id-b"), Action::Continue);
    host.advance(1);
    assert_eq!(run(&host, &plugin, "/public/c", "id-c"), Action::Pause);
    let calls = host.take_calls();
    assert_eq!(local_replies(&calls)[0].0, 503);
    let c = records_in(&calls).pop().unwrap();
    assert_eq!(
        (
            c.correlation_id.as_str(),
            c.status,
            c.decision.as_str(),
            c.rule.as_str()
        ),
        ("id-c", 503, "deny", AUDIT_UNAVAILABLE)
    );
    // An ack that releases records is delivery working again.
    receive_ack(
        &host,
        &plugin,
        1,
        &Ack {
            seq: 2,
            quarantined: Vec::new(),
        },
    );
    assert_eq!(run(&host, &plugin, "/public/d", "id-d"), Action::Continue);
    assert!(statuses(&host).is_empty());
}

#[test]
fn a_refused_batch_and_quarantined_records_do_not_trip_fail_closed() {
    let (host, plugin) = configured(&config(FAIL_CLOSED));
    run(&host, &plugin, "/public/a", "id-a");
    plugin.on_tick(&host);
    host.advance(500);
    // The collector refuses the batch and closes the stream: the stream
    // failed, but records have waited less than the timeout.
    plugin.on_grpc_stream_close(&host, 1, 3);
    assert_eq!(run(&host, &plugin, "/public/b", "id-b"), Action::Continue);
    // Minimum backoff: 500 ms (jittered down to no less than half).
    host.advance(500);
    plugin.on_tick(&host);
    // The retry is acked, with the refused record quarantined.
    receive_ack(
        &host,
        &plugin,
        2,
        &Ack {
            seq: 2,
            quarantined: vec![Quarantined {
                index: 0,
                reason: "ts_unix_nanos must be > 0".into(),
            }],
        },
    );
    host.advance(2_000);
    assert_eq!(run(&host, &plugin, "/public/c", "id-c"), Action::Continue);
    assert!(statuses(&host).is_empty());
}

#[test]
fn a_path_not_in_normal_form_is_forwarded_normalised() {
    let (host, plugin) = configured(&config(""));
    get(&host, "/public//x/../y?q=a//b", "id-7");
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(&host, true), Action::Continue);
    assert_eq!(
        host.take_calls(),
        [Call::SetHeader {
            map: Headers::Request,
            name: ":path".into(),
            value: Some("/public/y?q=a//b".into()),
        }]
    );
    f.on_log(&host);
    // Decided on what is forwarded: `//admin/users` is `/admin/users`.
    assert_eq!(run(&host, &plugin, "//admin/users", "id-8"), Action::Pause);
    assert_eq!(statuses(&host), [403]);
    // A path in normal form is left alone.
    assert_eq!(
        run(&host, &plugin, "/public/z?a=b", "id-9"),
        Action::Continue
    );
    assert!(!host
        .take_calls()
        .iter()
        .any(|c| matches!(c, Call::SetHeader { name, .. } if name == ":path")));
    host.advance(2_000);
    plugin.on_tick(&host);
    let paths: Vec<String> = sent_records(&host).into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/public/y", "//admin/users", "/public/z"]);
}

#[test]
fn reject_mode_answers_400_and_decide_only_forwards_the_raw_path() {
    let (host, plugin) = configured(&config(r#", "pathNormalization": "reject""#));
    assert_eq!(run(&host, &plugin, "/public//x", "id-10"), Action::Pause);
    assert_eq!(
        local_replies(&host.take_calls()),
        [(
            400,
            r#"{"correlation_id":"id-10","error":"bad_request","rule":"path-not-normalized"}"#
                .to_string()
        )]
    );
    host.advance(2_000);
    plugin.on_tick(&host);
    let r = sent_records(&host).pop().unwrap();
    assert_eq!(
        (r.status, r.decision.as_str(), r.rule.as_str()),
        (400, "deny", PATH_NOT_NORMALIZED)
    );

    let (host, plugin) = configured(&config(r#", "pathNormalization": "decide-only""#));
    assert_eq!(run(&host, &plugin, "/public//x", "id-11"), Action::Continue);
    assert_eq!(run(&host, &plugin, "//admin", "id-12"), Action::Pause);
    let calls = host.take_calls();
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::SetHeader { name, .. } if name == ":path")),
        "{calls:?}"
    );
    assert_eq!(local_replies(&calls).len(), 1);
}

/// POSTs `body` to `path` as JSON and runs the request to its end; returns
/// the action at the request body's end.
fn post(host: &MockHost, plugin: &Plugin, path: &str, request_id: &str, body: &[u8]) -> Action {
    post_with(host, plugin, path, request_id, &[], body)
}

/// [`post`] with more request headers.
fn post_with(
    host: &MockHost,
    plugin: &Plugin,
    path: &str,
    request_id: &str,
    more: &[(&str, &str)],
    body: &[u8],
) -> Action {
    let (mut f, action) = post_headers(host, plugin, path, request_id, more);
    assert_eq!(action, Action::Continue);
    *host.request_body.borrow_mut() = body.to_vec();
    let action = f.on_request_body(host, body.len(), true);
    respond(host, &mut f, action)
}

/// The request headers of a JSON POST to `path`, with `more`: the filter
/// and its action.
fn post_headers(
    host: &MockHost,
    plugin: &Plugin,
    path: &str,
    request_id: &str,
    more: &[(&str, &str)],
) -> (HttpFilter, Action) {
    let mut headers = vec![
        (":method", "POST"),
        (":path", path),
        ("content-type", "application/json"),
        ("x-request-id", request_id),
    ];
    headers.extend_from_slice(more);
    host.set_request_headers(&headers);
    let mut f = plugin.http_filter();
    let action = f.on_request_headers(host, false);
    (f, action)
}

#[test]
fn a_request_body_is_scanned_for_every_type_only_when_it_may_hold_a_denied_one() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"]}]"#,
    ));
    // No card: cleared by the search for cards alone; the e-mail address
    // in it is neither searched for nor counted.
    let clean = br#"{"email": "jane@example.com", "total": 12.5}"#;
    assert_eq!(
        post(&host, &plugin, "/pay/1", "id-20", clean),
        Action::Continue
    );
    // A card: scanned whole, denied, and every finding counted.
    let card = br#"{"email": "jane@example.com", "card": "4111 1111 1111 1111"}"#;
    assert_eq!(post(&host, &plugin, "/pay/2", "id-21", card), Action::Pause);
    // A card number's shape under an identifier's key: the search for
    // cards says "maybe", the whole scan says it is an identifier.
    let id = br#"{"order_id": "4111111111111111", "email": "jane@example.com"}"#;
    assert_eq!(
        post(&host, &plugin, "/pay/3", "id-22", id),
        Action::Continue
    );
    host.advance(2_000);
    plugin.on_tick(&host);
    let counts: Vec<_> = sent_records(&host)
        .into_iter()
        .map(|r| (r.status, r.redactions.into_iter().collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        counts,
        [
            (200, vec![]),
            (
                403,
                vec![("CREDIT_CARD".to_owned(), 1), ("EMAIL".to_owned(), 1)]
            ),
            (200, vec![("EMAIL".to_owned(), 1)]),
        ]
    );
}

#[test]
fn a_request_body_whose_scan_could_not_complete_passes_and_is_counted_skipped() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"]}]"#,
    ));
    // Card-shaped numbers that fail Luhn, one after another, use up the
    // search's budget for searching again; the card after them is missed,
    // as a body over `maxBodyBytes` would be, and counted so.
    let list: Vec<String> = (0..7)
        .map(|i| format!("4111 1111 1111 {}", 1112 + i))
        .collect();
    let body = format!(r#"{{"note": "{} 4242 4242 4242 4242"}}"#, list.join(" "));
    assert_eq!(
        post(&host, &plugin, "/pay/1", "id-23", body.as_bytes()),
        Action::Continue
    );
    assert_eq!(dlp_skipped(&host, &plugin), 1);
}

#[test]
fn a_compressed_request_body_is_not_scanned_and_is_counted_skipped() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"]}]"#,
    ));
    // Bytes that say they are compressed are not the text: a scan of them
    // proves nothing, so DLP says it could not scan the body, as it does
    // for a compressed response. (A readable card makes the point: it is
    // not looked at.)
    let body = br#"{"card": "4242 4242 4242 4242"}"#;
    let gzip = [("content-encoding", "gzip")];
    assert_eq!(
        post_with(&host, &plugin, "/pay/1", "id-24", &gzip, body),
        Action::Continue
    );
    assert!(local_replies(&host.take_calls()).is_empty());
    assert_eq!(dlp_skipped(&host, &plugin), 1);
    // `identity`, or an empty value that a receiver reads as none, is no
    // encoding: such a body is scanned, and denied. A second header line
    // does not undo a coding.
    for (i, encoding) in [
        &[("content-encoding", "identity")][..],
        &[("content-encoding", "")],
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("id-2{}", 5 + i);
        assert_eq!(
            post_with(&host, &plugin, "/pay/2", &id, encoding, body),
            Action::Pause
        );
        assert_eq!(local_replies(&host.take_calls()).len(), 1);
    }
    let both = [
        ("content-encoding", "gzip"),
        ("content-encoding", "identity"),
    ];
    assert_eq!(
        post_with(&host, &plugin, "/pay/3", "id-27", &both, body),
        Action::Continue
    );
    assert_eq!(dlp_skipped(&host, &plugin), 2);
}

/// `observatory_dlp_skipped` as the next tick hands it to Envoy.
fn dlp_skipped(host: &MockHost, plugin: &Plugin) -> u64 {
    plugin.on_tick(host);
    host.counters
        .borrow()
        .iter()
        .find(|(name, _)| name == "observatory_dlp_skipped")
        .map_or(0, |(_, n)| *n)
}

#[test]
fn a_body_its_rule_cannot_scan_passes_or_under_deny_unscanned_is_denied() {
    let rule = |deny: bool| {
        config(&format!(
            r#", "redaction": {{}}, "dlp": [{{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"], "maxBodyBytes": 1024, "denyUnscanned": {deny}}}]"#
        ))
    };
    let dense: Vec<String> = (0..7)
        .map(|i| format!("4111 1111 1111 {}", 1112 + i))
        .collect();
    let dense = format!(r#"{{"note": "{} 4242 4242 4242 4242"}}"#, dense.join(" "));

    // Passed on by default, each counted as not scanned. A body announced
    // over the limit is not even held.
    let (host, plugin) = configured(&rule(false));
    let (mut f, action) = post_headers(
        &host,
        &plugin,
        "/pay/1",
        "id-30",
        &[("content-length", "5000")],
    );
    assert_eq!(action, Action::Continue);
    *host.request_body.borrow_mut() = vec![b' '; 500];
    assert_eq!(f.on_request_body(&host, 500, false), Action::Continue);
    let gzip = [("content-encoding", "gzip")];
    assert_eq!(
        post_with(&host, &plugin, "/pay/2", "id-31", &gzip, b"{}"),
        Action::Continue
    );
    assert_eq!(
        post(&host, &plugin, "/pay/3", "id-32", dense.as_bytes()),
        Action::Continue
    );
    assert!(local_replies(&host.take_calls()).is_empty());
    assert_eq!(dlp_skipped(&host, &plugin), 3);

    // Under `denyUnscanned` each is refused, naming the rule: the first two
    // at their headers, before any of the body is read.
    let (host, plugin) = configured(&rule(true));
    let refused = |host: &MockHost, id: &str| {
        let replies = local_replies(&host.take_calls());
        assert_eq!(
            replies,
            [(
                403,
                format!(r#"{{"correlation_id":"{id}","error":"forbidden","rule":"cards"}}"#)
            )]
        );
    };
    let (mut f, action) = post_headers(
        &host,
        &plugin,
        "/pay/1",
        "id-33",
        &[("content-length", "5000")],
    );
    assert_eq!(action, Action::Pause);
    refused(&host, "id-33");
    f.on_log(&host);
    let (mut f, action) = post_headers(&host, &plugin, "/pay/2", "id-34", &gzip);
    assert_eq!(action, Action::Pause);
    refused(&host, "id-34");
    f.on_log(&host);
    // Without a length, found too large while it is held.
    let (mut f, action) = post_headers(&host, &plugin, "/pay/3", "id-35", &[]);
    assert_eq!(action, Action::Continue);
    *host.request_body.borrow_mut() = vec![b' '; 2000];
    assert_eq!(f.on_request_body(&host, 2000, false), Action::Pause);
    refused(&host, "id-35");
    f.on_log(&host);
    assert_eq!(
        post(&host, &plugin, "/pay/4", "id-36", dense.as_bytes()),
        Action::Pause
    );
    refused(&host, "id-36");
    // A body it scans whole, without a card, still goes on.
    let clean = br#"{"note": "4111 1111 1111 1112"}"#;
    assert_eq!(
        post(&host, &plugin, "/pay/5", "id-37", clean),
        Action::Continue
    );
    assert!(local_replies(&host.take_calls()).is_empty());
    assert_eq!(dlp_skipped(&host, &plugin), 4);
    host.advance(2_000);
    plugin.on_tick(&host);
    let decisions: Vec<(String, String, u32)> = sent_records(&host)
        .into_iter()
        .map(|r| (r.decision, r.rule, r.status))
        .collect();
    let deny = |_| ("deny".to_string(), "cards".to_string(), 403);
    let mut expected: Vec<_> = (0..4).map(deny).collect();
    expected.push(("allow".to_string(), "public".to_string(), 200));
    assert_eq!(decisions, expected);
}

#[test]
fn a_second_content_type_does_not_take_a_body_out_of_its_rule() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "cards", "paths": ["/pay*"], "contentTypes": ["application/json"], "denyOnPii": ["CREDIT_CARD"]}]"#,
    ));
    let body = br#"{"card": "4242 4242 4242 4242"}"#;
    // The action at the body's end of a POST of `body` with these types.
    let post_as = |id: &str, types: &[&str]| {
        let mut headers = vec![
            (":method", "POST"),
            (":path", "/pay/1"),
            ("x-request-id", id),
        ];
        headers.extend(types.iter().map(|t| ("content-type", *t)));
        host.set_request_headers(&headers);
        let mut f = plugin.http_filter();
        assert_eq!(f.on_request_headers(&host, false), Action::Continue);
        *host.request_body.borrow_mut() = body.to_vec();
        let action = f.on_request_body(&host, body.len(), true);
        let replies = local_replies(&host.take_calls()).len();
        assert_eq!(replies, usize::from(action == Action::Pause));
        action
    };
    // A receiver that reads the first line reads JSON; one that reads the
    // last, or a line that lists two types, leaves it open: the body stays
    // under the rule, and is denied.
    assert_eq!(
        post_as("id-40", &["application/json", "text/plain"]),
        Action::Pause
    );
    assert_eq!(
        post_as("id-41", &["text/plain", "application/json"]),
        Action::Pause
    );
    assert_eq!(
        post_as("id-42", &["text/plain, application/json"]),
        Action::Pause
    );
    // A body of another type alone is not the rule's.
    assert_eq!(post_as("id-43", &["text/plain"]), Action::Continue);
    assert_eq!(post_as("id-44", &["application/json"]), Action::Pause);
}

#[test]
fn trailers_end_a_held_body_which_is_scanned_then() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"], "maxBodyBytes": 1024}, {"name": "rewrite", "paths": ["/public*"], "redactResponses": true}]"#,
    ));
    // Envoy ends a body that trailers follow with no body callback that
    // says so: the held body is scanned at the trailers.
    // `later`: what Envoy holds by the trailers, if more than it said.
    let trailed = |id: &str, body: &[u8], later: Option<&[u8]>| {
        let (mut f, action) = post_headers(&host, &plugin, "/pay/1", id, &[]);
        assert_eq!(action, Action::Continue);
        *host.request_body.borrow_mut() = body.to_vec();
        assert_eq!(f.on_request_body(&host, body.len(), false), Action::Pause);
        if let Some(later) = later {
            *host.request_body.borrow_mut() = later.to_vec();
        }
        let action = f.on_request_trailers(&host);
        f.on_log(&host);
        (action, local_replies(&host.take_calls()))
    };
    let card = br#"{"card": "4242 4242 4242 4242"}"#;
    let (action, replies) = trailed("id-50", card, None);
    assert_eq!((action, replies.len()), (Action::Pause, 1));
    let (action, replies) = trailed("id-51", br#"{"note": "none"}"#, None);
    assert_eq!((action, replies.len()), (Action::Continue, 0));
    // Over the limit by then (Envoy reports every chunk, so this is the
    // body callbacks' check, kept where the body ends): passed, counted.
    let (action, replies) = trailed("id-52", card, Some(&[b' '; 1025]));
    assert_eq!((action, replies.len()), (Action::Continue, 0));
    assert_eq!(dlp_skipped(&host, &plugin), 1);

    // A response held to be rewritten is rewritten at its trailers.
    get(&host, "/public/x", "id-53");
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(&host, true), Action::Continue);
    host.set_response_headers(&[(":status", "200"), ("content-type", "application/json")]);
    assert_eq!(f.on_response_headers(&host, false), Action::Continue);
    let body = br#"{"email": "jane@example.com"}"#;
    *host.response_body.borrow_mut() = body.to_vec();
    assert_eq!(f.on_response_body(&host, body.len(), false), Action::Pause);
    assert_eq!(f.on_response_trailers(&host), Action::Continue);
    assert_eq!(
        host.response_body.borrow().as_slice(),
        br#"{"email": "[REDACTED:EMAIL]"}"#
    );
}

#[test]
fn an_upgraded_stream_is_not_held_as_a_body() {
    let rule = |deny: bool| {
        config(&format!(
            r#", "redaction": {{}}, "dlp": [{{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"], "denyUnscanned": {deny}}}]"#
        ))
    };
    let open = |host: &MockHost, plugin: &Plugin, method: &str, upgrade: bool, id: &str| {
        let mut headers = vec![
            (":method", method),
            (":path", "/pay/ws"),
            ("x-request-id", id),
        ];
        if upgrade {
            headers.extend([("connection", "upgrade"), ("upgrade", "websocket")]);
        }
        host.set_request_headers(&headers);
        let mut f = plugin.http_filter();
        let action = f.on_request_headers(host, false);
        (f, action)
    };
    // A WebSocket's frames (masked) or a tunnel's bytes are no body: held,
    // the WebSocket would hang. They go on, counted as not scanned.
    let (host, plugin) = configured(&rule(false));
    for (i, (method, upgrade)) in [("GET", true), ("CONNECT", false)].into_iter().enumerate() {
        let (mut f, action) = open(&host, &plugin, method, upgrade, &format!("id-6{i}"));
        assert_eq!(action, Action::Continue);
        *host.request_body.borrow_mut() = b"frame 4242 4242 4242 4242".to_vec();
        assert_eq!(f.on_request_body(&host, 25, false), Action::Continue);
    }
    assert!(local_replies(&host.take_calls()).is_empty());
    assert_eq!(dlp_skipped(&host, &plugin), 2);
    // Under `denyUnscanned` they are refused at their headers.
    let (host, plugin) = configured(&rule(true));
    let (_, action) = open(&host, &plugin, "GET", true, "id-62");
    assert_eq!(action, Action::Pause);
    assert_eq!(local_replies(&host.take_calls()).len(), 1);
    // A request without either is held as before, and so is a POST that
    // says `Upgrade`: an upstream that does not upgrade reads its body.
    let (mut f, action) = open(&host, &plugin, "POST", false, "id-63");
    assert_eq!(action, Action::Continue);
    assert_eq!(f.on_request_body(&host, 25, false), Action::Pause);
    let (mut f, action) = open(&host, &plugin, "POST", true, "id-65");
    assert_eq!(action, Action::Continue);
    assert_eq!(f.on_request_body(&host, 25, false), Action::Pause);
    // Envoy does not say an upgrade request's body ended: with a length, it
    // is whole there, and scanned.
    host.set_request_headers(&[
        (":method", "POST"),
        (":path", "/pay/ws"),
        ("x-request-id", "id-66"),
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("content-length", "25"),
    ]);
    let mut f = plugin.http_filter();
    assert_eq!(f.on_request_headers(&host, false), Action::Continue);
    *host.request_body.borrow_mut() = b"frame 4242 4242 4242 4242".to_vec();
    assert_eq!(f.on_request_body(&host, 25, false), Action::Pause);
    assert_eq!(local_replies(&host.take_calls()).len(), 1);

    // Nor is the upstream's side of a WebSocket held to be rewritten.
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "rewrite", "paths": ["/pay*"], "redactResponses": true}]"#,
    ));
    let (mut f, _) = open(&host, &plugin, "GET", true, "id-64");
    host.set_response_headers(&[(":status", "101"), ("upgrade", "websocket")]);
    assert_eq!(f.on_response_headers(&host, false), Action::Continue);
    *host.response_body.borrow_mut() = b"frame jane@example.com".to_vec();
    assert_eq!(f.on_response_body(&host, 22, false), Action::Continue);
    assert_eq!(dlp_skipped(&host, &plugin), 1);
}

#[test]
fn a_framed_or_partial_response_is_not_rewritten_whatever_its_bytes() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "dlp": [{"name": "all", "redactResponses": true}]"#,
    ));
    // A small gRPC message is valid UTF-8: rewriting the address in it
    // would break the protobuf's and the gRPC frame's lengths. A range of a
    // JSON body would be shifted against the rest of it.
    let grpc = b"\0\0\0\0\x12\n\x10jane@example.com";
    let range = br#"{"email": "jane@example.com"}"#;
    for (i, (status, content_type, body)) in [
        ("200", "application/grpc", &grpc[..]),
        ("206", "application/json", &range[..]),
    ]
    .into_iter()
    .enumerate()
    {
        get(&host, "/public/rpc", &format!("id-7{i}"));
        let mut f = plugin.http_filter();
        assert_eq!(f.on_request_headers(&host, true), Action::Continue);
        host.set_response_headers(&[(":status", status), ("content-type", content_type)]);
        assert_eq!(f.on_response_headers(&host, false), Action::Continue);
        *host.response_body.borrow_mut() = body.to_vec();
        assert_eq!(
            f.on_response_body(&host, body.len(), false),
            Action::Continue
        );
        assert_eq!(f.on_response_trailers(&host), Action::Continue);
        assert_eq!(host.response_body.borrow().as_slice(), body);
    }
    assert_eq!(dlp_skipped(&host, &plugin), 2);
}

#[test]
fn a_body_in_utf16_is_scanned_as_its_text() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "recordBodies": {"maxBytes": 256}, "dlp": [{"name": "cards", "paths": ["/pay*"], "denyOnPii": ["CREDIT_CARD"]}, {"name": "rewrite", "paths": ["/public*"], "redactResponses": true}]"#,
    ));
    // Read as UTF-8, the zero bytes between the digits hide the card; Jackson
    // and Python's `json` read it as JSON.
    let utf16 =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let card = utf16(r#"{"note": "pay with 4242 4242 4242 4242"}"#);
    assert_eq!(
        post(&host, &plugin, "/pay/1", "id-80", &card),
        Action::Pause
    );
    assert_eq!(local_replies(&host.take_calls()).len(), 1);
    // A response under a rewrite rule: what the client gets, and the
    // record's excerpt.
    let respond_with = |id: &str, body: &[u8]| {
        get(&host, "/public/a", id);
        let mut f = plugin.http_filter();
        assert_eq!(f.on_request_headers(&host, true), Action::Continue);
        host.set_response_headers(&[(":status", "200"), ("content-type", "application/json")]);
        assert_eq!(f.on_response_headers(&host, false), Action::Continue);
        *host.response_body.borrow_mut() = body.to_vec();
        assert_eq!(
            f.on_response_body(&host, body.len(), true),
            Action::Continue
        );
        f.on_log(&host);
        host.advance(2_000);
        plugin.on_tick(&host);
        let sent = host.response_body.borrow().clone();
        let excerpt = sent_records(&host)
            .into_iter()
            .find(|r| r.correlation_id == id)
            .unwrap()
            .response_body;
        (sent, excerpt)
    };
    // Rewritten in its own encoding; the excerpt is the text, redacted.
    let mail = utf16(r#"{"note": "mail jane@example.com"}"#);
    let redacted = r#"{"note": "mail [REDACTED:EMAIL]"}"#;
    assert_eq!(
        respond_with("id-81", &mail),
        (utf16(redacted), redacted.to_string())
    );
    // One that does not decode and encode back to its bytes (a lone
    // surrogate) passes as it is, counted; its excerpt is still redacted.
    let mut broken = mail.clone();
    broken.extend_from_slice(&0xD800u16.to_le_bytes());
    assert_eq!(
        respond_with("id-82", &broken),
        (broken.clone(), format!("{redacted}\u{fffd}"))
    );
    assert_eq!(dlp_skipped(&host, &plugin), 1);
}

#[test]
fn a_recorded_header_sent_on_several_lines_keeps_every_line() {
    let (host, plugin) = configured(&config(
        r#", "redaction": {}, "recordHeaders": ["x-tenant", "cookie"]"#,
    ));
    host.set_request_headers(&[
        (":method", "GET"),
        (":path", "/public/a"),
        ("x-request-id", "id-90"),
        ("x-tenant", "blue"),
        ("cookie", "a=1"),
        ("x-tenant", "red"),
        ("cookie", "email=jane@example.com"),
    ]);
    let mut f = plugin.http_filter();
    let action = f.on_request_headers(&host, true);
    respond(&host, &mut f, action);
    host.advance(2_000);
    plugin.on_tick(&host);
    let r = sent_records(&host).pop().unwrap();
    assert_eq!(
        r.headers.get("x-tenant").map(String::as_str),
        Some("blue, red")
    );
    assert_eq!(
        r.headers.get("cookie").map(String::as_str),
        Some("a=1; email=[REDACTED:EMAIL]")
    );
}
