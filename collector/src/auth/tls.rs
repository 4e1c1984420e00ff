//! `mtls` mode: the audit port speaks TLS 1.3 only (rustls, ring), and a
//! sender shows a client certificate signed by `client_ca_file`. One
//! without a certificate completes the handshake and is refused by the
//! ingest with UNAUTHENTICATED, which says more than a failed handshake; a
//! certificate from another CA fails the handshake. Handshakes run in
//! tasks of their own, so a slow client holds up nobody.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt as _;
use tonic::transport::server::TcpIncoming;
use tracing::warn;
use x509_parser::extensions::GeneralName;

use super::config::TlsFiles;
use crate::telemetry::Counter;

/// A handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 64;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: String,
        error: String,
    },
    #[error("{what} {path} holds no {expected}")]
    Empty {
        what: &'static str,
        path: String,
        expected: &'static str,
    },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The server's TLS settings from the PEM files of `files`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates("tls_cert_file", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Read {
        what: "tls_key_file",
        path: files.key.display().to_string(),
        error: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    for ca in certificates("client_ca_file", &files.client_ca)? {
        roots
            .add(ca)
            .map_err(|e| TlsError::Setup(format!("client_ca_file: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Setup(format!("client_ca_file: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Setup(format!("tls_cert_file and tls_key_file: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |e: rustls::pki_types::pem::Error| TlsError::Read {
        what,
        path: path.display().to_string(),
        error: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.display().to_string(),
            expected: "certificate",
        });
    }
    Ok(certs)
}

/// Who a (verified) client certificate names: its first URI SAN (a SPIFFE
/// id), else its first DNS name; `None` when it has neither.
pub fn identity(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let names = cert.subject_alternative_name().ok()??.value;
    let uri = names.general_names.iter().find_map(|n| match n {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let dns = || {
        names.general_names.iter().find_map(|n| match n {
            GeneralName::DNSName(name) => Some(*name),
            _ => None,
        })
    };
    uri.or_else(dns).map(str::to_owned)
}

/// The TLS connections of `tcp`, each once its handshake succeeded; a
/// failed handshake is counted in `failed` and logged. Ends when the
/// server stops taking connections.
pub fn accept(
    tcp: TcpIncoming,
    config: Arc<ServerConfig>,
    failed: Counter,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        let mut tcp = std::pin::pin!(tcp);
        loop {
            let next = tokio::select! {
                () = tx.closed() => break,
                next = tcp.next() => next,
            };
            let stream = match next {
                Some(Ok(stream)) => stream,
                Some(Err(e)) => {
                    if tx.send(Err(e)).await.is_err() {
                        break;
                    }
                    continue;
                }
                None => break,
            };
            let (acceptor, tx, failed) = (acceptor.clone(), tx.clone(), failed.clone());
            tokio::spawn(async move {
                let peer = stream.peer_addr().ok();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        // Fails only once the server stopped: nothing to tell.
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => {
                        failed.add(1);
                        warn!(?peer, "TLS handshake failed: {e}");
                    }
                    Err(_) => {
                        failed.add(1);
                        warn!(?peer, "TLS handshake timed out after {HANDSHAKE_TIMEOUT:?}");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SanType};

    fn cert_with(sans: Vec<SanType>) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone()
    }

    #[test]
    fn the_identity_is_the_uri_else_the_dns_name() {
        let uri = SanType::URI("spiffe://td/ns/a/sa/b".try_into().unwrap());
        let dns = SanType::DnsName("sender.example.com".try_into().unwrap());
        assert_eq!(
            identity(&cert_with(vec![dns.clone(), uri])).as_deref(),
            Some("spiffe://td/ns/a/sa/b")
        );
        assert_eq!(
            identity(&cert_with(vec![dns])).as_deref(),
            Some("sender.example.com")
        );
        assert_eq!(identity(&cert_with(vec![])), None);
        assert_eq!(identity(&CertificateDer::from(vec![1, 2, 3])), None);
    }

    #[test]
    fn only_tls_1_3_is_offered() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let files = TlsFiles {
            cert: write("cert.pem", cert.pem()),
            key: write("key.pem", key.serialize_pem()),
            client_ca: write("ca.pem", cert.pem()),
        };
        let config = server_config(&files).unwrap();
        let mut server = rustls::ServerConnection::new(config).unwrap();
        // A TLS 1.2-only client's hello is refused.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client =
            rustls::ClientConnection::new(Arc::new(client), "localhost".try_into().unwrap())
                .unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        server.read_tls(&mut hello.as_slice()).unwrap();
        let refused = server.process_new_packets().unwrap_err();
        assert!(
            matches!(refused, rustls::Error::PeerIncompatible(_)),
            "{refused}"
        );

        let missing = TlsFiles {
            key: dir.path().join("nope.pem"),
            ..files
        };
        let error = server_config(&missing).unwrap_err().to_string();
        assert!(error.contains("tls_key_file"), "{error}");
    }
}
