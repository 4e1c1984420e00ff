//! Test PKI: a CA, a server certificate for Envoy's mTLS listener (127.0.0.1 / localhost)
//! and client certificates carrying a SPIFFE URI SAN, written to a temp dir.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;

/// A client identity: certificate (signed by the test CA) + key, in DER and as PEM files.
pub struct ClientIdentity {
    pub spiffe_uri: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl ClientIdentity {
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// CA + Envoy server certificate; mints client certificates on demand.
pub struct Pki {
    dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
    pub ca_der: CertificateDer<'static>,
    pub ca_path: PathBuf,
    pub server_cert_path: PathBuf,
    pub server_key_path: PathBuf,
    counter: AtomicU64,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("obs-e2e-pki-")
            .tempdir()
            .expect("pki tempdir");

        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Observatory e2e CA");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign ca");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut sp = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        sp.distinguished_name = dn;
        sp.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = sp.signed_by(&server_key, &issuer).expect("sign server");
        let server_cert_path = dir.path().join("server.pem");
        let server_key_path = dir.path().join("server.key");
        std::fs::write(&server_cert_path, server_cert.pem()).expect("write server cert");
        std::fs::write(&server_key_path, server_key.serialize_pem()).expect("write server key");

        Pki {
            dir,
            issuer,
            ca_der,
            ca_path,
            server_cert_path,
            server_key_path,
            counter: AtomicU64::new(0),
        }
    }

    /// Mint a client certificate whose only SAN is the URI `spiffe_uri`
    /// (e.g. `spiffe://cluster.local/ns/shop/sa/frontend`).
    pub fn client_identity(&self, spiffe_uri: &str) -> ClientIdentity {
        let key = KeyPair::generate().expect("client key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        p.subject_alt_names = vec![SanType::URI(
            spiffe_uri.to_string().try_into().expect("URI SAN is IA5"),
        )];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "e2e-client");
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).expect("sign client");

        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let cert_path = self.dir.path().join(format!("client-{n}.pem"));
        let key_path = self.dir.path().join(format!("client-{n}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write client cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write client key");
        ClientIdentity {
            spiffe_uri: spiffe_uri.to_string(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_path,
            key_path,
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}
