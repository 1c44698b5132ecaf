//! Concurrency on the in-memory store: 16 writers × 1,000 events with 4 readers polling, and
//! the same batch replayed 3 times concurrently. The scenarios are
//! `grafi_store_core::conformance::concurrency`, the same on every backend.

use grafi_store_memory::MemoryEventStore;

async fn setup() -> Box<MemoryEventStore> {
    Box::new(MemoryEventStore::new())
}

grafi_store_core::concurrency_suite!(backend: "memory", setup: setup);
