//! What the filter knows about the downstream peer of a connection, cached
//! per connection.
//!
//! Reading the peer's address, mTLS state and certificate SAN costs one
//! host call each, and they are the same for every request on a keep-alive
//! connection. Envoy numbers connections uniquely for the life of the
//! process, so an entry keyed by the connection id can never describe
//! another connection; the cache only has to stay bounded.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// The downstream peer of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub mtls: bool,
    /// URI SAN of the peer certificate; empty without mTLS.
    pub principal: String,
    /// IP of the peer, without the port.
    pub source_ip: String,
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
    /// the connection. Connection id 0 (unknown) is never cached.
    pub fn get_or_read(&mut self, connection: u64, read: impl FnOnce() -> Peer) -> Rc<Peer> {
        if connection == 0 {
            return Rc::new(read());
        }
        if let Some(peer) = self.peers.get(&connection) {
            return Rc::clone(peer);
        }
        let peer = Rc::new(read());
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
