//! The admin HTTP server (HTTP/1.1): `GET /metrics` (OpenMetrics text),
//! `/healthz` (200 while the process serves) and `/readyz` (200 when every
//! readiness check passes, else 503 naming the failed ones).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::health::{readiness, ReadyCheck};
use super::Telemetry;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Bound, not yet serving (so that port 0 can be learnt first).
pub struct Admin {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    telemetry: Arc<Telemetry>,
    checks: Vec<Arc<dyn ReadyCheck>>,
}

impl Admin {
    pub async fn bind(
        addr: SocketAddr,
        telemetry: Arc<Telemetry>,
        checks: Vec<Arc<dyn ReadyCheck>>,
    ) -> std::io::Result<Admin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Admin {
            listener,
            addr,
            state: Arc::new(State { telemetry, checks }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers until `stop` is cancelled; then drops open connections.
    pub async fn serve(self, stop: CancellationToken) {
        info!(
            "telemetry at http://{}/metrics (/healthz, /readyz)",
            self.addr
        );
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = self.listener.accept() => accepted,
                // Reaps finished connections so the set stays small.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    debug!("admin accept failed: {e}");
                    continue;
                }
            };
            let state = self.state.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.answer(req).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!("admin connection ended: {e}");
                }
            });
        }
        connections.shutdown().await;
    }
}

impl State {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
        }
        match req.uri().path() {
            "/metrics" => respond(StatusCode::OK, OPENMETRICS, self.telemetry.encode()),
            "/healthz" => respond(StatusCode::OK, TEXT, "ok\n".into()),
            "/readyz" => {
                let mut ready = true;
                let mut body = String::new();
                for (name, result) in readiness(&self.checks).await {
                    match result {
                        Ok(()) => body.push_str(&format!("{name}: ok\n")),
                        Err(why) => {
                            ready = false;
                            body.push_str(&format!("{name}: {why}\n"));
                        }
                    }
                }
                let status = match ready {
                    true => StatusCode::OK,
                    false => StatusCode::SERVICE_UNAVAILABLE,
                };
                respond(status, TEXT, body)
            }
            _ => respond(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
