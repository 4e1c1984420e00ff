//! Requests a hostile client sends that Envoy's codecs reject before any HTTP filter sees
//! their headers, or that it abandons, and the clients to send them: raw bytes over HTTP/1,
//! and a minimal HTTP/2 (prior knowledge) client that writes header blocks no library would.
//! Each can connect from another loopback address than 127.0.0.1 (`*_from`), so that a
//! record's `source_ip` shows which client it came from.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::client::has_whole_body;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A request Envoy's HTTP/1 codec (or router) rejects, with what Envoy answers and the
/// `response.code_details` it logs.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub status: u16,
    pub details: &'static str,
}

/// The HTTP/1 requests of the issue: a NUL in the path, `HTTP/1.0`, a 70 KiB header, a
/// control character in a header value, `OPTIONS *`.
pub fn http1_rejections() -> Vec<Rejected> {
    let big = format!(
        "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    vec![
        Rejected {
            name: "nul-in-path",
            bytes: b"GET /nul\x00x HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            status: 400,
            details: "http1.invalid_characters",
        },
        Rejected {
            name: "http-1.0",
            bytes: b"GET /ten HTTP/1.0\r\n\r\n".to_vec(),
            status: 426,
            details: "low_version",
        },
        Rejected {
            name: "70k-header",
            bytes: big.into_bytes(),
            status: 431,
            details: "http1.headers_too_large",
        },
        Rejected {
            name: "control-char-in-header",
            bytes: b"GET /ctl HTTP/1.1\r\nHost: a\r\nX-C: a\x01b\r\n\r\n".to_vec(),
            status: 400,
            details: "http1.invalid_characters",
        },
        Rejected {
            name: "options-asterisk",
            // Envoy answers and would keep the connection open.
            bytes: b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec(),
            status: 404,
            details: "absolute_path_rejected",
        },
    ]
}

/// A connection to `127.0.0.1:port` from the local address `from` (any 127.0.0.0/8 address
/// is the loopback's on Linux).
pub async fn connect_from(from: IpAddr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(SocketAddr::new(LOCALHOST, port)).await
}

/// Writes `bytes` to `127.0.0.1:port` and reads until the response is complete, the peer
/// closes or 2 s pass; returns the status of the response's first line, if there is one.
pub async fn send_raw(port: u16, bytes: &[u8]) -> std::io::Result<Option<u16>> {
    send_raw_from(LOCALHOST, port, bytes).await
}

/// [`send_raw`] from the local address `from`.
pub async fn send_raw_from(from: IpAddr, port: u16, bytes: &[u8]) -> std::io::Result<Option<u16>> {
    let mut stream = connect_from(from, port).await?;
    // The peer may answer and close before reading everything (a too large header).
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if has_whole_body(&out) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    let line = out.split(|&b| b == b'\r').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok()))
}

/// Opens a connection and writes `bytes` (a request the client will not finish); the
/// request is reset when the caller drops the connection.
pub async fn start_request(port: u16, bytes: &[u8]) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(bytes).await?;
    Ok(stream)
}

/// A stream Envoy's HTTP/2 codec resets: no HTTP filter runs for it.
#[derive(Debug, Clone)]
pub struct Reset {
    pub name: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
    pub details: &'static str,
}

/// The HTTP/2 streams of the issue: an upper-case header name, a relative `:path`.
pub fn h2_resets() -> Vec<Reset> {
    let base = [(":method", "GET"), (":scheme", "http"), (":authority", "a")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h = base.to_vec();
        h.extend_from_slice(extra);
        h
    };
    vec![
        Reset {
            name: "upper-case-header-name",
            headers: with(&[(":path", "/upper"), ("X-Upper", "1")]),
            details: "http2.invalid.header.field",
        },
        Reset {
            name: "relative-path",
            headers: with(&[(":path", "relative")]),
            details: "http2.violation.of.messaging.rule",
        },
    ]
}

/// What came back on an HTTP/2 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Outcome {
    /// A response's HEADERS frame.
    Response,
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code.
    GoAway(u32),
    /// The connection ended (or 5 s passed) without any of those.
    Nothing,
}

/// Sends one HTTP/2 request (prior knowledge, stream 1, no body) with exactly these header
/// fields, in this order and spelling, and reports the first answer on it.
pub async fn h2_request(port: u16, headers: &[(&str, &str)]) -> std::io::Result<H2Outcome> {
    h2_request_from(LOCALHOST, port, headers).await
}

/// [`h2_request`] from the local address `from`.
pub async fn h2_request_from(
    from: IpAddr,
    port: u16,
    headers: &[(&str, &str)],
) -> std::io::Result<H2Outcome> {
    let mut stream = connect_from(from, port).await?;
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    let mut block = Vec::new();
    for (name, value) in headers {
        // Literal header field without indexing, new name, no Huffman coding.
        block.push(0);
        hpack_string(&mut block, name.as_bytes());
        hpack_string(&mut block, value.as_bytes());
    }
    // END_STREAM | END_HEADERS
    frame(&mut out, 0x1, 0x5, 1, &block);
    stream.write_all(&out).await?;
    let answer = async {
        let mut header = [0u8; 9];
        loop {
            if stream.read_exact(&mut header).await.is_err() {
                return Ok(H2Outcome::Nothing);
            }
            let len =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let (kind, flags) = (header[3], header[4]);
            let stream_id =
                u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            stream.read_exact(&mut payload).await?;
            let code = |at: usize| {
                payload
                    .get(at..at + 4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            match kind {
                0x1 if stream_id == 1 => return Ok(H2Outcome::Response),
                0x3 if stream_id == 1 => return Ok(H2Outcome::Reset(code(0))),
                0x7 => return Ok(H2Outcome::GoAway(code(4))),
                0x4 if flags & 0x1 == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, 0x4, 0x1, 0, &[]);
                    stream.write_all(&ack).await?;
                }
                _ => {}
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(H2Outcome::Nothing),
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame too large");
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK string literal (RFC 7541 §5.2) without Huffman coding.
fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    // 7-bit prefix integer (§5.1).
    let mut n = s.len();
    if n < 127 {
        out.push(n as u8);
    } else {
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128 + 128) as u8);
            n /= 128;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}
