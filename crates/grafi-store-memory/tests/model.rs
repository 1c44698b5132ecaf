//! Model-based test of the in-memory store: random sequences of record, batch (with
//! duplicates and invalid events), every read, paging and clear, against a `Vec` reference
//! (`grafi_store_core::conformance::model`, the same on every backend).
//! `GRAFI_MODEL_CASES` overrides the case count (default 1,000, up to 50 operations each).

use grafi_store_memory::MemoryEventStore;

async fn setup() -> Box<MemoryEventStore> {
    Box::new(MemoryEventStore::new())
}

grafi_store_core::model_suite!(backend: "memory", setup: setup);
