//! A stand-in for Grafana Loki's push endpoint on 127.0.0.1:0 that decodes
//! exactly what Loki decodes and answers as Loki 3.7 does:
//!
//! - `POST /loki/api/v1/push`; `Content-Type: application/json` is the JSON
//!   form (`Content-Encoding: gzip|deflate` allowed, timestamps must be
//!   strings), anything else a raw snappy block of a `logproto.PushRequest`.
//! - 204 with an empty body on success; an exact duplicate (stream,
//!   timestamp, line) is dropped silently.
//! - With `reject_older_than`, older entries are refused like Loki's
//!   `reject_old_samples`: a partial 400 (the rest IS stored) whose body
//!   groups Loki's messages (`N errors like: entry for stream '{…,
//!   service_name="…", …}' has timestamp too old: …`). Lines over 256 KiB
//!   are refused the same way (`Max entry size …`).
//! - Out-of-order window (the ingester's, `max_chunk_age / 2` = 1 h): an
//!   entry more than an hour behind the newest entry of its stream is
//!   refused with the ingester's message (`entry with timestamp … ignored,
//!   reason: 'entry too far behind, …'`), a partial 400 as well.
//! - `GET /ready`: 200 `ready`, or 503 after `set_ready(false)`.
//! - `GET /loki/api/v1/query_range` returns what is stored, as Loki does.
//! - Undecodable bodies: 400 (`snappy: corrupt input`, …); no streams: 422.
//! - Scripted answers for the next requests: 429 (no `Retry-After`, as Loki),
//!   429 with `Retry-After`, 500 (`empty ring`), any status, no answer at all,
//!   or storing the request and then not answering (a lost answer).
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use observatory_collector::sink::loki::config::LokiConfig;
use observatory_proto::loki::PushRequest;
use prost::Message as _;
use rustls::pki_types::PrivatePkcs8KeyDer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

const MAX_LINE_BYTES: usize = 256 * 1024;
/// The ingester's out-of-order window: `max_chunk_age` (2 h) / 2.
const OUT_OF_ORDER_WINDOW_NANOS: i64 = 3_600_000_000_000;
/// Loki's default `discover_service_name` list, in order.
const SERVICE_NAME_FROM: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// A scripted answer, used for the next request instead of processing it.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 429 without Retry-After; nothing stored (Loki's tenant rate limit).
    TooManyRequests,
    /// 429 with `Retry-After: <seconds>` (a proxy in front of Loki).
    TooManyRequestsRetryAfter(u64),
    /// 500 `empty ring` (Loki just started); nothing stored.
    ServerError,
    /// This status and body; nothing stored.
    Status(u16, String),
    /// Never answers; nothing stored.
    Hang,
    /// Stores the request, then never answers: the answer is lost.
    StoreThenHang,
}

/// One entry as Loki keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LokiLine {
    pub ts_nanos: i64,
    pub line: String,
    pub metadata: BTreeMap<String, String>,
}

/// One stream of one request, as decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedStream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<LokiLine>,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub content_type: String,
    pub content_encoding: String,
    pub tenant: String,
    pub authorization: String,
    /// Empty when the body could not be decoded.
    pub streams: Vec<PushedStream>,
}

/// Labels, the same as [`PushedStream::labels`].
type Labels = BTreeMap<String, String>;

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Pushed>,
    /// Labels → (ts, line) → metadata: what a query would return.
    store: BTreeMap<Labels, BTreeMap<(i64, String), Labels>>,
    /// Labels → newest timestamp stored: the ingester's out-of-order window.
    newest: BTreeMap<Labels, i64>,
    reject_older_than: Option<i64>,
    /// `GET /ready` answers 503, as Loki does while starting.
    not_ready: bool,
}

pub struct FakeLoki {
    url: url::Url,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
    tls: Option<TlsAcceptor>,
}

/// The accept loop; aborting it ends every connection too (its JoinSet).
fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<Mutex<State>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let state = state.clone();
            let tls = tls.clone();
            connections.spawn(async move {
                match tls {
                    None => serve_http(tcp, state).await,
                    // A refused handshake is the client's business.
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(tcp).await {
                            serve_http(stream, state).await;
                        }
                    }
                }
            });
            // Reaps finished connections so the set stays small.
            while connections.try_join_next().is_some() {}
        }
    })
}

impl Drop for FakeLoki {
    fn drop(&mut self) {
        // Ends the accept loop and, with its JoinSet, every connection.
        self.server.abort();
    }
}

impl FakeLoki {
    pub async fn start() -> FakeLoki {
        FakeLoki::serve(None).await
    }

    /// Serves HTTPS with `identity` (a certificate for 127.0.0.1).
    pub async fn start_tls(identity: &rcgen::CertifiedKey<rcgen::KeyPair>) -> FakeLoki {
        let key = PrivatePkcs8KeyDer::from(identity.signing_key.serialize_der());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.der().clone()], key.into())
        .unwrap();
        FakeLoki::serve(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(tls: Option<TlsAcceptor>) -> FakeLoki {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(Mutex::new(State::default()));
        let server = accept(listener, tls.clone(), state.clone());
        FakeLoki {
            url: format!("{scheme}://{addr}").parse().unwrap(),
            state,
            server,
            tls,
        }
    }

    /// Goes down: the port refuses connections and open ones are cut.
    pub fn pause(&self) {
        self.server.abort();
    }

    /// Comes back on the same port, with everything stored so far.
    pub async fn resume(&mut self) {
        let addr = format!(
            "{}:{}",
            self.url.host_str().unwrap(),
            self.url.port().unwrap()
        );
        let mut listener = TcpListener::bind(&addr).await;
        for _ in 0..100 {
            if listener.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            listener = TcpListener::bind(&addr).await;
        }
        self.server = accept(listener.unwrap(), self.tls.clone(), self.state.clone());
    }

    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// A sink config for this Loki with test-sized waits.
    pub fn config(&self) -> LokiConfig {
        LokiConfig {
            url: Some(self.url()),
            batch_max_wait_ms: 5,
            min_backoff_ms: 10.try_into().unwrap(),
            max_backoff_ms: 50.try_into().unwrap(),
            timeout_ms: 5_000.try_into().unwrap(),
            ..LokiConfig::default()
        }
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Refuse entries older than this, like Loki's `reject_old_samples`.
    pub fn reject_older_than(&self, ts_nanos: i64) {
        self.state.lock().unwrap().reject_older_than = Some(ts_nanos);
    }

    /// Makes `GET /ready` answer 503 (`false`) or 200 (`true`).
    pub fn set_ready(&self, ready: bool) {
        self.state.lock().unwrap().not_ready = !ready;
    }

    pub fn requests(&self) -> Vec<Pushed> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Every stored entry per stream, in timestamp order (as a query
    /// returns them).
    /// Lines without their chain fields (`seq`, `chain`).
    pub fn stored(&self) -> BTreeMap<BTreeMap<String, String>, Vec<LokiLine>> {
        let state = self.state.lock().unwrap();
        state
            .store
            .iter()
            .map(|(labels, entries)| {
                let entries = entries
                    .iter()
                    .map(|((ts_nanos, line), metadata)| LokiLine {
                        ts_nanos: *ts_nanos,
                        line: super::canonical(line),
                        metadata: metadata.clone(),
                    })
                    .collect();
                (labels.clone(), entries)
            })
            .collect()
    }

    /// Every stored line, across streams, in timestamp order.
    pub fn stored_lines(&self) -> Vec<String> {
        let mut all: Vec<LokiLine> = self.stored().into_values().flatten().collect();
        all.sort();
        all.into_iter().map(|e| e.line).collect()
    }
}

async fn serve_http(
    io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    state: Arc<Mutex<State>>,
) {
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(req, state).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut pushed = Pushed {
        content_type: header("content-type"),
        content_encoding: header("content-encoding"),
        tenant: header("x-scope-orgid"),
        authorization: header("authorization"),
        streams: Vec::new(),
    };
    if req.method() == hyper::Method::GET && req.uri().path() == "/loki/api/v1/query_range" {
        return query_range(
            req.uri().query().unwrap_or_default(),
            &state.lock().unwrap(),
        );
    }
    if req.method() == hyper::Method::GET && req.uri().path() == "/ready" {
        return match state.lock().unwrap().not_ready {
            false => answer(200, "ready\n"),
            true => answer(
                503,
                "Ingester not ready: waiting for 15s after being ready\n",
            ),
        };
    }
    if req.method() != hyper::Method::POST || req.uri().path() != "/loki/api/v1/push" {
        return answer(404, "404 page not found\n");
    }
    let Ok(body) = req.into_body().collect().await else {
        return answer(400, "cannot read body\n");
    };
    let decoded = decode(
        &pushed.content_type,
        &pushed.content_encoding,
        &body.to_bytes(),
    );
    if let Ok(streams) = &decoded {
        pushed.streams = streams.clone();
    }
    let scripted = {
        let mut state = state.lock().unwrap();
        state.requests.push(pushed.clone());
        state.script.pop_front()
    };
    match scripted {
        None => {}
        Some(Reply::TooManyRequests) => {
            return answer(
                429,
                "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting \
                 to ingest '1' lines totaling '100' bytes, reduce log volume or contact your Loki \
                 administrator to see if the limit can be increased\n",
            )
        }
        Some(Reply::TooManyRequestsRetryAfter(seconds)) => {
            let mut response = answer(429, "slow down\n");
            response
                .headers_mut()
                .insert("retry-after", seconds.to_string().parse().unwrap());
            return response;
        }
        Some(Reply::ServerError) => return answer(500, "empty ring\n"),
        Some(Reply::Status(status, body)) => return answer(status, &body),
        Some(Reply::Hang) => std::future::pending().await,
        Some(Reply::StoreThenHang) => {
            if let Ok(streams) = &decoded {
                let mut state = state.lock().unwrap();
                for stream in streams {
                    store(&mut state, stream, stream.entries.iter());
                }
            }
            std::future::pending().await
        }
    }
    let streams = match decoded {
        Ok(streams) => streams,
        Err(message) => return answer(400, &format!("{message}\n")),
    };
    if streams.is_empty() {
        return answer(
            422,
            "error at least one valid stream is required for ingestion\n",
        );
    }
    let mut state = state.lock().unwrap();
    let mut errors: Vec<(String, usize)> = Vec::new();
    let mut behind = Vec::new();
    for stream in &streams {
        let mut valid = Vec::new();
        for entry in &stream.entries {
            match validate(&state, &stream.labels, entry) {
                Ok(()) => valid.push(entry),
                Err(message) => match errors.iter_mut().find(|(m, _)| *m == message) {
                    Some((_, n)) => *n += 1,
                    None => errors.push((message, 1)),
                },
            }
        }
        let (kept, ignored) = within_window(&mut state, &stream.labels, valid);
        store(&mut state, stream, kept.into_iter());
        if !ignored.is_empty() {
            behind.push(too_far_behind(
                &stream.labels,
                &ignored,
                stream.entries.len(),
            ));
        }
    }
    if errors.is_empty() && behind.is_empty() {
        return answer(204, "");
    }
    if errors.is_empty() {
        return answer(400, &behind.join("\n"));
    }
    // util.GroupedErrors: "N errors like: " unless there is a single error.
    let grouped: Vec<String> = errors
        .iter()
        .map(|(message, n)| {
            if errors.len() > 1 || *n > 1 {
                format!("{n} errors like: {message}")
            } else {
                message.clone()
            }
        })
        .collect();
    answer(400, &format!("{}\n", grouped.join("; ")))
}

fn store<'a>(
    state: &mut State,
    stream: &PushedStream,
    entries: impl Iterator<Item = &'a LokiLine>,
) {
    let kept = state.store.entry(stream.labels.clone()).or_default();
    for e in entries {
        // (stream, ts, line) already there: dropped, as Loki does.
        kept.entry((e.ts_nanos, e.line.clone()))
            .or_insert_with(|| e.metadata.clone());
    }
}

/// The ingester's out-of-order check, entry by entry in push order: what is
/// more than the window behind the stream's newest entry is ignored.
fn within_window<'a>(
    state: &mut State,
    labels: &Labels,
    entries: Vec<&'a LokiLine>,
) -> (Vec<&'a LokiLine>, Vec<(&'a LokiLine, i64)>) {
    let newest = state.newest.entry(labels.clone()).or_insert(i64::MIN);
    let (mut kept, mut ignored) = (Vec::new(), Vec::new());
    for e in entries {
        let oldest = newest.saturating_sub(OUT_OF_ORDER_WINDOW_NANOS);
        if e.ts_nanos < oldest {
            ignored.push((e, oldest));
        } else {
            *newest = (*newest).max(e.ts_nanos);
            kept.push(e);
        }
    }
    (kept, ignored)
}

/// The ingester's error for one stream (`pkg/ingester/stream.go`).
fn too_far_behind(labels: &Labels, ignored: &[(&LokiLine, i64)], total: usize) -> String {
    let mut text = String::new();
    for (e, oldest) in ignored {
        let ts = go_rfc3339(e.ts_nanos);
        text.push_str(&format!(
            "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {ts}, oldest acceptable timestamp is: {}',\n",
            go_time_string(e.ts_nanos),
            go_rfc3339(*oldest),
        ));
    }
    text.push_str(&format!(
        "total ignored: {} out of {total} for stream: {}",
        ignored.len(),
        loki_rendering(labels)
    ));
    text
}

/// Go's `time.Time.String()` in UTC, to the second (`2022-10-10 13:25:44 +0000 UTC`).
fn go_time_string(ts_nanos: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ts_nanos.div_euclid(1_000_000_000)).unwrap();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Loki's distributor checks, with its messages (`pkg/validation`).
fn validate(state: &State, labels: &BTreeMap<String, String>, e: &LokiLine) -> Result<(), String> {
    let stream = loki_rendering(labels);
    if let Some(oldest) = state.reject_older_than {
        if e.ts_nanos < oldest {
            return Err(format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                go_rfc3339(e.ts_nanos),
                go_rfc3339(oldest)
            ));
        }
    }
    if e.line.len() > MAX_LINE_BYTES {
        return Err(format!(
            "Max entry size '{MAX_LINE_BYTES}' bytes exceeded for stream '{stream}' while adding an entry with length '{}' bytes",
            e.line.len()
        ));
    }
    Ok(())
}

/// Go's `t.Format(time.RFC3339)`: whole seconds, UTC.
fn go_rfc3339(ts_nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts_nanos.div_euclid(1_000_000_000))
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// The stream as Loki prints it: with the `service_name` it adds, sorted,
/// `name="value"` joined by ", ".
fn loki_rendering(labels: &BTreeMap<String, String>) -> String {
    let mut labels = labels.clone();
    if !labels.contains_key("service_name") {
        let service = SERVICE_NAME_FROM
            .iter()
            .find_map(|name| labels.get(*name))
            .cloned()
            .unwrap_or_else(|| "unknown_service".into());
        labels.insert("service_name".into(), service);
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(n, v)| format!("{n}={}", serde_json::Value::from(v.as_str())))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// `query_range` as Loki answers it for `{job="observatory"}` with an
/// optional `| proxy_id="…"` filter: entries in [start, end), oldest first
/// (`direction=forward`), at most `limit`, grouped by stream.
fn query_range(query: &str, state: &State) -> Response<Full<Bytes>> {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let number = |name: &str| params.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (number("start"), number("end")) else {
        return answer(400, "start and end are required\n");
    };
    let limit = number("limit").unwrap_or(100) as usize;
    let proxy = params
        .get("query")
        .and_then(|q| q.split_once("proxy_id=\""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(proxy, _)| proxy.to_owned());
    let mut entries: Vec<(i64, &Labels, &String)> = state
        .store
        .iter()
        .flat_map(|(labels, entries)| {
            entries
                .iter()
                .filter(|((ts, _), metadata)| {
                    (start..end).contains(ts)
                        && proxy
                            .as_ref()
                            .is_none_or(|p| metadata.get("proxy_id") == Some(p))
                })
                .map(move |((ts, line), _)| (*ts, labels, line))
        })
        .collect();
    entries.sort_by_key(|(ts, _, _)| *ts);
    entries.truncate(limit);
    let mut streams: BTreeMap<&Labels, Vec<(String, &String)>> = BTreeMap::new();
    for (ts, labels, line) in entries {
        streams
            .entry(labels)
            .or_default()
            .push((ts.to_string(), line));
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(labels, values)| serde_json::json!({"stream": labels, "values": values}))
        .collect();
    let body = serde_json::json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result},
    });
    let mut response = answer(200, &body.to_string());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn answer(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

fn decode(content_type: &str, encoding: &str, body: &[u8]) -> Result<Vec<PushedStream>, String> {
    if content_type == "application/json" {
        let json = match encoding {
            "" => body.to_vec(),
            "gzip" => read_all(flate2::read::GzDecoder::new(body))?,
            "deflate" => read_all(flate2::read::ZlibDecoder::new(body))?,
            other => return Err(format!("unsupported Content-Encoding {other}")),
        };
        return decode_json(&json);
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|_| "snappy: corrupt input".to_owned())?;
    let push = PushRequest::decode(raw.as_slice()).map_err(|e| format!("proto: {e}"))?;
    push.streams
        .into_iter()
        .map(|s| {
            Ok(PushedStream {
                labels: parse_labels(&s.labels)?,
                entries: s
                    .entries
                    .into_iter()
                    .map(|e| {
                        let ts = e.timestamp.unwrap_or_default();
                        LokiLine {
                            ts_nanos: ts.seconds * 1_000_000_000 + i64::from(ts.nanos),
                            line: e.line,
                            metadata: e
                                .structured_metadata
                                .into_iter()
                                .map(|p| (p.name, p.value))
                                .collect(),
                        }
                    })
                    .collect(),
            })
        })
        .collect()
}

fn read_all(mut reader: impl std::io::Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode_json(json: &[u8]) -> Result<Vec<PushedStream>, String> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let streams = value["streams"].as_array().ok_or("no streams array")?;
    streams
        .iter()
        .map(|s| {
            let labels = s["stream"]
                .as_object()
                .ok_or("no stream object")?
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        v.as_str().ok_or("label not a string")?.to_owned(),
                    ))
                })
                .collect::<Result<_, String>>()?;
            let entries = s["values"]
                .as_array()
                .ok_or("no values array")?
                .iter()
                .map(|v| {
                    let ts = v[0]
                        .as_str()
                        .ok_or("timestamp must be a string of unix nanoseconds")?;
                    let metadata = match v.get(2) {
                        None => BTreeMap::new(),
                        Some(m) => m
                            .as_object()
                            .ok_or("metadata must be an object")?
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect(),
                    };
                    Ok(LokiLine {
                        ts_nanos: ts.parse().map_err(|_| format!("bad timestamp {ts}"))?,
                        line: v[1].as_str().ok_or("line must be a string")?.to_owned(),
                        metadata,
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(PushedStream { labels, entries })
        })
        .collect()
}

/// `{a="b", c="d"}` with JSON-compatible escapes (what the sink writes).
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("couldn't parse labels: {text}"))?;
    // Re-read as a JSON object: `a="b", c="d"` → `{"a":"b","c":"d"}`.
    let mut json = String::from("{");
    let mut rest = inner;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or("couldn't parse labels")?;
        let mut end = 1;
        let bytes = after.as_bytes();
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&format!("\"{}\":{}", name.trim(), &after[..=end]));
        rest = after[end + 1..].trim_start_matches([',', ' ']);
    }
    json.push('}');
    serde_json::from_str(&json).map_err(|e| format!("couldn't parse labels: {e}"))
}

/// Waits (bounded) until `condition` holds.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
