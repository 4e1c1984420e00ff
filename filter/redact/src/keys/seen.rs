//! Key rules' answers kept across calls, per thread: a service's requests
//! repeat the same few dozen keys, and in a proxy whose own work has
//! emptied the CPU's caches since the last request, reading one line of
//! this table costs less than walking the trie again (a line or two per
//! node). A slot holds the key itself, so a collision only costs a walk,
//! and each key has two slots side by side, so two keys a request keeps
//! alternating between do not evict each other. 256 slots of one line
//! each: 16 KiB per thread that classifies keys.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{shape_hash, Ctx};

const SLOTS: usize = 256;
/// Longest key kept; longer keys are walked every time.
const KEY_BYTES: usize = 50;

/// One cache line: the rules it was computed with, the answer, the key.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// [`owner`] of the rules; 0: empty.
    owner: u64,
    ctx: Option<Ctx>,
    marker: u8,
    len: u8,
    key: [u8; KEY_BYTES],
}

const EMPTY: Slot = Slot {
    owner: 0,
    ctx: None,
    marker: 0,
    len: 0,
    key: [0; KEY_BYTES],
};

/// The two slots a key may be kept in, newest first, in one 128-byte block.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Pair([Slot; 2]);

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TABLE: RefCell<Vec<Pair>> = const { RefCell::new(Vec::new()) };
}

/// A new id for a set of rules, never handed out again in this process.
pub(super) fn owner() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

/// The answer for `key` under the rules `owner`: this thread's copy when it
/// has one, else `walk`'s, kept.
pub(super) fn classify(
    owner: u64,
    key: &[u8],
    walk: impl FnOnce() -> (Option<Ctx>, u8),
) -> (Option<Ctx>, u8) {
    let len = match u8::try_from(key.len()) {
        Ok(len) if (1..=KEY_BYTES).contains(&key.len()) => len,
        _ => return walk(),
    };
    let set = set(owner, key);
    let kept = TABLE.try_with(|table| {
        let table = table.try_borrow().ok()?;
        table.get(set)?.0.iter().find_map(|entry| {
            let same =
                entry.owner == owner && entry.len == len && entry.key.get(..key.len()) == Some(key);
            same.then_some((entry.ctx, entry.marker))
        })
    });
    if let Ok(Some(answer)) = kept {
        return answer;
    }
    let (ctx, marker) = walk();
    let mut stored = [0; KEY_BYTES];
    if let Some(head) = stored.get_mut(..key.len()) {
        head.copy_from_slice(key);
    }
    // Not kept if the table is out of reach (the thread is ending).
    let _ = TABLE.try_with(|table| {
        let Ok(mut table) = table.try_borrow_mut() else {
            return;
        };
        if table.is_empty() {
            table.resize(SLOTS / 2, Pair([EMPTY; 2]));
        }
        // The newest first: the older of the two moves to the second slot.
        if let Some(Pair([first, second])) = table.get_mut(set) {
            *second = *first;
            *first = Slot {
                owner,
                ctx,
                marker,
                len,
                key: stored,
            };
        }
    });
    (ctx, marker)
}

/// The pair of slots of `key` under `owner` (its low bits seed the hash;
/// the slot's own `owner` tells rules apart).
fn set(owner: u64, key: &[u8]) -> usize {
    (shape_hash(owner as u32, key) >> (32 - (SLOTS / 2).trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        assert_eq!(std::mem::align_of::<Slot>(), 64);
        assert_eq!(std::mem::size_of::<Pair>(), 128);
        assert_eq!(std::mem::align_of::<Pair>(), 128);
    }

    #[test]
    fn two_keys_of_one_pair_are_both_kept_and_a_third_evicts_the_older() {
        let owner = owner();
        // Three keys whose slots are the same pair.
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let first = b"key_0".to_vec();
        for i in 1.. {
            let key = format!("key_{i}").into_bytes();
            if set(owner, &key) == set(owner, &first) {
                keys.push(key);
                if keys.len() == 2 {
                    break;
                }
            }
        }
        let (a, b, c) = (first.as_slice(), keys[0].as_slice(), keys[1].as_slice());
        let walks = std::cell::Cell::new(0);
        let ask = |key: &[u8]| {
            classify(owner, key, || {
                walks.set(walks.get() + 1);
                (Some(Ctx::SCAN), 0)
            })
        };
        for key in [a, b, a, b, a, b] {
            ask(key);
        }
        assert_eq!(walks.get(), 2, "a and b kept side by side");
        ask(c);
        ask(b);
        assert_eq!(walks.get(), 3, "c evicted a, the older");
        ask(a);
        assert_eq!(walks.get(), 4);
    }

    #[test]
    fn answers_are_kept_per_owner_and_key() {
        let (a, b) = (owner(), owner());
        let scan = Some(Ctx::SCAN);
        let allow = Some(Ctx::Allow);
        let mut walks = 0;
        let mut ask = |owner, key: &[u8], answer: (Option<Ctx>, u8)| {
            classify(owner, key, || {
                walks += 1;
                answer
            })
        };
        assert_eq!(ask(a, b"email", (scan, 1)), (scan, 1));
        assert_eq!(ask(a, b"email", (allow, 0)), (scan, 1), "kept");
        assert_eq!(ask(b, b"email", (allow, 0)), (allow, 0), "other rules");
        assert_eq!(ask(a, b"emai", (None, 0)), (None, 0), "other key");
        let long = [b'k'; KEY_BYTES + 1];
        assert_eq!(ask(a, &long, (scan, 0)), (scan, 0));
        assert_eq!(ask(a, &long, (allow, 0)), (allow, 0), "too long to keep");
        assert_eq!(ask(a, b"", (allow, 0)), (allow, 0));
        assert_eq!(walks, 6);
    }
}
