//! The module's contexts, by the id Envoy gives each: roots (one per plugin
//! configuration in this VM, each an engine [`Plugin`]) and HTTP streams
//! (one per request, each an engine [`HttpFilter`]).
//!
//! A stream lives from `proxy_on_context_create` to `proxy_on_done`: Envoy
//! calls done right before delete, and nothing after it, so the module does
//! not export `proxy_on_delete` and saves Envoy that entry into the VM on
//! every request. A root leaves when its plugin is done.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use log::warn;
use observatory_engine::http::HttpFilter;
use observatory_engine::plugin::Plugin;

/// Roots and streams by context id.
pub struct Contexts {
    /// Few (one per plugin configuration in the VM): a list.
    roots: Vec<(u32, Plugin)>,
    streams: HashMap<u32, HttpFilter, BuildHasherDefault<IdHasher>>,
}

impl Default for Contexts {
    fn default() -> Self {
        Self::new()
    }
}

impl Contexts {
    pub const fn new() -> Self {
        Contexts {
            roots: Vec::new(),
            streams: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }

    /// A root has no parent; a stream names its root. A stream whose root
    /// is unknown gets no context, and its callbacks let the request pass.
    pub fn create(&mut self, id: u32, parent: u32) {
        if parent == 0 {
            self.roots.retain(|(root, _)| *root != id);
            self.roots.push((id, Plugin::new(id)));
            return;
        }
        match self.root(parent) {
            Some(plugin) => {
                let filter = plugin.http_filter();
                self.streams.insert(id, filter);
            }
            None => warn!("context {id} names an unknown root context {parent}"),
        }
    }

    pub fn root(&mut self, id: u32) -> Option<&mut Plugin> {
        self.roots
            .iter_mut()
            .find(|(root, _)| *root == id)
            .map(|(_, plugin)| plugin)
    }

    pub fn stream(&mut self, id: u32) -> Option<&mut HttpFilter> {
        self.streams.get_mut(&id)
    }

    /// Takes a stream out, to be dropped once the table is no longer borrowed.
    pub fn remove_stream(&mut self, id: u32) -> Option<HttpFilter> {
        self.streams.remove(&id)
    }

    pub fn remove_root(&mut self, id: u32) -> Option<Plugin> {
        let at = self.roots.iter().position(|(root, _)| *root == id)?;
        Some(self.roots.swap_remove(at).1)
    }

    #[cfg(test)]
    pub fn streams(&self) -> usize {
        self.streams.len()
    }
}

/// Envoy counts context ids up from 1 in each VM. One multiply by an odd
/// constant spreads them over the table's buckets (the low bits) and tags
/// (the high bits); the default SipHash would cost more than the lookup.
#[derive(Default)]
pub struct IdHasher(u64);

const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(SPREAD);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(SPREAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_stream_lives_under_a_known_root_until_removed() {
        let mut contexts = Contexts::new();
        contexts.create(1, 0);
        contexts.create(2, 1);
        contexts.create(3, 1);
        assert!(contexts.root(1).is_some());
        assert!(contexts.stream(2).is_some());
        assert!(contexts.root(2).is_none(), "a stream is not a root");
        assert!(contexts.stream(1).is_none(), "a root is not a stream");
        assert_eq!(contexts.streams(), 2);

        assert!(contexts.remove_stream(2).is_some());
        assert!(contexts.stream(2).is_none());
        assert!(contexts.remove_stream(2).is_none());
        assert_eq!(contexts.streams(), 1);
    }

    #[test]
    fn a_stream_of_an_unknown_root_gets_no_context() {
        let mut contexts = Contexts::new();
        contexts.create(1, 0);
        contexts.create(5, 9);
        assert!(contexts.stream(5).is_none());
        assert_eq!(contexts.streams(), 0);
    }

    #[test]
    fn roots_come_and_go_by_id() {
        let mut contexts = Contexts::new();
        contexts.create(1, 0);
        contexts.create(4, 0);
        contexts.create(1, 0);
        assert!(contexts.remove_root(1).is_some());
        assert!(
            contexts.remove_root(1).is_none(),
            "a re-created root replaces the old one"
        );
        assert!(contexts.root(4).is_some());
        contexts.create(6, 4);
        assert!(contexts.stream(6).is_some());
    }

    #[test]
    fn sequential_ids_hash_to_distinct_buckets_and_tags() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1..=256u32).map(|id| build.hash_one(id)).collect();
        // The table indexes buckets by the low bits: 256 ids, 256 buckets.
        let mut buckets: Vec<u64> = hashes.iter().map(|h| h & 0xFF).collect();
        buckets.sort_unstable();
        buckets.dedup();
        assert_eq!(buckets.len(), 256);
        // and tags each entry with the top 7 bits of the low 32.
        let mut tags: Vec<u64> = hashes.iter().map(|h| (h >> 25) & 0x7F).collect();
        tags.sort_unstable();
        tags.dedup();
        assert!(tags.len() > 64, "{} distinct tags", tags.len());
    }
}
