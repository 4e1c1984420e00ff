//! An OTLP logs receiver on 127.0.0.1:0, over gRPC (`LogsService/Export`)
//! or HTTP (`POST /v1/logs`, protobuf body), that decodes exactly what an
//! OpenTelemetry Collector decodes, keeps what it accepts and answers as
//! scripted: each request takes the next [`Reply`], then every one is
//! accepted.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

/// The answer to one export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Keeps the request (the default once the script is done).
    Accept,
    /// Keeps it but says `n` records were refused (partial success).
    Partial(i64),
    /// Bad data: gRPC `INVALID_ARGUMENT`, HTTP 400. Not kept.
    Refuse,
    /// Down for now: gRPC `UNAVAILABLE`, HTTP 503. Not kept.
    Unavailable,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    kept: Vec<ExportLogsServiceRequest>,
    /// Every request's headers / metadata, accepted or not: (name, value).
    headers: Vec<Vec<(String, String)>>,
    requests: usize,
}

impl State {
    fn answer(
        &mut self,
        request: ExportLogsServiceRequest,
        headers: Vec<(String, String)>,
    ) -> Reply {
        self.requests += 1;
        self.headers.push(headers);
        let reply = self.script.pop_front().unwrap_or(Reply::Accept);
        if matches!(reply, Reply::Accept | Reply::Partial(_)) {
            self.kept.push(request);
        }
        reply
    }
}

fn response(reply: Reply) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: match reply {
            Reply::Partial(n) => Some(ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: format!("{n} records too old"),
            }),
            _ => None,
        },
    }
}

pub struct LogsReceiver {
    /// `http://127.0.0.1:PORT`, for `--otlp-logs-endpoint`.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

struct Grpc(Arc<Mutex<State>>);

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let reply = self.0.lock().unwrap().answer(request.into_inner(), headers);
        match reply {
            Reply::Accept | Reply::Partial(_) => Ok(tonic::Response::new(response(reply))),
            Reply::Refuse => Err(tonic::Status::invalid_argument("scripted refusal")),
            Reply::Unavailable => Err(tonic::Status::unavailable("scripted outage")),
        }
    }
}

async fn handle_http(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Response<Full<Bytes>> {
    let reply = |status: u16, body: Vec<u8>, content_type: &str| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if req.method() != hyper::Method::POST || req.uri().path() != "/v1/logs" {
        return reply(404, b"404 page not found".to_vec(), "text/plain");
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    if content_type != "application/x-protobuf" {
        return reply(
            415,
            format!("unsupported content type {content_type:?}").into_bytes(),
            "text/plain",
        );
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return reply(400, e.to_string().into_bytes(), "text/plain"),
    };
    let request = match ExportLogsServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => return reply(400, e.to_string().into_bytes(), "text/plain"),
    };
    let answer = state.lock().unwrap().answer(request, headers);
    match answer {
        Reply::Accept | Reply::Partial(_) => reply(
            200,
            response(answer).encode_to_vec(),
            "application/x-protobuf",
        ),
        Reply::Refuse => reply(400, b"scripted refusal".to_vec(), "text/plain"),
        Reply::Unavailable => reply(503, b"scripted outage".to_vec(), "text/plain"),
    }
}

impl LogsReceiver {
    pub async fn start_grpc() -> LogsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let server = tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(Grpc(state.clone())))
            .serve_with_incoming(TcpIncoming::from(listener));
        let server = tokio::spawn(async move {
            server.await.unwrap();
        });
        LogsReceiver { url, state, server }
    }

    pub async fn start_http() -> LogsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let accepted = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let state = accepted.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle_http(req, state).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        LogsReceiver { url, state, server }
    }

    /// The next requests get these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Every log record kept, in arrival order, with its resource.
    pub fn records(&self) -> Vec<(Resource, LogRecord)> {
        let state = self.state.lock().unwrap();
        let mut records = Vec::new();
        for request in &state.kept {
            for resource in &request.resource_logs {
                for scope in &resource.scope_logs {
                    for record in &scope.log_records {
                        records.push((
                            resource.resource.clone().unwrap_or_default(),
                            record.clone(),
                        ));
                    }
                }
            }
        }
        records
    }

    /// Requests answered so far, kept or not.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// The value of header `name` in every request so far.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .headers
            .iter()
            .filter_map(|h| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .collect()
    }
}

impl Drop for LogsReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
