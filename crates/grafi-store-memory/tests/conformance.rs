//! The shared conformance suite, on the in-memory store.

use grafi_store_memory::MemoryEventStore;

async fn setup() -> Box<MemoryEventStore> {
    Box::new(MemoryEventStore::new())
}

grafi_store_core::conformance_suite!(setup);

mod streams {
    grafi_store_core::streams_suite!(super::setup);
}

mod lifecycle {
    grafi_store_core::lifecycle_suite!(super::setup);
}
