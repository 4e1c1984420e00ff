//! Test clients: reqwest (plaintext / mTLS, HTTP/1.1) and a raw HTTP/1.1 client that sends
//! the request target byte-for-byte (reqwest/url would normalise `/public/../admin`).

use std::sync::{Arc, Once};
use std::time::Duration;

use rustls::RootCertStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pki::{ClientIdentity, Pki};

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn base_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        // No connection reuse: every request gets a fresh connection, so a listener
        // replaced by an LDS push is picked up and drained listeners never bite.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
}

/// Plaintext HTTP/1.1 client.
pub fn plain_client() -> reqwest::Client {
    base_builder().build().expect("build plaintext client")
}

fn roots(pki: &Pki) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("add test CA");
    roots
}

/// HTTPS client trusting the test CA and presenting `identity` as client certificate.
pub fn mtls_client(pki: &Pki, identity: &ClientIdentity) -> reqwest::Client {
    tls_client(pki, Some(identity))
}

/// HTTPS client trusting the test CA that presents NO client certificate.
pub fn tls_client_without_cert(pki: &Pki) -> reqwest::Client {
    tls_client(pki, None)
}

fn tls_client(pki: &Pki, identity: Option<&ClientIdentity>) -> reqwest::Client {
    install_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots(pki));
    let cfg = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert_der.clone()], id.private_key())
            .expect("client auth cert"),
        None => builder.with_no_client_auth(),
    };
    base_builder()
        .tls_backend_preconfigured(cfg)
        .build()
        .expect("build TLS client")
}

/// A response read by [`raw_request`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First header value named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

/// Send one HTTP/1.1 request to `127.0.0.1:port` with the request target exactly as given
/// (`Connection: close`, `Host: 127.0.0.1`), and read the whole response (10 s deadline).
pub async fn raw_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    raw_request_bytes(port, method, target, &headers, body).await
}

/// [`raw_request`] with header values as bytes, so a test can send what HTTP
/// allows but UTF-8 does not.
pub async fn raw_request_bytes(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let fut = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
                .into_bytes();
        for (k, v) in headers {
            req.extend_from_slice(k.as_bytes());
            req.extend_from_slice(b": ");
            req.extend_from_slice(v);
            req.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method != "GET" {
            req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        stream.write_all(&req).await?;
        stream.write_all(body).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            // After a reply of its own Envoy waits up to its delayed_close_timeout (1 s)
            // for the client to close first: a response of known length is done without it.
            if has_whole_body(&buf) {
                break;
            }
        }
        parse_response(&buf)
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("raw request {method} {target} to port {port} timed out"),
        )),
    }
}

/// Whether `buf` holds a response's head and all the body its `Content-Length` announces.
pub(crate) fn has_whole_body(buf: &[u8]) -> bool {
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..split]);
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|len| buf.len() - split - 4 >= len)
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(buf: &[u8]) -> std::io::Result<RawResponse> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            bad(format!(
                "no end of headers in {:?}",
                String::from_utf8_lossy(buf)
            ))
        })?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let rest = &buf[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk size"))?;
        let size_str = String::from_utf8_lossy(&data[..eol]);
        let size_str = size_str.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_str, 16)
            .map_err(|_| bad(format!("bad chunk size {size_str:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
    Err(bad("too many chunks"))
}

/// A response fully read by [`send`].
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    /// Header value as &str (None when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Send a request and read the whole response; panics (with the error) on transport failure.
pub async fn send(req: reqwest::RequestBuilder) -> Resp {
    match try_send(req).await {
        Ok(r) => r,
        Err(e) => panic!("request failed: {e:?}"),
    }
}

/// `GET url` with `x-request-id: id`, read whole; panics on transport failure.
pub async fn get_with_id(client: &reqwest::Client, url: &str, id: &str) -> Resp {
    send(client.get(url).header("x-request-id", id)).await
}

/// `POST url` with `x-request-id: id`, a `Content-Type` and a body; add headers, then [`send`].
pub fn post_with_id(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("x-request-id", id)
        .header("content-type", content_type)
        .body(body)
}

/// Like [`send`] but returns transport errors.
pub async fn try_send(req: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// `POST url` over HTTP/2 (cleartext, prior knowledge) with `headers`, a
/// body and then `trailers`: what `reqwest` cannot send. The reply is read
/// whole; panics on transport failure.
pub async fn post_with_trailers(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    trailers: &[(&str, &str)],
) -> Resp {
    use http_body_util::BodyExt;
    use hyper::body::{Bytes, Frame};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("an http:// url");
    let stream = TcpStream::connect(authority).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let mut trailer_map = hyper::HeaderMap::new();
    for (name, value) in trailers {
        trailer_map.insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("trailer name"),
            value.parse().expect("trailer value"),
        );
    }
    let frames = Frames(
        [
            Frame::data(Bytes::from(body.to_owned())),
            Frame::trailers(trailer_map),
        ]
        .into(),
    );
    let mut request = hyper::Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(frames).expect("request");
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    // `reqwest` and `hyper` share the `http` crate's header map.
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A request body given frame by frame.
struct Frames(std::collections::VecDeque<hyper::body::Frame<hyper::body::Bytes>>);

impl hyper::body::Body for Frames {
    type Data = hyper::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.get_mut().0.pop_front().map(Ok))
    }
}
