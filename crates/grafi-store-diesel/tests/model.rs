//! Model-based test of the PostgreSQL store: random sequences of record, batch (with
//! duplicates and invalid events), every read, paging and clear, against a `Vec` reference,
//! on one scratch database cleared between cases.
//!
//! `GRAFI_MODEL_CASES` overrides the case count (default below, up to 50 operations each).

mod common;
#[path = "common/model.rs"]
mod model;

/// Cases in the default run (fits the workspace's test-time budget; see docs/reliability.md
/// for the 1,000-case figure, `GRAFI_MODEL_CASES=1000`).
const DEFAULT_CASES: u32 = 1_000;

#[test]
fn postgres_store_agrees_with_the_reference_model() {
    common::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = runtime.block_on(common::setup());
    let started = std::time::Instant::now();
    let wanted = model::cases(DEFAULT_CASES);
    let (cases, ops) = model::check_store(&runtime, &*fixture, wanted, 50);
    println!(
        "model (postgres): {cases} cases, {ops} operations, 0 divergences in {:.1?}",
        started.elapsed()
    );
    assert!(cases >= wanted);
    drop(fixture);
}
