//! Bad input on the in-memory store: refused with a typed error naming the event (nothing of
//! the call written), or accepted as data and returned unchanged. The scenarios are
//! `grafi_store_core::conformance::bad_input`, the same on every backend.

use grafi_store_core::Limits;
use grafi_store_memory::MemoryEventStore;

async fn setup() -> Box<MemoryEventStore> {
    Box::new(MemoryEventStore::new())
}

async fn setup_with_limits(limits: Limits) -> Box<MemoryEventStore> {
    Box::new(MemoryEventStore::with_limits(limits))
}

grafi_store_core::bad_input_suite!(
    backend: "memory",
    setup: setup,
    setup_with_limits: setup_with_limits,
);
