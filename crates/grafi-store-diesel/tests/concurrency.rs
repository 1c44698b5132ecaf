//! Concurrency on PostgreSQL: 16 writers × 1,000 events with 4 readers polling, and the same
//! batch replayed 3 times concurrently. The scenarios are
//! `grafi_store_core::conformance::concurrency`, the same on every backend.

mod common;

/// A scratch database, with a pool large enough for 16 writers and 4 readers at once.
async fn setup() -> common::TestStore {
    common::init_tracing();
    common::setup_with(|b| b.pool_size(20)).await
}

grafi_store_core::concurrency_suite!(backend: "postgres", setup: setup);
