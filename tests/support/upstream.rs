//! The upstream service behind Envoy: an HTTP/1.1 server on 127.0.0.1 that answers
//! `200 upstream ok\n` (or, with [`ECHO_HEADER`], the request body) and records every
//! request it receives (also a webhook receiver). A WebSocket handshake (a GET with
//! `Upgrade: websocket`) is answered `101` and the connection then echoes what it
//! receives.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::UPSTREAM_BODY;

/// A request carrying this header is answered with its own body and `Content-Type`.
pub const ECHO_HEADER: &str = "x-echo-body";

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Request target as received (path plus query string).
    pub path: String,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First header value named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Recording upstream; runs on its own thread + runtime, stopped on Drop.
pub struct Upstream {
    pub port: u16,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("upstream addr").port();
        let requests: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
        let (tx, rx) = oneshot::channel::<()>();
        let reqs = requests.clone();
        let thread = std::thread::Builder::new()
            .name(format!("upstream-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("upstream runtime");
                rt.block_on(serve(listener, reqs, rx));
            })
            .expect("spawn upstream thread");
        Upstream {
            port,
            requests,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests whose header `name` equals `value` (e.g. `x-request-id`).
    pub fn requests_with_header(&self, name: &str, value: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.header(name) == Some(value))
            .collect()
    }

    /// The request carrying `x-request-id: id`, if it reached the upstream.
    pub fn request_with_id(&self, id: &str) -> Option<RecordedRequest> {
        self.requests_with_header("x-request-id", id)
            .into_iter()
            .next()
    }

    /// Requests whose target starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("upstream: cannot use listener: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let reqs = requests.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let reqs = reqs.clone();
                        async move { Ok::<_, Infallible>(handle(req, reqs).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A handshake is a GET (RFC 6455); another method's body is read as such.
    let websocket = req.method() == hyper::Method::GET
        && req
            .headers()
            .get(hyper::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if websocket {
        if let Ok(mut r) = requests.lock() {
            r.push(RecordedRequest {
                method,
                path,
                headers,
                body_len: 0,
                body: Vec::new(),
            });
        }
        tokio::spawn(echo_upgraded(hyper::upgrade::on(&mut req)));
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
        for (name, value) in [("connection", "upgrade"), ("upgrade", "websocket")] {
            resp.headers_mut()
                .insert(name, hyper::header::HeaderValue::from_static(value));
        }
        return resp;
    }
    let echo = req.headers().contains_key(ECHO_HEADER);
    let content_type = req.headers().get(hyper::header::CONTENT_TYPE).cloned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let echoed = echo.then(|| Bytes::from(body.clone()));
    if let Ok(mut r) = requests.lock() {
        r.push(RecordedRequest {
            method,
            path,
            headers,
            body_len: body.len(),
            body,
        });
    }
    if let Some(body) = echoed {
        // The request body back, with its type and a Content-Length.
        let mut resp = Response::new(Full::new(body));
        if let Some(ct) = content_type {
            resp.headers_mut().insert(hyper::header::CONTENT_TYPE, ct);
        }
        return resp;
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(UPSTREAM_BODY.as_bytes())));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    resp.headers_mut()
        .insert("x-upstream", hyper::header::HeaderValue::from_static("e2e"));
    resp
}

/// Echoes what an upgraded connection receives until it closes.
async fn echo_upgraded(upgrade: hyper::upgrade::OnUpgrade) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(upgraded) = upgrade.await else { return };
    let mut io = TokioIo::new(upgraded);
    let mut buf = [0u8; 4096];
    while let Ok(n) = io.read(&mut buf).await {
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            return;
        };
        if io.write_all(chunk).await.is_err() {
            return;
        }
    }
}
