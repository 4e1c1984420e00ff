//! Per-sender sequence numbers: which batches are new, which are resends, and
//! which were skipped.
//!
//! Senders resend every unacknowledged batch after a reconnect, so the
//! collector remembers the highest stored `seq` of each (proxy_id,
//! instance_id). The table is bounded: past `capacity` the least recently
//! seen sender is forgotten (its next batch is taken as new, its next
//! heartbeat is answered with 0). The state lives in memory; at start it is
//! seeded from the batches still in the WAL ([`SenderTable::seed`]).

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

/// One sender instance; sequence numbers count per instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SenderKey {
    pub proxy_id: String,
    pub instance_id: String,
}

/// The highest stored seq of one sender (0: none known). Held locked while a
/// batch of that sender is written, so two streams of the same sender
/// cannot both store the same batch.
pub type StoredSeq = Arc<tokio::sync::Mutex<u64>>;

/// How a batch's seq relates to what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Already stored: ack, do not write again.
    Duplicate,
    /// To be stored; `missing` holds skipped sequence numbers, if any.
    New {
        missing: Option<RangeInclusive<u64>>,
    },
}

/// Classifies batch `seq` (> 0) against `stored`, the highest stored seq.
/// A jump is only detectable for a known sender: after a collector restart
/// or an eviction, `stored` is 0 and the first batch's seq says nothing.
pub fn classify(stored: u64, seq: u64) -> Order {
    if seq <= stored {
        Order::Duplicate
    } else if stored > 0 && seq > stored + 1 {
        Order::New {
            missing: Some(stored + 1..=seq - 1),
        }
    } else {
        Order::New { missing: None }
    }
}

/// Bounded map from sender to [`StoredSeq`], least recently used out first.
pub struct SenderTable {
    capacity: NonZeroUsize,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    clock: u64,
    slots: HashMap<SenderKey, Slot>,
    by_last_use: BTreeMap<u64, SenderKey>,
}

struct Slot {
    seq: StoredSeq,
    last_use: u64,
}

impl SenderTable {
    pub fn new(capacity: NonZeroUsize) -> Self {
        SenderTable {
            capacity,
            lru: Mutex::new(Lru::default()),
        }
    }

    /// The sender's slot, created (at 0) if unknown. Also returns the
    /// sender forgotten to make room, if any.
    pub fn slot(&self, key: &SenderKey) -> (StoredSeq, Option<SenderKey>) {
        let mut lru = self.lock();
        if let Some(seq) = lru.touch(key) {
            return (seq, None);
        }
        let evicted = if lru.slots.len() >= self.capacity.get() {
            lru.evict_oldest()
        } else {
            None
        };
        let seq = StoredSeq::default();
        lru.clock += 1;
        let last_use = lru.clock;
        lru.slots.insert(
            key.clone(),
            Slot {
                seq: seq.clone(),
                last_use,
            },
        );
        lru.by_last_use.insert(last_use, key.clone());
        (seq, evicted)
    }

    /// Remembers stored seqs of an earlier run (as far as the capacity
    /// allows), so that resends of batches stored before a restart are
    /// recognised as duplicates.
    pub fn seed(&self, stored: &HashMap<SenderKey, u64>) {
        for (key, seq) in stored.iter().take(self.capacity.get()) {
            let (slot, _) = self.slot(key);
            // Nobody else holds a slot before the server starts.
            if let Ok(mut stored) = slot.try_lock() {
                *stored = (*stored).max(*seq);
            };
        }
    }

    /// The sender's slot if it is known; heartbeats use this so that they
    /// cannot fill the table.
    pub fn get(&self, key: &SenderKey) -> Option<StoredSeq> {
        self.lock().touch(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().slots.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // Nothing panics while the lock is held, and the map stays
        // consistent even if something did.
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lru {
    /// Marks `key` as just used and returns its slot.
    fn touch(&mut self, key: &SenderKey) -> Option<StoredSeq> {
        self.clock += 1;
        let now = self.clock;
        let slot = self.slots.get_mut(key)?;
        let before = std::mem::replace(&mut slot.last_use, now);
        let seq = slot.seq.clone();
        if let Some(k) = self.by_last_use.remove(&before) {
            self.by_last_use.insert(now, k);
        }
        Some(seq)
    }

    fn evict_oldest(&mut self) -> Option<SenderKey> {
        let (_, key) = self.by_last_use.pop_first()?;
        self.slots.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(n: u32) -> SenderKey {
        SenderKey {
            proxy_id: format!("proxy-{n}"),
            instance_id: "vm".into(),
        }
    }

    #[test]
    fn classify_orders_batches() {
        assert_eq!(classify(0, 1), Order::New { missing: None });
        assert_eq!(classify(3, 4), Order::New { missing: None });
        assert_eq!(classify(3, 3), Order::Duplicate);
        assert_eq!(classify(3, 1), Order::Duplicate);
        assert_eq!(
            classify(3, 7),
            Order::New {
                missing: Some(4..=6)
            }
        );
        // Unknown sender (new, restarted collector or evicted): no jump claimed.
        assert_eq!(classify(0, 9), Order::New { missing: None });
    }

    #[tokio::test]
    async fn slot_is_shared_per_sender() {
        let table = SenderTable::new(NonZeroUsize::new(10).unwrap());
        assert!(table.get(&key(1)).is_none());
        let (seq, evicted) = table.slot(&key(1));
        assert!(evicted.is_none());
        *seq.lock().await = 5;
        assert_eq!(*table.get(&key(1)).unwrap().lock().await, 5);
        assert_eq!(*table.slot(&key(1)).0.lock().await, 5);
        let other = SenderKey {
            instance_id: "other-vm".into(),
            ..key(1)
        };
        assert_eq!(*table.slot(&other).0.lock().await, 0);
        assert_eq!(table.len(), 2);
    }

    #[tokio::test]
    async fn evicts_least_recently_used_beyond_capacity() {
        let table = SenderTable::new(NonZeroUsize::new(2).unwrap());
        *table.slot(&key(1)).0.lock().await = 11;
        *table.slot(&key(2)).0.lock().await = 22;
        // Using 1 again makes 2 the oldest.
        assert!(table.get(&key(1)).is_some());
        let (_, evicted) = table.slot(&key(3));
        assert_eq!(evicted, Some(key(2)));
        assert_eq!(table.len(), 2);
        assert!(table.get(&key(2)).is_none());
        assert_eq!(*table.get(&key(1)).unwrap().lock().await, 11);
        // A forgotten sender starts over at 0.
        let (seq, evicted) = table.slot(&key(2));
        assert_eq!(evicted, Some(key(3)));
        assert_eq!(*seq.lock().await, 0);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn heartbeats_do_not_fill_the_table() {
        let table = SenderTable::new(NonZeroUsize::new(1).unwrap());
        for n in 0..100 {
            assert!(table.get(&key(n)).is_none());
        }
        assert_eq!(table.len(), 0);
    }
}
