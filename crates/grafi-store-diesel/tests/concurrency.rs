//! Concurrency on PostgreSQL: 16 writers × 1,000 events with 4 readers polling, and the same
//! batch replayed 3 times concurrently.

mod common;
#[path = "common/concurrency.rs"]
mod concurrency;

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_four_readers_nothing_lost_or_duplicated() {
    common::init_tracing();
    let db = common::ScratchDb::new().await;
    let store = common::builder(&db).pool_size(20).connect().await.unwrap();
    let f = concurrency::writers_with_readers(Arc::new(store.clone()), 16, 1_000, 4).await;
    println!(
        "concurrency (postgres): {} writers × {} events in {} batches, {} reads: {} stored, {} lost, {} duplicated, 0 inconsistent reads, {:.1?}",
        f.writers, f.events_per_writer, f.batches, f.reads, f.stored, f.lost, f.duplicated, f.elapsed
    );
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_batch_replayed_three_times_concurrently_is_stored_once() {
    let fixture = common::setup().await;
    let stored = concurrency::replayed_batches(Arc::new(fixture.store.clone()), 10, 3).await;
    println!(
        "replay (postgres): 10 rounds × 3 concurrent copies: {stored} events stored, each once"
    );
}
