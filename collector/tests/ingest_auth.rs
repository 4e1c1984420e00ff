//! Authenticated ingest: every stream is bound to its sender's identity
//! (the SPIFFE id a trusted sidecar forwards in `x-forwarded-client-cert`,
//! or a TLS 1.3 client certificate), a batch may only name a proxy id that
//! identity may write, and the stored lines carry it as `sender`. Anything
//! else is refused with UNAUTHENTICATED or PERMISSION_DENIED and counted.
//! The certificates are made here, for each run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{batch, record, start_with, Running, Stream, PROXY};
use observatory_collector::auth::config::{AuthMode, IngestConfig, IpNet, TlsFiles};
use observatory_proto::audit::audit_service_client::AuditServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedKey, IsCa, Issuer, KeyPair, SanType};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;

/// The workload whose sidecar is `PROXY` (namespace `shop`).
const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";
const PAYMENTS_PROXY: &str = "sidecar~10.0.0.8~api-1.payments~payments.svc.cluster.local";

fn xfcc(uri: &str) -> String {
    format!("By=spiffe://cluster.local/ns/observatory/sa/observatory-collector;Hash=9f;Subject=\"\";URI={uri}")
}

/// The message of the UNAUTHENTICATED a stream opened with `headers` is refused with.
async fn unauthenticated(
    client: &mut AuditServiceClient<Channel>,
    headers: &[(&'static str, &str)],
) -> String {
    let status = Stream::try_open(client, headers).await.err().unwrap();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    status.message().to_owned()
}

async fn xfcc_collector(tweak: impl FnOnce(&mut IngestConfig)) -> Running {
    start_with(|c| {
        c.ingest = IngestConfig::default();
        tweak(&mut c.ingest);
    })
    .await
}

#[tokio::test]
async fn a_sender_writes_only_the_proxy_ids_it_is_allowed() {
    let collector = xfcc_collector(|_| {}).await;
    let header = xfcc(WEB);
    let mut stream = Stream::try_open(
        &mut collector.client().await,
        &[("x-forwarded-client-cert", &header)],
    )
    .await
    .unwrap();
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    // The same sender, another namespace's proxy.
    let mut foreign = batch(2, vec![record(2)]);
    foreign.proxy_id = PAYMENTS_PROXY.into();
    foreign.records[0].proxy_id = PAYMENTS_PROXY.into();
    let status = stream.send(foreign).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(WEB) && status.message().contains("\"payments\""),
        "{status:?}"
    );
    assert_eq!(collector.stats.snapshot().batches_forbidden, 1);

    // A record naming another proxy than its (allowed) batch is kept as invalid.
    let mut stream = Stream::try_open(
        &mut collector.client().await,
        &[("x-forwarded-client-cert", &header)],
    )
    .await
    .unwrap();
    let mut smuggled = batch(2, vec![record(3), record(4)]);
    smuggled.records[1].proxy_id = PAYMENTS_PROXY.into();
    assert_eq!(stream.send(smuggled).await.unwrap(), 2);

    let lines = collector.json_lines().await;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines.iter().all(|l| l["sender"] == WEB), "{lines:#?}");
    assert!(lines.iter().all(|l| l["proxy_id"] == PROXY), "{lines:#?}");
    assert_eq!(lines[1]["correlation_id"], "corr-3");
    assert_eq!(
        lines[2]["invalid"]["record"]["proxy_id"], PAYMENTS_PROXY,
        "{lines:#?}"
    );
}

#[tokio::test]
async fn xfcc_is_believed_only_from_a_trusted_peer() {
    // The test client connects from 127.0.0.1; only 127.0.0.6 is trusted.
    let collector = xfcc_collector(|ingest| {
        ingest.trusted_peers = vec!["127.0.0.6".parse::<IpNet>().unwrap()];
    })
    .await;
    let header = xfcc(WEB);
    let message = unauthenticated(
        &mut collector.client().await,
        &[("x-forwarded-client-cert", &header)],
    )
    .await;
    assert!(message.contains("not a trusted peer"), "{message}");

    // From a trusted peer, a stream without the header names nobody.
    let collector = xfcc_collector(|_| {}).await;
    let message = unauthenticated(&mut collector.client().await, &[]).await;
    assert!(message.contains("no x-forwarded-client-cert"), "{message}");
    assert_eq!(collector.stats.snapshot().streams_unauthenticated, 1);
    assert!(collector.lines().await.is_empty());
}

/// A CA, the collector's certificate for `localhost` and 127.0.0.1, and
/// clients' certificates, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    fn sign(&self, sans: Vec<SanType>) -> CertifiedKey<KeyPair> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        CertifiedKey {
            cert,
            signing_key: key,
        }
    }

    fn write(&self, name: &str, pem: String) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }

    fn server_files(&self) -> TlsFiles {
        let server = self.sign(vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ]);
        TlsFiles {
            cert: self.write("server.pem", server.cert.pem()),
            key: self.write("server.key", server.signing_key.serialize_pem()),
            client_ca: self.write("ca.pem", self.ca_pem.clone()),
        }
    }
}

async fn tls_client(
    collector: &Running,
    ca: &Pki,
    client: Option<&CertifiedKey<KeyPair>>,
) -> Result<AuditServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.ca_pem))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(
            client.cert.pem(),
            client.signing_key.serialize_pem(),
        ));
    }
    let channel = Channel::from_shared(format!("https://localhost:{}", collector.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(AuditServiceClient::new(channel))
}

#[tokio::test]
async fn mtls_needs_a_client_certificate_from_the_configured_ca() {
    let pki = Pki::new();
    let files = pki.server_files();
    let collector = start_with(|c| {
        c.ingest = IngestConfig {
            auth: AuthMode::Mtls,
            tls: Some(files),
            ..IngestConfig::default()
        };
    })
    .await;

    let web = pki.sign(vec![SanType::URI(WEB.try_into().unwrap())]);
    let mut client = tls_client(&collector, &pki, Some(&web)).await.unwrap();
    let mut stream = Stream::try_open(&mut client, &[]).await.unwrap();
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);
    let lines = collector.json_lines().await;
    assert_eq!(lines[0]["sender"], WEB, "{lines:#?}");

    // TLS without a client certificate: the stream is refused and says why.
    let mut client = tls_client(&collector, &pki, None).await.unwrap();
    let message = unauthenticated(&mut client, &[]).await;
    assert!(message.contains("no client certificate"), "{message}");

    // A certificate of another CA fails the handshake.
    let stranger = Pki::new().sign(vec![SanType::URI(WEB.try_into().unwrap())]);
    let refused = match tls_client(&collector, &pki, Some(&stranger)).await {
        Err(_) => true,
        Ok(mut client) => Stream::try_open(&mut client, &[]).await.is_err(),
    };
    assert!(refused);
    // Plaintext on the TLS port gets nowhere either.
    let plain = AuditServiceClient::connect(format!("http://{}", collector.addr)).await;
    assert!(plain.is_err() || Stream::try_open(&mut plain.unwrap(), &[]).await.is_err());

    common::eventually("the failed handshakes to be counted", || {
        collector.stats.snapshot().tls_handshakes_failed >= 2
    })
    .await;
    assert_eq!(collector.stats.snapshot().streams_unauthenticated, 1);
    assert_eq!(collector.lines().await.len(), 1);
}
