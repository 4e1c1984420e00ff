//! `collector`: the cluster the gRPC stream goes to, and how it is addressed.
//!
//! Envoy takes the service argument of `open_grpc_stream` as a serialized
//! `envoy.config.core.v3.GrpcService` when it parses as one, else as a
//! cluster name, which then also becomes the stream's `:authority`. Istio's
//! cluster names (`outbound|4317||observatory-collector.observatory.svc.cluster.local`)
//! contain `|`, which an authority may not: the collector's HTTP/2 server
//! resets such a stream. So the filter always sends a `GrpcService` naming
//! the cluster and an authority: `collector.authority`, else `HOST:PORT` of
//! an Istio cluster name (`DIRECTION|PORT|SUBSET|HOST`), else the cluster
//! name itself when it is a valid authority.
//!
//! Envoy's Wasm gRPC client hashes a stream on its `:authority` (it sets
//! that hash policy itself; a route's hash policy does not apply). With
//! `collector.hashKey: proxy` (the default) the authority starts with a
//! label derived from the proxy id, so a consistent-hash cluster (Istio's
//! DestinationRule with Maglev or a ring hash) keeps each proxy's stream,
//! resends and hash chain on one collector pod and spreads proxies over
//! the pods; the collector and Istio's inbound route ignore the authority.

use serde::Deserialize;

use crate::error::{in_range, ConfigError};

/// Backoff ceiling: retrying less than hourly would leave the stream down
/// far longer than any collector restart.
const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Longest cluster name or authority: the proxy-wasm SDK passes the
/// service as text, and a protobuf length of 128 or more is a varint
/// byte that is not UTF-8.
pub const MAX_NAME_BYTES: usize = 125;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
pub(crate) struct RawCollector {
    cluster: String,
    authority: Option<String>,
    hash_key: Option<HashKey>,
    min_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
}

/// What the stream's `:authority` carries for a consistent-hash load
/// balancer (`collector.hashKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKey {
    /// `p<16 hex of the proxy id's FNV-1a hash>.` in front of the authority.
    Proxy,
    /// The authority as configured: every proxy hashes alike.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Envoy cluster the gRPC stream is opened on.
    pub cluster: String,
    /// `:authority` of the stream, before the hash key.
    pub authority: String,
    pub hash_key: HashKey,
    pub min_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl RawCollector {
    pub(crate) fn validate(self) -> Result<CollectorConfig, ConfigError> {
        if self.cluster.trim().is_empty() {
            return Err(ConfigError::new("collector.cluster", "must not be empty"));
        }
        if self.cluster.len() > MAX_NAME_BYTES {
            return Err(ConfigError::new(
                "collector.cluster",
                format!("longer than {MAX_NAME_BYTES} bytes"),
            ));
        }
        let authority = match self.authority {
            Some(a) if !is_authority(&a) || a.len() > MAX_NAME_BYTES => {
                return Err(ConfigError::new(
                    "collector.authority",
                    format!("not a host[:port] of at most {MAX_NAME_BYTES} bytes: `{a}`"),
                ))
            }
            Some(a) => a,
            None => authority_of(&self.cluster).ok_or_else(|| {
                ConfigError::new(
                    "collector.authority",
                    "needed: the cluster name is neither an Istio cluster name nor a valid authority",
                )
            })?,
        };
        let min_backoff_ms = in_range(
            "collector.minBackoffMs",
            self.min_backoff_ms.unwrap_or(500),
            1,
            MAX_BACKOFF_MS,
        )?;
        let max_backoff_ms = self.max_backoff_ms.unwrap_or(30_000);
        if max_backoff_ms < min_backoff_ms {
            return Err(ConfigError::new(
                "collector.maxBackoffMs",
                format!(
                    "must be at least collector.minBackoffMs ({min_backoff_ms}), got {max_backoff_ms}"
                ),
            ));
        }
        let hash_key = self.hash_key.unwrap_or(HashKey::Proxy);
        if hash_key == HashKey::Proxy && authority.len() + PROXY_LABEL_BYTES > MAX_NAME_BYTES {
            return Err(ConfigError::new(
                "collector.authority",
                format!(
                    "longer than {} bytes, which hashKey \"proxy\" needs (or set hashKey \"none\")",
                    MAX_NAME_BYTES - PROXY_LABEL_BYTES
                ),
            ));
        }
        Ok(CollectorConfig {
            cluster: self.cluster,
            authority,
            hash_key,
            min_backoff_ms,
            max_backoff_ms: in_range(
                "collector.maxBackoffMs",
                max_backoff_ms,
                min_backoff_ms,
                MAX_BACKOFF_MS,
            )?,
        })
    }
}

/// `p` and 16 hex digits and a dot.
const PROXY_LABEL_BYTES: usize = 18;

impl CollectorConfig {
    /// The `:authority` of the stream of `proxy_id`.
    pub fn authority_for(&self, proxy_id: &str) -> String {
        match self.hash_key {
            HashKey::Proxy => format!("p{:016x}.{}", fnv1a(proxy_id.as_bytes()), self.authority),
            HashKey::None => self.authority.clone(),
        }
    }

    /// The serialized `GrpcService` handed to `open_grpc_stream` for the
    /// stream of `proxy_id`.
    pub fn service_for(&self, proxy_id: &str) -> String {
        grpc_service(&self.cluster, &self.authority_for(proxy_id))
    }
}

/// FNV-1a, 64 bits: stable across versions and platforms, so a proxy keeps
/// its collector pod across filter upgrades.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The authority of a cluster without `collector.authority`: `HOST:PORT`
/// of an Istio cluster name, else the name when it is a valid authority.
fn authority_of(cluster: &str) -> Option<String> {
    let parts: Vec<&str> = cluster.split('|').collect();
    if let [_direction, port, _subset, host] = parts[..] {
        let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let authority = format!("{host}:{port}");
        return (port_ok && !host.is_empty() && is_authority(&authority)).then_some(authority);
    }
    is_authority(cluster).then(|| cluster.to_owned())
}

/// RFC 3986 `authority` without userinfo: unreserved characters,
/// sub-delims, `:` and the brackets of an IPv6 literal.
fn is_authority(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]".contains(&b))
}

/// `GrpcService { envoy_grpc: EnvoyGrpc { cluster_name, authority } }`
/// (field 1, and fields 1 and 2 in it). Each length must stay below 128 to
/// be one byte that is valid UTF-8; when both names do not fit one
/// `envoy_grpc`, it is written twice, once per name: protobuf merges
/// repeated occurrences of a message field.
fn grpc_service(cluster: &str, authority: &str) -> String {
    fn field(tag: u8, value: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        // Both names are at most MAX_NAME_BYTES: every length is one byte.
        out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(value);
    }
    const ENVOY_GRPC: u8 = 1 << 3 | 2;
    const CLUSTER_NAME: u8 = 1 << 3 | 2;
    const AUTHORITY: u8 = 2 << 3 | 2;
    let mut inner = Vec::new();
    field(CLUSTER_NAME, cluster.as_bytes(), &mut inner);
    let mut out = Vec::new();
    if inner.len() + 2 + authority.len() < 128 {
        field(AUTHORITY, authority.as_bytes(), &mut inner);
        field(ENVOY_GRPC, &inner, &mut out);
    } else {
        field(ENVOY_GRPC, &inner, &mut out);
        inner.clear();
        field(AUTHORITY, authority.as_bytes(), &mut inner);
        field(ENVOY_GRPC, &inner, &mut out);
    }
    // Every byte is a name's (UTF-8) or a tag or length below 128.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    struct GrpcService {
        #[prost(message, optional, tag = "1")]
        envoy_grpc: Option<EnvoyGrpc>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct EnvoyGrpc {
        #[prost(string, tag = "1")]
        cluster_name: String,
        #[prost(string, tag = "2")]
        authority: String,
    }

    fn decoded(service: &str) -> EnvoyGrpc {
        GrpcService::decode(service.as_bytes())
            .unwrap()
            .envoy_grpc
            .unwrap()
    }

    fn collector(cluster: &str, authority: Option<&str>) -> Result<CollectorConfig, ConfigError> {
        RawCollector {
            cluster: cluster.into(),
            authority: authority.map(Into::into),
            hash_key: Some(HashKey::None),
            min_backoff_ms: None,
            max_backoff_ms: None,
        }
        .validate()
    }

    #[test]
    fn istio_cluster_names_give_host_and_port() {
        let c = collector(
            "outbound|4317||observatory-collector.observatory.svc.cluster.local",
            None,
        )
        .unwrap();
        assert_eq!(
            c.authority,
            "observatory-collector.observatory.svc.cluster.local:4317"
        );
        let g = decoded(&c.service_for("p1"));
        assert_eq!(g.cluster_name, c.cluster);
        assert_eq!(g.authority, c.authority);
        let c = collector("outbound|4317|v1|collector.obs.svc.cluster.local", None).unwrap();
        assert_eq!(c.authority, "collector.obs.svc.cluster.local:4317");
    }

    #[test]
    fn other_names_are_their_own_authority_unless_configured() {
        let c = collector("observatory_collector", None).unwrap();
        assert_eq!(c.authority, "observatory_collector");
        assert_eq!(
            decoded(&c.service_for("p1")).authority,
            "observatory_collector"
        );
        let c = collector("observatory_collector", Some("collector.example:4317")).unwrap();
        assert_eq!(
            decoded(&c.service_for("p1")).authority,
            "collector.example:4317"
        );
        let c = collector("outbound|4317||a.b", Some("x:1")).unwrap();
        assert_eq!(c.authority, "x:1");
    }

    #[test]
    fn long_names_are_written_in_two_merged_parts() {
        let host = format!("{}.observatory.svc.cluster.local", "c".repeat(63));
        let cluster = format!("outbound|4317||{host}");
        let c = collector(&cluster, None).unwrap();
        let service = c.service_for("p1");
        assert!(service.len() > 130, "{}", service.len());
        let g = decoded(&service);
        assert_eq!(
            (g.cluster_name.as_str(), g.authority.as_str()),
            (cluster.as_str(), format!("{host}:4317").as_str())
        );
    }

    fn keyed(cluster: &str, authority: Option<&str>) -> Result<CollectorConfig, ConfigError> {
        RawCollector {
            cluster: cluster.into(),
            authority: authority.map(Into::into),
            hash_key: None,
            min_backoff_ms: None,
            max_backoff_ms: None,
        }
        .validate()
    }

    #[test]
    fn by_default_the_authority_is_keyed_by_proxy() {
        let c = keyed("outbound|4317||collector.obs.svc.cluster.local", None).unwrap();
        assert_eq!(c.hash_key, HashKey::Proxy);
        // FNV-1a 64 of "a" is af63dc4c8601ec8c: the key does not change between versions.
        assert_eq!(
            c.authority_for("a"),
            "paf63dc4c8601ec8c.collector.obs.svc.cluster.local:4317"
        );
        let a = decoded(&c.service_for("sidecar~10.0.0.7~orders-1.shop~shop.svc.cluster.local"));
        let b = decoded(&c.service_for("sidecar~10.0.0.8~orders-2.shop~shop.svc.cluster.local"));
        assert_ne!(a.authority, b.authority);
        assert!(is_authority(&a.authority), "{}", a.authority);
        assert_eq!(a.cluster_name, c.cluster);
        let again =
            decoded(&c.service_for("sidecar~10.0.0.7~orders-1.shop~shop.svc.cluster.local"));
        assert_eq!(a.authority, again.authority);
    }

    #[test]
    fn an_authority_too_long_for_the_key_is_an_error() {
        let host = "h".repeat(MAX_NAME_BYTES - PROXY_LABEL_BYTES + 1);
        let e = keyed("c", Some(&host)).unwrap_err().to_string();
        assert!(
            e.starts_with("collector.authority: longer than 107 bytes"),
            "{e}"
        );
        assert!(collector("c", Some(&host)).is_ok(), "fits without the key");
    }

    #[test]
    fn unusable_names_are_rejected() {
        for (cluster, authority, expected) in [
            ("a|b", None, "collector.authority: needed"),
            ("outbound|x||host", None, "collector.authority: needed"),
            ("outbound|4317||", None, "collector.authority: needed"),
            (
                "c",
                Some("bad authority"),
                "collector.authority: not a host[:port]",
            ),
            ("c", Some(""), "collector.authority: not a host[:port]"),
            (
                &"c".repeat(126),
                None,
                "collector.cluster: longer than 125 bytes",
            ),
        ] {
            let e = collector(cluster, authority).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{cluster:?} {authority:?}: {e}");
        }
    }
}
