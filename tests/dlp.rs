//! In-flight DLP through Envoy: response bodies of a `redactResponses` rule reach the
//! client redacted (bodies over `maxBodyBytes` pass unmodified and are counted), and a
//! `denyOnPii` rule answers a card-carrying request body with the filter's 403 before
//! the upstream receives the body (a compressed one passes, counted as not scanned; under
//! `denyUnscanned` a body the rule cannot scan is refused; a body that trailers end is scanned
//! too; a WebSocket is not held).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use observatory_e2e::*;

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111-1111-1111-1111";

fn config() -> Value {
    let mut config = plugin_config();
    config["redaction"] = json!({});
    config["dlp"] = json!([
        {"name": "echo-rewrite", "paths": ["/public/echo*"],
         "contentTypes": ["application/json"], "redactResponses": true, "maxBodyBytes": 2048},
        {"name": "no-cards", "paths": ["/public/notes*"], "denyOnPii": ["CREDIT_CARD"]},
        {"name": "strict-cards", "paths": ["/public/strict*"], "denyOnPii": ["CREDIT_CARD"],
         "contentTypes": ["application/json"], "maxBodyBytes": 1024, "denyUnscanned": true}
    ]);
    config
}

async fn post(
    stack: &Stack,
    path: &str,
    id: &str,
    content_type: &str,
    body: impl AsRef<[u8]>,
) -> Resp {
    let url = stack.http_url(path);
    send(
        post_with_id(
            &stack.plain(),
            &url,
            id,
            content_type,
            body.as_ref().to_vec(),
        )
        .header(ECHO_HEADER, "1"),
    )
    .await
}

/// `resp` is the `no-cards` rule's 403; the upstream never received the body
/// (the headers went on: proxy-wasm cannot hold them while reading the
/// body, so the upstream request is reset); the record says so. Returns it.
async fn assert_card_denied(stack: &Stack, resp: &Resp, id: &str) -> Value {
    assert_forbidden(resp.status, &resp.body, id, "no-cards");
    let upstream = stack.upstream.request_with_id(id);
    assert!(
        upstream.as_ref().is_none_or(|r| r.body_len == 0),
        "{upstream:?}"
    );
    let rec = stack.collector.wait_for_record(id).await;
    assert_eq!(s(&rec, "decision"), "deny", "{rec}");
    assert_eq!(s(&rec, "rule"), "no-cards", "{rec}");
    assert_eq!(rec["redactions"], json!({"CREDIT_CARD": 1}), "{rec}");
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_bodies_are_rewritten_for_the_client() {
    let stack = Stack::start(&config()).await;
    let id = unique_id("dlp-rewrite");
    let body = json!({"customer": {"email": EMAIL, "card": CARD}, "total": "12.50"}).to_string();
    let resp = post(&stack, "/public/echo", &id, "application/json", &body).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        resp.json(),
        json!({"customer": {"email": "[REDACTED:EMAIL]", "card": "[REDACTED:CREDIT_CARD]"},
               "total": "12.50"})
    );
    // The old length is gone; whatever framing Envoy chose matches the new body.
    if let Some(length) = resp.header("content-length") {
        assert_eq!(length.parse::<usize>().unwrap(), resp.body.len());
    }
    // The upstream got the request as sent.
    assert_eq!(
        stack.upstream.request_with_id(&id).unwrap().body_len,
        body.len()
    );
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(
        rec["redactions"],
        json!({"EMAIL": 1, "CREDIT_CARD": 1}),
        "{rec}"
    );
    assert_eq!(
        u(&rec, "response_bytes"),
        Some(resp.body.len() as u64),
        "{rec}"
    );
    let (rewritten, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_dlp_rewritten", WAIT, |v| v >= 1)
        .await;
    assert!(ok, "dlp_rewritten = {rewritten}");

    // Other content types and paths are left alone.
    let id = unique_id("dlp-other");
    let text = format!("mail {EMAIL}");
    let resp = post(&stack, "/public/echo", &id, "text/plain", &text).await;
    assert_eq!(resp.body, text);
    let resp = post(&stack, "/public/other", &id, "application/json", &body).await;
    assert_eq!(resp.body, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_pass_unmodified_and_are_counted() {
    let stack = Stack::start(&config()).await;
    let id = unique_id("dlp-large");
    let body = json!({"email": EMAIL, "pad": "x".repeat(4000)}).to_string();
    let resp = post(&stack, "/public/echo", &id, "application/json", &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, body);
    let (skipped, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_dlp_skipped", WAIT, |v| v >= 1)
        .await;
    assert!(ok, "dlp_skipped = {skipped}");
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.observatory_dlp_rewritten")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_on_pii_stops_a_card_before_the_upstream_gets_it() {
    let stack = Stack::start(&config()).await;
    let id = unique_id("dlp-deny");
    let body = json!({"note": format!("pay with {CARD} please")}).to_string();
    let resp = post(&stack, "/public/notes", &id, "application/json", &body).await;
    let rec = assert_card_denied(&stack, &resp, &id).await;
    assert_common_fields(&rec);
    assert_eq!(u(&rec, "status"), Some(403), "{rec}");
    let (denied, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_pii_denied", WAIT, |v| v >= 1)
        .await;
    assert!(ok, "pii_denied = {denied}");

    // Without a card the held request goes through whole.
    let id = unique_id("dlp-pass");
    let body = json!({"note": format!("mail {EMAIL}")}).to_string();
    let resp = post(&stack, "/public/notes", &id, "application/json", &body).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body, body);
    assert_eq!(
        stack.upstream.request_with_id(&id).unwrap().body_len,
        body.len()
    );
    let rec = stack.collector.wait_for_record(&id).await;
    assert_eq!(s(&rec, "decision"), "allow", "{rec}");
    // Searched for cards alone, which cleared it: its e-mail address is
    // neither searched for nor counted.
    assert_eq!(rec["redactions"], json!({}), "{rec}");

    // A body that says it is compressed is not the text DLP would scan: it
    // passes, counted as one DLP could not scan (the readable card in it is
    // not looked at).
    let id = unique_id("dlp-gzip");
    let body = json!({"note": format!("pay with {CARD} please")}).to_string();
    let url = stack.http_url("/public/notes");
    let resp = send(
        post_with_id(&stack.plain(), &url, &id, "application/json", body.clone())
            .header("content-encoding", "gzip")
            .header(ECHO_HEADER, "1"),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        stack.upstream.request_with_id(&id).unwrap().body_len,
        body.len()
    );
    let (skipped, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_dlp_skipped", WAIT, |v| v >= 1)
        .await;
    assert!(ok, "dlp_skipped = {skipped}");

    // An empty `Content-Encoding` codes nothing: the upstream would read the
    // body as it is, so it is scanned, and this one denied.
    let id = unique_id("dlp-empty-coding");
    let resp = send(
        post_with_id(&stack.plain(), &url, &id, "application/json", body)
            .header("content-encoding", "")
            .header(ECHO_HEADER, "1"),
    )
    .await;
    assert_forbidden(resp.status, &resp.body, &id, "no-cards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_unscanned_refuses_bodies_the_rule_cannot_scan() {
    let stack = Stack::start(&config()).await;
    let url = stack.http_url("/public/strict");
    let note = json!({"note": "see you"}).to_string();
    let large = json!({"note": "x".repeat(4000)}).to_string();
    for (label, body, encoding) in [("gzip", &note, "gzip"), ("large", &large, "identity")] {
        let id = unique_id(&format!("dlp-strict-{label}"));
        let resp = send(
            post_with_id(&stack.plain(), &url, &id, "application/json", body.clone())
                .header("content-encoding", encoding)
                .header(ECHO_HEADER, "1"),
        )
        .await;
        assert_forbidden(resp.status, &resp.body, &id, "strict-cards");
        // Refused at its headers: the upstream saw nothing of it.
        assert!(stack.upstream.request_with_id(&id).is_none(), "{label}");
        let rec = stack.collector.wait_for_record(&id).await;
        assert_eq!(s(&rec, "decision"), "deny", "{rec}");
        assert_eq!(s(&rec, "rule"), "strict-cards", "{rec}");
    }
    let (skipped, ok) = stack
        .envoy
        .wait_stat("wasmcustom.observatory_dlp_skipped", WAIT, |v| v >= 2)
        .await;
    assert!(ok, "dlp_skipped = {skipped}");
    // A body it can scan, without a card, goes through.
    let id = unique_id("dlp-strict-pass");
    let resp = post(&stack, "/public/strict", &id, "application/json", &note).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body, note);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_content_type_line_does_not_take_a_body_out_of_its_rule() {
    let stack = Stack::start(&config()).await;
    let url = stack.http_url("/public/strict");
    let body = json!({"note": format!("pay with {CARD} please")}).to_string();
    let id = unique_id("dlp-two-types");
    let resp = send(
        post_with_id(&stack.plain(), &url, &id, "application/json", body.clone())
            .header("content-type", "text/plain")
            .header(ECHO_HEADER, "1"),
    )
    .await;
    assert_forbidden(resp.status, &resp.body, &id, "strict-cards");
    // Of another type alone, the body is not the rule's.
    let id = unique_id("dlp-text");
    let resp = post(&stack, "/public/strict", &id, "text/plain", &body).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_followed_by_trailers_is_scanned() {
    let stack = Stack::start(&config()).await;
    // A JSON note POSTed over HTTP/2 with a trailer after the body.
    let trailed = |id: String, note: String| {
        let url = stack.http_url("/public/notes");
        async move {
            let body = json!({ "note": note }).to_string();
            let headers = [
                ("x-request-id", id.as_str()),
                ("content-type", "application/json"),
                (ECHO_HEADER, "1"),
            ];
            let resp = post_with_trailers(&url, &headers, &body, &[("x-checksum", "1")]).await;
            (id, body, resp)
        }
    };
    let (id, _, resp) = trailed(unique_id("dlp-trailers"), format!("pay with {CARD}")).await;
    assert_card_denied(&stack, &resp, &id).await;

    // Without a card the held body goes on whole.
    let (id, body, resp) = trailed(unique_id("dlp-trailers-pass"), format!("mail {EMAIL}")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        stack.upstream.request_with_id(&id).unwrap().body_len,
        body.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_under_a_rule_is_not_held() {
    let stack = Stack::start(&config()).await;
    // Under a `denyOnPii` rule (the client's frames) and a `redactResponses`
    // one (the upstream's): each is a body DLP cannot scan.
    for (n, path) in ["/public/notes-ws", "/public/echo-ws"]
        .into_iter()
        .enumerate()
    {
        websocket_echoes(&stack, path).await;
        let (skipped, ok) = stack
            .envoy
            .wait_stat("wasmcustom.observatory_dlp_skipped", WAIT, |v| v > n as u64)
            .await;
        assert!(ok, "dlp_skipped = {skipped}");
    }
}

/// A WebSocket handshake to `path` is answered `101`, and bytes sent then come
/// back from the upstream's echo.
async fn websocket_echoes(stack: &Stack, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let id = unique_id("dlp-ws");
    let authority = format!("127.0.0.1:{}", stack.envoy.http_port);
    let mut conn = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let handshake = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-request-id: {id}\r\n\r\n"
    );
    conn.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Held as a body to scan, these bytes would never reach the upstream.
    let frame = b"frame with 4111-1111-1111-1111";
    conn.write_all(frame).await.unwrap();
    let mut echoed = vec![0u8; frame.len()];
    tokio::time::timeout(WAIT, conn.read_exact(&mut echoed))
        .await
        .expect("the upstream's echo in time")
        .unwrap();
    assert_eq!(echoed, frame, "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_in_utf16_is_scanned_as_its_text() {
    let stack = Stack::start(&config()).await;
    let utf16 =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let id = unique_id("dlp-utf16");
    let body = json!({"note": format!("pay with {CARD} please")}).to_string();
    // With a byte-order mark, as Jackson and Python's `json` accept it.
    let marked = [&[0xFF, 0xFE][..], &utf16(&body)].concat();
    let resp = post(&stack, "/public/notes", &id, "application/json", marked).await;
    assert_card_denied(&stack, &resp, &id).await;

    // A response in UTF-16 (known by its zero bytes here) is rewritten in
    // UTF-16; the echo upstream sends the request body back.
    let id = unique_id("dlp-utf16-echo");
    let mail = json!({"customer": {"email": EMAIL}}).to_string();
    let resp = post(
        &stack,
        "/public/echo",
        &id,
        "application/json",
        utf16(&mail),
    )
    .await;
    assert_eq!(resp.status, 200);
    let redacted = json!({"customer": {"email": "[REDACTED:EMAIL]"}}).to_string();
    assert_eq!(resp.body.as_bytes(), utf16(&redacted).as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_says_upgrade_is_still_scanned() {
    let stack = Stack::start(&config()).await;
    // Envoy forwards it as an upgrade with its `Content-Length`: an upstream
    // that does not upgrade reads the body as a POST's. Envoy never says such
    // a body ended; it is whole at its length.
    let id = unique_id("dlp-post-upgrade");
    let body = json!({"note": format!("pay with {CARD} please")}).to_string();
    let url = stack.http_url("/public/notes");
    let resp = send(
        post_with_id(&stack.plain(), &url, &id, "application/json", body)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header(ECHO_HEADER, "1"),
    )
    .await;
    assert_card_denied(&stack, &resp, &id).await;
}
