//! Concurrency on the in-memory store: 16 writers × 1,000 events with 4 readers polling, and
//! the same batch replayed 3 times concurrently.

#[path = "../../grafi-store-diesel/tests/common/concurrency.rs"]
mod concurrency;

use std::sync::Arc;

use grafi_store_memory::MemoryEventStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_four_readers_nothing_lost_or_duplicated() {
    let f =
        concurrency::writers_with_readers(Arc::new(MemoryEventStore::new()), 16, 1_000, 4).await;
    println!(
        "concurrency (memory): {} writers × {} events in {} batches, {} reads: {} stored, {} lost, {} duplicated, 0 inconsistent reads, {:.1?}",
        f.writers, f.events_per_writer, f.batches, f.reads, f.stored, f.lost, f.duplicated, f.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_batch_replayed_three_times_concurrently_is_stored_once() {
    let stored = concurrency::replayed_batches(Arc::new(MemoryEventStore::new()), 10, 3).await;
    println!("replay (memory): 10 rounds × 3 concurrent copies: {stored} events stored, each once");
}
