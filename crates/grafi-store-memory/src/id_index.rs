//! The id index: event id → event, an insert-only open-addressing table in which one slot is
//! one cache line holding the id's hash, the id itself (when short) and the event.
//!
//! Why not a general hash map: on a store too large for the CPU caches and TLB, every memory
//! touch of a lookup is a miss. `HashMap<Box<str>, Arc<Event>>` touches the table slot, the
//! key's own allocation and then the event; hashbrown's table with the id inside the slot
//! still keeps its control bytes apart from its slots. Here a lookup usually reads one line
//! before the event (linear probing at most half full: 1.5 slots on average for a stored id,
//! the next ones adjacent in memory). Events are never removed one by one, only the whole
//! store at once, so probing needs no tombstones.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use grafi_events::Event;

/// Ids up to this many bytes live in the slot (grafi's are 32 hex digits).
const INLINE: usize = 38;

/// An event id, inline when short.
enum IdKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl IdKey {
    fn new(id: &[u8]) -> Self {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..id.len()].copy_from_slice(id);
                IdKey::Inline { len, bytes }
            }
            _ => IdKey::Heap(id.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            IdKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdKey::Heap(bytes) => bytes,
        }
    }
}

/// One stored id. Aligned to a cache line so that a slot never straddles two.
#[repr(align(64))]
struct Slot {
    /// The id's full hash: most mismatches are told apart without comparing ids.
    hash: u64,
    key: IdKey,
    event: Arc<Event>,
}

// An empty slot costs no more than a full one (the key's tag leaves a niche for `None`), and
// a slot is exactly one line.
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 64);

/// Event id → event. Hashing is std's (SipHash with a random key) by default: ids come from
/// outside, and a keyed hash keeps crafted ids from piling up in one probe run.
pub(crate) struct IdIndex<S = RandomState> {
    /// A power of two in length (or empty), at most half full: a probe always ends.
    slots: Vec<Option<Slot>>,
    len: usize,
    hasher: S,
}

impl Default for IdIndex {
    fn default() -> Self {
        Self::with_hasher(RandomState::new())
    }
}

impl<S: BuildHasher> IdIndex<S> {
    fn with_hasher(hasher: S) -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            hasher,
        }
    }

    fn hash(&self, id: &[u8]) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Where the probe for `hash` starts.
    fn home(&self, hash: u64) -> usize {
        // Truncation intended: the low bits pick the slot; `slots.len()` is a power of two.
        (hash as usize) & (self.slots.len() - 1)
    }

    /// The slot probed after `i`, wrapping at the end of the table.
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Arc<Event>> {
        if self.slots.is_empty() {
            return None;
        }
        let id = id.as_bytes();
        let hash = self.hash(id);
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(slot) if slot.hash == hash && slot.key.as_bytes() == id => {
                    return Some(&slot.event)
                }
                Some(_) => i = self.next(i),
            }
        }
    }

    /// Makes room for `additional` more ids at once: a batch then grows the table at most
    /// once instead of at every doubling. At worst (a batch of duplicates as large as the
    /// store) the table is sized as if they were new.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let wanted = self.len.saturating_add(additional);
        if wanted.saturating_mul(2) > self.slots.len() {
            self.grow_to(wanted.saturating_mul(2).next_power_of_two().max(16));
        }
    }

    /// Moves every slot to a table of `capacity` slots. Hashes are stored, so nothing is
    /// hashed again.
    fn grow_to(&mut self, capacity: usize) {
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(capacity, || None);
        for slot in old.into_iter().flatten() {
            let mut i = self.home(slot.hash);
            while self.slots[i].is_some() {
                i = self.next(i);
            }
            self.slots[i] = Some(slot);
        }
    }

    /// Adds `event` under its id unless that id is stored already (the first write wins).
    /// One hash and one probe either way. Returns whether it was added.
    pub(crate) fn insert_if_new(&mut self, event: &Arc<Event>) -> bool {
        self.reserve(1);
        let id = event.event_id().as_bytes();
        let hash = self.hash(id);
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => break,
                Some(slot) if slot.hash == hash && slot.key.as_bytes() == id => return false,
                Some(_) => i = self.next(i),
            }
        }
        self.slots[i] = Some(Slot {
            hash,
            key: IdKey::new(id),
            event: Arc::clone(event),
        });
        self.len += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafi_events::{InvokeContext, NodeInfo};

    fn event_with_id(id: &str) -> Arc<Event> {
        let mut event = Event::node_failed(
            InvokeContext::new("c", "r"),
            NodeInfo::new("n", "T"),
            vec![],
            "x",
        );
        event.meta_mut().unwrap().event_id = id.to_owned();
        Arc::new(event)
    }

    #[test]
    fn short_long_and_empty_ids_are_found_and_told_apart() {
        let ids = [
            String::new(),
            "a".to_owned(),
            "x".repeat(INLINE - 1),
            "x".repeat(INLINE),
            "x".repeat(INLINE + 1),
            "x".repeat(300),
            "é🦀\u{0}".to_owned(),
        ];
        let mut index = IdIndex::default();
        for id in &ids {
            assert!(index.get(id).is_none());
            assert!(index.insert_if_new(&event_with_id(id)));
        }
        for id in &ids {
            assert!(!index.insert_if_new(&event_with_id(id)), "{id} added twice");
        }
        for id in &ids {
            assert_eq!(index.get(id).map(|e| e.event_id()), Some(id.as_str()));
        }
        for absent in ["b", "x", &"x".repeat(INLINE + 2), &"x".repeat(299)] {
            assert!(index.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn many_ids_survive_the_table_growing() {
        let mut index = IdIndex::default();
        let ids: Vec<String> = (0..10_000).map(|i| format!("id-{i}")).collect();
        index.reserve(100);
        for id in &ids {
            assert!(index.insert_if_new(&event_with_id(id)));
        }
        assert!(ids.iter().all(|id| index.get(id).unwrap().event_id() == id));
    }

    /// Hashes every id to the last slot: every id collides, and every probe wraps around.
    struct AllCollide;

    impl BuildHasher for AllCollide {
        type Hasher = AllCollideHasher;
        fn build_hasher(&self) -> AllCollideHasher {
            AllCollideHasher
        }
    }

    struct AllCollideHasher;

    impl std::hash::Hasher for AllCollideHasher {
        fn write(&mut self, _: &[u8]) {}
        fn finish(&self) -> u64 {
            u64::MAX
        }
    }

    #[test]
    fn ids_with_one_hash_are_probed_past_each_other_and_across_the_end() {
        let mut index = IdIndex::with_hasher(AllCollide);
        let ids: Vec<String> = (0..100).map(|i| format!("id-{i}")).collect();
        for (n, id) in ids.iter().enumerate() {
            assert!(index.insert_if_new(&event_with_id(id)));
            assert!(!index.insert_if_new(&event_with_id(id)), "{id} added twice");
            // Everything stored so far is still found after each insert (and each growth).
            for earlier in &ids[..=n] {
                assert_eq!(index.get(earlier).unwrap().event_id(), earlier);
            }
            assert!(index.get(&format!("id-{}", n + 1)).is_none());
        }
        assert_eq!(index.len, 100);
        assert!(index.slots.len() >= 200, "at most half full");
    }
}
