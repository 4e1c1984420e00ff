//! A stand-in for Grafana Loki on 127.0.0.1:0 that decodes exactly what
//! Loki decodes and answers as Loki 3 does with its default limits:
//!
//! - `POST /loki/api/v1/push`: `Content-Encoding` gzip, deflate or none,
//!   then JSON for `Content-Type: application/json` (timestamps must be
//!   strings), else a raw snappy block of a `logproto.PushRequest`
//!   ([`wire`]); labels read as Loki reads them ([`labels`]). A body it
//!   cannot read: 400 (`snappy: corrupt input`, `couldn't parse labels: …`);
//!   over 100 MiB decompressed: 413; no streams: 422.
//! - 204 with an empty body on success; an exact duplicate (stream,
//!   timestamp, line) is dropped silently.
//! - Loki's checks, with its messages ([`limits`]): entries older than a
//!   week (or [`FakeLoki::reject_older_than`]) or over 10 minutes ahead,
//!   lines over 256 KiB, structured metadata over 64 KiB or 128 entries,
//!   over 15 label names, names over 1 KiB or values over 2 KiB, repeated
//!   names. A partial 400: the rest IS stored, the body groups the messages
//!   (`N errors like: entry for stream '{…, service_name="…", …}' has
//!   timestamp too old: …`).
//! - The ingester's out-of-order window (`max_chunk_age / 2` = 1 h): an
//!   entry more than an hour behind the newest entry of its stream is
//!   ignored with the ingester's message (`entry with timestamp … ignored,
//!   reason: 'entry too far behind, …'`), a partial 400 as well that wins
//!   over the distributor's and speaks of the last stream only.
//! - `GET /ready`: 200 `ready`, or 503 after `set_ready(false)`.
//! - `GET /loki/api/v1/query_range` over what is stored ([`query`]): by
//!   timestamp, ties by stream labels, at most `limit` (≤ 5000) entries
//!   cut wherever the limit falls, `direction`, at most 721 h long. With
//!   [`FakeLoki::hide_unflushed`], old entries stored recently are not
//!   found until "flushed", as Loki's queriers ask its ingesters only about
//!   recent times (`query_ingesters_within`).
//! - Tampering, as someone with access to Loki's storage could
//!   ([`tamper`]): entries removed or rewritten in place, and pushes of
//!   forged lines through the API ([`FakeLoki::push_json`]).
//! - With [`FakeLoki::require_tenant`], a request without `X-Scope-OrgID`
//!   is a 401 (`no org id`), as with `auth_enabled`; tenants are not kept
//!   apart.
//! - Scripted answers for the next requests: 429 (no `Retry-After`, as Loki),
//!   429 with `Retry-After`, 500 (`empty ring`), any status, no answer at all,
//!   or storing the request and then not answering (a lost answer).
//!
//! Not modelled: rate and stream-count limits (script a 429), stream
//! sharding, `detected_level`, OTLP logs. [`FakeLoki::counting`] answers
//! the same but keeps only counts, for a load that would not fit in memory.

mod labels;
mod limits;
mod push;
mod query;
mod tamper;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::PrivatePkcs8KeyDer;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use limits::{check_entry, check_labels, too_far_behind, within_window, Grouped, Window};
use push::{Decoded, Kept, Refusal, Store};
pub use push::{Labels, LokiLine, Pushed, PushedStream};

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

/// What the stand-in keeps of what it is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Keep {
    /// Every request and every stored entry: what tests look at.
    #[default]
    Everything,
    /// Counts only.
    Counts,
}

#[derive(Default)]
struct State {
    keep: Keep,
    script: VecDeque<Reply>,
    requests: Vec<Pushed>,
    /// Entries in the pushes whose body decoded, stored or not.
    entries_received: u64,
    store: Store,
    /// Labels → newest timestamp stored: the ingester's out-of-order window.
    newest: BTreeMap<Labels, i64>,
    reject_older_than: Option<i64>,
    /// `GET /ready` answers 503, as Loki does while starting.
    not_ready: bool,
    /// A request without `X-Scope-OrgID` is refused.
    tenant_required: bool,
    /// Entries stored so far: the order of pushes.
    pushed: u64,
    /// What queries do not find yet ([`FakeLoki::hide_unflushed`]).
    unflushed: Option<query::Unflushed>,
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
        FakeLoki::serve(None, Keep::Everything).await
    }

    /// Answers as [`FakeLoki::start`] does, but keeps no request and no
    /// entry, only [`FakeLoki::entries_received`]; duplicates are not
    /// recognised. For loads that would not fit in memory, at about the
    /// cost of decoding them.
    pub async fn counting() -> FakeLoki {
        FakeLoki::serve(None, Keep::Counts).await
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
        FakeLoki::serve(Some(TlsAcceptor::from(Arc::new(config))), Keep::Everything).await
    }

    async fn serve(tls: Option<TlsAcceptor>, keep: Keep) -> FakeLoki {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(Mutex::new(State {
            keep,
            ..State::default()
        }));
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

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Refuses entries older than this instead of a week before now (Loki's
    /// `reject_old_samples_max_age`).
    pub fn reject_older_than(&self, ts_nanos: i64) {
        self.state.lock().unwrap().reject_older_than = Some(ts_nanos);
    }

    /// Refuses requests without `X-Scope-OrgID`, as Loki with
    /// `auth_enabled: true` does.
    pub fn require_tenant(&self) {
        self.state.lock().unwrap().tenant_required = true;
    }

    /// Makes `GET /ready` answer 503 (`false`) or 200 (`true`).
    pub fn set_ready(&self, ready: bool) {
        self.state.lock().unwrap().not_ready = !ready;
    }

    pub fn requests(&self) -> Vec<Pushed> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Entries in every push whose body decoded, whatever the answer.
    pub fn entries_received(&self) -> u64 {
        self.state.lock().unwrap().entries_received
    }

    /// Every stored entry per stream, in timestamp order; a stream by its
    /// labels as pushed (without empty values, and without the
    /// `service_name` Loki adds).
    pub fn stored(&self) -> BTreeMap<Labels, Vec<LokiLine>> {
        let state = self.state.lock().unwrap();
        state
            .store
            .iter()
            .map(|(labels, entries)| {
                let entries = entries
                    .iter()
                    .map(|((ts_nanos, line), kept)| LokiLine {
                        ts_nanos: *ts_nanos,
                        line: line.clone(),
                        metadata: kept.metadata.clone(),
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
    let path = req.uri().path();
    let get = req.method() == hyper::Method::GET;
    if get && path == "/ready" {
        return match state.lock().unwrap().not_ready {
            false => answer(200, "ready\n"),
            true => answer(
                503,
                "Ingester not ready: waiting for 15s after being ready\n",
            ),
        };
    }
    let known = matches!(path, "/loki/api/v1/query_range" | "/loki/api/v1/push");
    if !known {
        return answer(404, "404 page not found\n");
    }
    let tenant = match state.lock().unwrap().tenant_required {
        false => "fake".to_owned(),
        true if pushed.tenant.is_empty() => return answer(401, "no org id\n"),
        true => pushed.tenant.clone(),
    };
    if path == "/loki/api/v1/query_range" {
        let query = req.uri().query().unwrap_or_default();
        let result = {
            let state = state.lock().unwrap();
            query::query_range(query, &state.store, state.unflushed, now())
        };
        return match result {
            Ok(body) => {
                let mut response = answer(200, &body.to_string());
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                response
            }
            Err(message) => answer(400, &format!("{message}\n")),
        };
    }
    if req.method() != hyper::Method::POST {
        return answer(405, "");
    }
    let Ok(body) = req.into_body().collect().await else {
        return answer(400, "cannot read body\n");
    };
    let decoded = wire::decode(
        &pushed.content_type,
        &pushed.content_encoding,
        &body.to_bytes(),
    );
    let scripted = {
        let mut state = state.lock().unwrap();
        if let Ok(streams) = &decoded {
            let entries: usize = streams.iter().map(|s| s.entries.len()).sum();
            state.entries_received += entries as u64;
        }
        if state.keep == Keep::Everything {
            if let Ok(streams) = &decoded {
                pushed.streams = streams.iter().map(Decoded::pushed).collect();
            }
            state.requests.push(pushed);
        }
        state.script.pop_front()
    };
    match scripted {
        None => {}
        Some(Reply::TooManyRequests) => {
            return answer(
                429,
                &format!(
                    "Ingestion rate limit exceeded for user {tenant} (limit: 4194304 bytes/sec) while \
                     attempting to ingest '1' lines totaling '100' bytes, reduce log volume or contact \
                     your Loki administrator to see if the limit can be increased\n"
                ),
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
                let _ = push(&mut state.lock().unwrap(), &tenant, streams);
            }
            std::future::pending().await
        }
    }
    let outcome = decoded.and_then(|streams| push(&mut state.lock().unwrap(), &tenant, &streams));
    match outcome {
        Ok(()) => answer(204, ""),
        Err(refusal) => answer(refusal.status, &format!("{}\n", refusal.message)),
    }
}

/// A decoded push, through Loki's distributor and ingester: what they
/// accept is stored, the answer is theirs. The ingester's error (about the
/// last stream it was sent, as `instance.Push` returns) comes before the
/// distributor's, which is partial: the rest IS stored.
fn push(state: &mut State, tenant: &str, streams: &[Decoded]) -> Result<(), Refusal> {
    if streams.is_empty() {
        return Err(Refusal {
            status: 422,
            message: "error at least one valid stream is required for ingestion".into(),
        });
    }
    let window = Window::at(now(), state.reject_older_than);
    let mut errors = Grouped::default();
    let mut accepted = Vec::new();
    for stream in streams.iter().filter(|s| !s.entries.is_empty()) {
        let labels = match check_labels(stream) {
            Ok(labels) => labels,
            Err(message) => {
                errors.add(message);
                continue;
            }
        };
        let mut valid = Vec::new();
        for entry in &stream.entries {
            match check_entry(&window, &labels.rendering, entry) {
                Ok(()) => valid.push(entry),
                Err(message) => errors.add(message),
            }
        }
        if !valid.is_empty() {
            accepted.push((labels, valid));
        }
    }
    let mut ingester = None;
    for (labels, entries) in accepted {
        let total = entries.len();
        let (kept, ignored) = within_window(&mut state.newest, &labels.labels, entries);
        store(state, &labels.labels, kept);
        ingester = (!ignored.is_empty())
            .then(|| too_far_behind(tenant, &labels.rendering, &ignored, total));
    }
    match ingester.or_else(|| errors.message()) {
        Some(message) => Err(Refusal::bad_request(message)),
        None => Ok(()),
    }
}

/// Keeps `entries` of the stream `labels` (with [`Keep::Everything`]).
fn store(state: &mut State, labels: &Labels, entries: Vec<&LokiLine>) {
    if state.keep == Keep::Counts {
        return;
    }
    let stored_at = now();
    for e in entries {
        state.pushed += 1;
        let order = state.pushed;
        // (stream, ts, line) already there: dropped, as Loki does.
        state
            .store
            .entry(labels.clone())
            .or_default()
            .entry((e.ts_nanos, e.line.clone()))
            .or_insert_with(|| Kept {
                metadata: e.metadata.clone(),
                stored_at,
                order,
            });
    }
}

fn now() -> i64 {
    observatory_proto::json::unix_nanos(std::time::SystemTime::now())
}

fn answer(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}
