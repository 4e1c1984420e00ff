//! What the filter knows about the downstream peer of a connection, cached
//! per connection.
//!
//! Reading the peer's address, mTLS state and certificate SAN costs one
//! host call each, and they are the same for every request on a keep-alive
//! connection. Envoy numbers connections uniquely for the life of the
//! process, so an entry keyed by the connection id can never describe
//! another connection; the cache only has to stay bounded.
//!
//! The address is the TCP peer's, never a header's. Envoy's `source.address`
//! is not always that: unless the listener uses the remote address, Envoy
//! takes it from `X-Forwarded-For` (with port 0). So the filter reads, in
//! this order: the filter state `observatory.peer`, which
//! `envoy.filters.http.set_filter_state` sets ahead of the filter to
//! `%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%` (origin `filter_state`); else
//! `source.address` when its port is not 0 (origin `peer`); else nothing
//! (empty address and origin), and such a peer is not cached: a later
//! request on the connection may tell the address.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::host::Host;
use crate::record::ip_of_address;

/// Where [`Peer::source_ip`] was read.
pub const FROM_FILTER_STATE: &str = "filter_state";
pub const FROM_SOURCE_ADDRESS: &str = "peer";
/// The filter state key `set_filter_state` is configured with.
const PEER_FILTER_STATE: &[u8] = b"filter_state\0observatory.peer";

/// The downstream peer of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub mtls: bool,
    /// URI SAN of the peer certificate; empty without mTLS.
    pub principal: String,
    /// IP of the peer, without the port.
    pub source_ip: String,
    /// [`FROM_FILTER_STATE`], [`FROM_SOURCE_ADDRESS`], or empty when the
    /// address is unknown.
    pub source_ip_origin: &'static str,
}

impl Peer {
    /// The downstream peer as Envoy knows it: one host call per fact.
    pub fn read<H: Host>(host: &H) -> Peer {
        // Plaintext (the cheap answer) needs no certificate lookup.
        let mtls = host.property_bool(b"connection\0mtls");
        let principal = if mtls {
            host.property_string(b"connection\0uri_san_peer_certificate")
                .unwrap_or_default()
        } else {
            String::new()
        };
        let (source_ip, source_ip_origin) = match host.property_string(PEER_FILTER_STATE) {
            Some(address) => (ip_of_address(&address).to_owned(), FROM_FILTER_STATE),
            None => match host.property_string(b"source\0address") {
                Some(address) if has_port(&address) => {
                    (ip_of_address(&address).to_owned(), FROM_SOURCE_ADDRESS)
                }
                _ => (String::new(), ""),
            },
        };
        Peer {
            mtls,
            principal,
            source_ip,
            source_ip_origin,
        }
    }
}

/// Whether an Envoy address (`1.2.3.4:5678`, `[::1]:5678`) ends in a port
/// other than 0: an address Envoy took from a header has port 0.
fn has_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .is_some_and(|port| port != 0)
}

/// Bounded map from connection id to [`Peer`]; the oldest entry goes first
/// when it is full (connections that ended are never told to the filter).
/// Entries are shared, so a request takes its peer without copying it.
#[derive(Debug)]
pub struct PeerCache {
    capacity: usize,
    peers: HashMap<u64, Rc<Peer>>,
    order: VecDeque<u64>,
}

impl PeerCache {
    pub fn new(capacity: usize) -> Self {
        PeerCache {
            capacity: capacity.max(1),
            peers: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The peer of `connection`, read with `read` on the first request of
    /// the connection. Connection id 0 (unknown) and a peer without address
    /// are never cached.
    pub fn get_or_read(&mut self, connection: u64, read: impl FnOnce() -> Peer) -> Rc<Peer> {
        if let Some(peer) = self.peers.get(&connection) {
            return Rc::clone(peer);
        }
        let peer = Rc::new(read());
        if connection == 0 || peer.source_ip_origin.is_empty() {
            return peer;
        }
        while self.peers.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.peers.remove(&oldest);
                }
                None => break,
            }
        }
        self.peers.insert(connection, Rc::clone(&peer));
        self.order.push_back(connection);
        peer
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn peer(ip: &str) -> Peer {
        Peer {
            mtls: false,
            principal: String::new(),
            source_ip: ip.to_string(),
            source_ip_origin: FROM_SOURCE_ADDRESS,
        }
    }

    #[test]
    fn reads_once_per_connection() {
        let mut cache = PeerCache::new(8);
        let mut reads = 0;
        for _ in 0..3 {
            let p = cache.get_or_read(7, || {
                reads += 1;
                peer("10.0.0.7")
            });
            assert_eq!(p.source_ip, "10.0.0.7");
        }
        assert_eq!(reads, 1);
        let other = cache.get_or_read(8, || peer("10.0.0.8"));
        assert_eq!(other.source_ip, "10.0.0.8");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn unknown_connection_is_read_every_time() {
        let mut cache = PeerCache::new(8);
        let mut reads = 0;
        for _ in 0..2 {
            cache.get_or_read(0, || {
                reads += 1;
                peer("10.0.0.1")
            });
        }
        assert_eq!(reads, 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_peer_without_address_is_read_again() {
        let mut cache = PeerCache::new(8);
        let mut reads = 0;
        for _ in 0..2 {
            cache.get_or_read(7, || {
                reads += 1;
                Peer::default()
            });
        }
        assert_eq!(reads, 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_address_comes_from_the_connection_never_from_a_header() {
        use crate::host::mock::MockHost;
        let host = MockHost::default();
        // Envoy took source.address from X-Forwarded-For: port 0.
        host.set_property(&["source", "address"], b"203.0.113.9:0");
        let p = Peer::read(&host);
        assert_eq!((p.source_ip.as_str(), p.source_ip_origin), ("", ""));
        host.set_property(&["filter_state", "observatory.peer"], b"127.0.0.1:40000");
        let p = Peer::read(&host);
        assert_eq!(
            (p.source_ip.as_str(), p.source_ip_origin),
            ("127.0.0.1", FROM_FILTER_STATE)
        );
        let host = MockHost::default();
        host.set_property(&["source", "address"], b"[::1]:40000");
        let p = Peer::read(&host);
        assert_eq!(
            (p.source_ip.as_str(), p.source_ip_origin),
            ("::1", FROM_SOURCE_ADDRESS)
        );
    }

    #[test]
    fn stays_bounded_and_evicts_the_oldest() {
        let mut cache = PeerCache::new(2);
        cache.get_or_read(1, || peer("a"));
        cache.get_or_read(2, || peer("b"));
        cache.get_or_read(3, || peer("c"));
        assert_eq!(cache.len(), 2);
        // 1 was evicted, so it is read again; 3 is still cached.
        let mut reread = false;
        cache.get_or_read(1, || {
            reread = true;
            peer("a2")
        });
        assert!(reread);
        let p3 = cache.get_or_read(3, || peer("changed"));
        assert_eq!(p3.source_ip, "c");
        assert_eq!(cache.len(), 2);
    }
}
