//! Who sends a stream, and what it may write. Each stream is bound to an
//! authenticated identity when it opens ([`Authenticator::authenticate`]):
//! in a mesh the SPIFFE id the local sidecar forwards in
//! `x-forwarded-client-cert` ([`xfcc`]), believed only from a trusted peer
//! address; outside one the client certificate of a TLS 1.3 connection
//! ([`tls`]). Each batch's `proxy_id` must then be one the identity may
//! write ([`allow`]). The stored lines carry the identity as `sender`.

pub mod allow;
pub mod config;
pub mod tls;
pub mod xfcc;

use std::net::SocketAddr;

use tonic::{Request, Status};

use self::allow::AllowList;
use self::config::{AuthMode, IngestConfig, IpNet};

/// The header Envoy writes the peer's certificate details into.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

/// The authenticated sender of a stream; empty in mode `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    pub identity: String,
}

/// Authenticates streams and authorises their proxy ids.
#[derive(Debug, Clone)]
pub struct Authenticator {
    mode: AuthMode,
    trusted_peers: Vec<IpNet>,
    allow: AllowList,
}

impl Authenticator {
    pub fn new(config: &IngestConfig) -> Authenticator {
        Authenticator {
            mode: config.auth,
            trusted_peers: config.trusted_peers.clone(),
            allow: AllowList::new(config),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The sender of the stream `request` opens, or UNAUTHENTICATED with
    /// what is missing.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Sender, Status> {
        match self.mode {
            AuthMode::None => Ok(Sender::default()),
            AuthMode::Xfcc => self.sidecar_identity(request.remote_addr(), request),
            AuthMode::Mtls => certificate_identity(request),
        }
    }

    fn sidecar_identity<T>(
        &self,
        peer: Option<SocketAddr>,
        request: &Request<T>,
    ) -> Result<Sender, Status> {
        let Some(peer) = peer else {
            return Err(Status::unauthenticated(
                "the connection's peer address is unknown: x-forwarded-client-cert cannot be trusted",
            ));
        };
        if !self.trusted_peers.iter().any(|net| net.contains(peer.ip())) {
            return Err(Status::unauthenticated(format!(
                "connection from {peer}, which is not a trusted peer ([ingest] trusted_peers): \
                 in xfcc mode streams must come through the local sidecar"
            )));
        }
        let fields: Vec<&str> = request
            .metadata()
            .get_all(XFCC_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if fields.is_empty() {
            return Err(Status::unauthenticated(
                "no x-forwarded-client-cert: the sidecar saw no client certificate \
                 (plaintext, or a port it does not treat as HTTP)",
            ));
        }
        let identity =
            xfcc::peer_uri(fields).map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(Sender { identity })
    }

    /// `Ok` when `sender` may write `proxy_id`, else PERMISSION_DENIED
    /// saying why.
    pub fn authorize(&self, sender: &Sender, proxy_id: &str) -> Result<(), Status> {
        if self.mode == AuthMode::None {
            return Ok(());
        }
        self.allow
            .check(&sender.identity, proxy_id)
            .map_err(Status::permission_denied)
    }
}

fn certificate_identity<T>(request: &Request<T>) -> Result<Sender, Status> {
    let certs = request.peer_certs().unwrap_or_default();
    let Some(leaf) = certs.first() else {
        return Err(Status::unauthenticated(
            "no client certificate: mtls mode needs one signed by [ingest] client_ca_file",
        ));
    };
    match tls::identity(leaf) {
        Some(identity) => Ok(Sender { identity }),
        None => Err(Status::unauthenticated(
            "the client certificate has neither a URI nor a DNS name to identify the sender",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tonic::transport::server::TcpConnectInfo;
    use tonic::Code;

    const ORDERS: &str = "spiffe://cluster.local/ns/shop/sa/orders";

    fn request(peer: &str, xfcc: &[&str]) -> Request<()> {
        let mut request = Request::new(());
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(peer.parse().unwrap()),
        });
        for value in xfcc {
            request
                .metadata_mut()
                .append(XFCC_HEADER, value.parse().unwrap());
        }
        request
    }

    #[test]
    fn xfcc_is_believed_from_trusted_peers_only() {
        let auth = Authenticator::new(&IngestConfig::default());
        let element = format!("Hash=ab;Subject=\"\";URI={ORDERS}");
        let sender = auth
            .authenticate(&request("127.0.0.6:41000", &[&element]))
            .unwrap();
        assert_eq!(sender.identity, ORDERS);

        let status = auth
            .authenticate(&request("10.0.0.7:41000", &[&element]))
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(
            status.message().contains("not a trusted peer"),
            "{status:?}"
        );

        let status = auth
            .authenticate(&request("127.0.0.6:41000", &[]))
            .unwrap_err();
        assert!(
            status.message().contains("no x-forwarded-client-cert"),
            "{status:?}"
        );
        let status = auth.authenticate(&Request::new(())).unwrap_err();
        assert!(status.message().contains("peer address"), "{status:?}");
    }

    #[test]
    fn proxy_ids_are_checked_except_in_mode_none() {
        let auth = Authenticator::new(&IngestConfig::default());
        let sender = Sender {
            identity: ORDERS.into(),
        };
        let shop = "sidecar~10.0.0.7~orders-1.shop~shop.svc.cluster.local";
        assert!(auth.authorize(&sender, shop).is_ok());
        let status = auth.authorize(&sender, "e2e-proxy").unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);

        let open = Authenticator::new(&IngestConfig {
            auth: AuthMode::None,
            ..IngestConfig::default()
        });
        assert_eq!(
            open.authenticate(&request("10.0.0.7:1", &[])).unwrap(),
            Sender::default()
        );
        assert!(open.authorize(&Sender::default(), "e2e-proxy").is_ok());
        let status = Authenticator::new(&IngestConfig {
            auth: AuthMode::Mtls,
            ..IngestConfig::default()
        })
        .authenticate(&request("127.0.0.1:1", &[]))
        .unwrap_err();
        assert!(
            status.message().contains("no client certificate"),
            "{status:?}"
        );
    }
}
