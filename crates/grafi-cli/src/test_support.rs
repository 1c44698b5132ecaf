//! What the commands' unit tests share: a store holding the real grafi corpus.

use std::sync::Arc;

use grafi_events::Event;
use grafi_store::{EventStore, MemoryEventStore};
use grafi_store_core::conformance::grafi_corpus;

/// An in-memory store holding the grafi 0.0.24 corpus (211 events).
pub(crate) async fn corpus_store() -> MemoryEventStore {
    let store = MemoryEventStore::new();
    store.record_events(grafi_corpus()).await.unwrap();
    store
}

/// The events' ids, in order.
pub(crate) fn ids(events: &[Arc<Event>]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}
