//! The `[ingest]` table: how a stream's sender is authenticated and which
//! proxy ids each sender may write.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// How the collector learns who sends a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Nobody is authenticated: any client that reaches the port may write
    /// any proxy's trail. Only when asked for, with a warning at start.
    None,
    /// In a mesh: the SPIFFE id the local sidecar puts in
    /// `x-forwarded-client-cert`, believed only from a trusted peer address.
    Xfcc,
    /// Outside a mesh: TLS 1.3 with a client certificate; the identity is
    /// its first URI SAN, else its first DNS name.
    Mtls,
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMode::None => "none",
            AuthMode::Xfcc => "xfcc",
            AuthMode::Mtls => "mtls",
        })
    }
}

/// The `[ingest]` table as written; [`IngestConfig::resolve`] checks it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestTable {
    pub auth: Option<AuthMode>,
    pub trusted_peers: Option<Vec<IpNet>>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    pub same_namespace: Option<bool>,
    #[serde(default)]
    pub service_accounts: Vec<String>,
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
}

/// Lets `identity` (a pattern) write the proxy ids matching `proxy_ids`.
/// In both, `*` stands for any run of characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    pub identity: String,
    pub proxy_ids: Vec<String>,
}

/// The files of `mtls` mode, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA that signs the senders' certificates.
    pub client_ca: PathBuf,
}

/// The resolved ingest settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub auth: AuthMode,
    /// `xfcc`: addresses the local sidecar connects from.
    pub trusted_peers: Vec<IpNet>,
    /// `mtls` only.
    pub tls: Option<TlsFiles>,
    /// The default rule: a SPIFFE id `spiffe://TD/ns/NS/sa/SA` may write
    /// the Istio proxy ids of pods in `NS` (`sidecar~IP~POD.NS~…`).
    pub same_namespace: bool,
    /// When not empty, the default rule admits only these service accounts.
    pub service_accounts: Vec<String>,
    pub allow: Vec<AllowEntry>,
}

/// Loopback only: in a pod, only the sidecar (Istio connects from
/// 127.0.0.6) and the collector itself can use it.
pub fn default_trusted_peers() -> Vec<IpNet> {
    vec![
        IpNet {
            addr: IpAddr::from([127, 0, 0, 0]),
            prefix: 8,
        },
        IpNet {
            addr: IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            prefix: 128,
        },
    ]
}

/// The mesh mode by default: it refuses every stream that does not come
/// through a sidecar, where `none` would accept anything.
impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            auth: AuthMode::Xfcc,
            trusted_peers: default_trusted_peers(),
            tls: None,
            same_namespace: true,
            service_accounts: Vec::new(),
            allow: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestConfigError {
    #[error("[ingest] auth = \"mtls\" needs tls_cert_file, tls_key_file and client_ca_file; {0} is missing")]
    MissingTlsFile(&'static str),
    #[error("[ingest] {0} is only used with auth = \"mtls\" (auth is \"{1}\")")]
    TlsFileWithoutMtls(&'static str, AuthMode),
    #[error("[ingest] trusted_peers is only used with auth = \"xfcc\" (auth is \"{0}\")")]
    PeersWithoutXfcc(AuthMode),
    #[error("[ingest] allow entry {index}: {problem}")]
    Allow { index: usize, problem: &'static str },
}

impl IngestConfig {
    /// `mode` (flag or environment) over the table's `auth`, over `xfcc`.
    pub fn resolve(
        mode: Option<AuthMode>,
        table: IngestTable,
    ) -> Result<IngestConfig, IngestConfigError> {
        let auth = mode.or(table.auth).unwrap_or(AuthMode::Xfcc);
        let files = [
            ("tls_cert_file", table.tls_cert_file),
            ("tls_key_file", table.tls_key_file),
            ("client_ca_file", table.client_ca_file),
        ];
        let tls = if auth == AuthMode::Mtls {
            let [cert, key, client_ca] =
                files.map(|(name, file)| file.ok_or(IngestConfigError::MissingTlsFile(name)));
            Some(TlsFiles {
                cert: cert?,
                key: key?,
                client_ca: client_ca?,
            })
        } else {
            if let Some((name, _)) = files.iter().find(|(_, file)| file.is_some()) {
                return Err(IngestConfigError::TlsFileWithoutMtls(name, auth));
            }
            None
        };
        if auth != AuthMode::Xfcc && table.trusted_peers.is_some() {
            return Err(IngestConfigError::PeersWithoutXfcc(auth));
        }
        for (index, entry) in table.allow.iter().enumerate() {
            let problem = if entry.identity.is_empty() {
                "identity must not be empty"
            } else if entry.proxy_ids.is_empty() {
                "proxy_ids must name at least one pattern"
            } else if entry.proxy_ids.iter().any(String::is_empty) {
                "a proxy_ids pattern must not be empty"
            } else {
                continue;
            };
            return Err(IngestConfigError::Allow { index, problem });
        }
        Ok(IngestConfig {
            auth,
            trusted_peers: table.trusted_peers.unwrap_or_else(default_trusted_peers),
            tls,
            same_namespace: table.same_namespace.unwrap_or(true),
            service_accounts: table.service_accounts,
            allow: table.allow,
        })
    }
}

/// An address block: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the block; an IPv4 address mapped into IPv6 (a
    /// dual-stack listener's view of an IPv4 peer) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let (bytes, bits) = (usize::from(prefix / 8), prefix % 8);
    if net[..bytes] != ip[..bytes] {
        return false;
    }
    bits == 0 || (net[bytes] ^ ip[bytes]) >> (8 - bits) == 0
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or address/prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0..={max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("127.0.0.0/8").contains(ip("127.0.0.6")));
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(!net("127.0.0.0/8").contains(ip("128.0.0.1")));
        assert!(net("10.1.2.0/23").contains(ip("10.1.3.255")));
        assert!(!net("10.1.2.0/23").contains(ip("10.1.4.0")));
        assert!(net("::1").contains(ip("::1")));
        assert!(!net("::1").contains(ip("::2")));
        assert!(!net("::1").contains(ip("127.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert_eq!(net("10.0.0.1").prefix, 32);
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("localhost".parse::<IpNet>().is_err());
    }

    #[test]
    fn the_mode_is_xfcc_unless_chosen_and_its_settings_must_fit_it() {
        let config = IngestConfig::resolve(None, IngestTable::default()).unwrap();
        assert_eq!(config, IngestConfig::default());
        let table = IngestTable {
            auth: Some(AuthMode::None),
            ..IngestTable::default()
        };
        assert_eq!(
            IngestConfig::resolve(None, table.clone()).unwrap().auth,
            AuthMode::None
        );
        // The flag wins over the file.
        let mtls = IngestConfig::resolve(Some(AuthMode::Mtls), table);
        assert_eq!(
            mtls,
            Err(IngestConfigError::MissingTlsFile("tls_cert_file"))
        );
        let table = IngestTable {
            tls_key_file: Some("k.pem".into()),
            ..IngestTable::default()
        };
        assert_eq!(
            IngestConfig::resolve(None, table),
            Err(IngestConfigError::TlsFileWithoutMtls(
                "tls_key_file",
                AuthMode::Xfcc
            ))
        );
        let table = IngestTable {
            auth: Some(AuthMode::None),
            trusted_peers: Some(vec![net("10.0.0.0/8")]),
            ..IngestTable::default()
        };
        assert!(matches!(
            IngestConfig::resolve(None, table),
            Err(IngestConfigError::PeersWithoutXfcc(AuthMode::None))
        ));
        let table = IngestTable {
            allow: vec![AllowEntry {
                identity: "spiffe://td/ns/a/sa/b".into(),
                proxy_ids: vec![],
            }],
            ..IngestTable::default()
        };
        assert!(matches!(
            IngestConfig::resolve(None, table),
            Err(IngestConfigError::Allow { index: 0, .. })
        ));
    }
}
