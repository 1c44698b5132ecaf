//! The whole suite again, its generated events written in grafi 0.0.36's dialect: the
//! in-memory store keeps either dialect (a store may hold both).

use grafi_events::Dialect;
use grafi_store_core::conformance::set_suite_dialect;
use grafi_store_core::Limits;
use grafi_store_memory::MemoryEventStore;

async fn setup() -> Box<MemoryEventStore> {
    set_suite_dialect(Dialect::V0_0_36);
    Box::new(MemoryEventStore::new())
}

async fn setup_with_limits(limits: Limits) -> Box<MemoryEventStore> {
    set_suite_dialect(Dialect::V0_0_36);
    Box::new(MemoryEventStore::with_limits(limits))
}

grafi_store_core::conformance_suite!(setup);
grafi_store_core::bad_input_suite!(
    backend: "memory, grafi 0.0.36",
    setup: setup,
    setup_with_limits: setup_with_limits,
);
grafi_store_core::concurrency_suite!(backend: "memory, grafi 0.0.36", setup: setup);
grafi_store_core::model_suite!(backend: "memory, grafi 0.0.36", setup: setup);

mod lifecycle {
    grafi_store_core::lifecycle_suite!(super::setup);
}
