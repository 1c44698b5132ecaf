//! The id index: event id → event, with short ids stored inside the table.
//!
//! Why not `HashMap<Box<str>, Arc<Event>>`: there a lookup touches the table slot, then the
//! key's own allocation to compare it, then the event. On a store too large for the CPU
//! caches each touch is a miss to main memory; keeping ids of up to [`INLINE`] bytes (grafi's
//! are 32 hex digits) in the slot saves one of the three.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use grafi_events::Event;
use hashbrown::hash_table::Entry as Slot;
use hashbrown::HashTable;

/// Ids up to this many bytes live in the table slot.
const INLINE: usize = 38;

/// An event id, inline when short.
enum IdKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl IdKey {
    fn new(id: &str) -> Self {
        let id = id.as_bytes();
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

struct Entry {
    key: IdKey,
    event: Arc<Event>,
}

/// Event id → event. Hashing is std's (SipHash with a random key): ids come from outside.
#[derive(Default)]
pub(crate) struct IdIndex {
    table: HashTable<Entry>,
    hasher: RandomState,
}

impl IdIndex {
    fn hash(&self, id: &[u8]) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Arc<Event>> {
        let id = id.as_bytes();
        self.table
            .find(self.hash(id), |entry| entry.key.as_bytes() == id)
            .map(|entry| &entry.event)
    }

    /// Makes room for `additional` more ids at once: a batch then grows the table, and
    /// re-hashes the ids already stored, at most once instead of at every doubling. At worst
    /// (a batch of duplicates as large as the store) the table is sized as if they were new.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(additional, |entry| hasher.hash_one(entry.key.as_bytes()));
    }

    /// Adds `event` under its id unless that id is stored already (the first write wins).
    /// One hash and one probe either way. Returns whether it was added.
    pub(crate) fn insert_if_new(&mut self, event: &Arc<Event>) -> bool {
        let id = event.event_id().as_bytes();
        let hash = self.hash(id);
        let hasher = &self.hasher;
        match self.table.entry(
            hash,
            |entry| entry.key.as_bytes() == id,
            |entry| hasher.hash_one(entry.key.as_bytes()),
        ) {
            Slot::Occupied(_) => false,
            Slot::Vacant(slot) => {
                slot.insert(Entry {
                    key: IdKey::new(event.event_id()),
                    event: Arc::clone(event),
                });
                true
            }
        }
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
}
