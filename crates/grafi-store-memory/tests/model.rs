//! Model-based test of the in-memory store: random sequences of record, batch (with
//! duplicates and invalid events), every read, paging and clear, against a `Vec` reference.
//! `GRAFI_MODEL_CASES` overrides the case count (default 1,000, up to 50 operations each).

#[path = "../../grafi-store-diesel/tests/common/model.rs"]
mod model;

use grafi_store_memory::MemoryEventStore;

#[test]
fn memory_store_agrees_with_the_reference_model() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryEventStore::new();
    let started = std::time::Instant::now();
    let (cases, ops) = model::check_store(&runtime, &store, model::cases(1_000), 50);
    println!(
        "model (memory): {cases} cases, {ops} operations, 0 divergences in {:.1?}",
        started.elapsed()
    );
    assert!(cases >= model::cases(1_000));
}
