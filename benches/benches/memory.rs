//! The in-memory store: `record_events/memory/{size}`, `get_event/memory/{store size}`,
//! `get_conversation_events/memory/{store size}`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use grafi_benches::{dataset, CONVERSATION_LEN};
use grafi_store_core::EventStore;
use grafi_store_memory::MemoryEventStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn record_events(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("record_events");
    for size in [1usize, 10, 100, 1_000, 10_000] {
        let events = dataset(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("memory", size), &events, |b, events| {
            b.to_async(&rt).iter_batched(
                || (MemoryEventStore::new(), events.clone()),
                |(store, events)| async move {
                    let outcome = store.record_events(events).await.unwrap();
                    assert_eq!(outcome.recorded, size);
                    store // dropped outside the timed region by iter_batched
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    for store_size in [10_000usize, 100_000, 1_000_000] {
        let events = dataset(store_size);
        let ids: Vec<String> = events
            .iter()
            .step_by(97)
            .map(|e| e.event_id().to_owned())
            .collect();
        let store = MemoryEventStore::new();
        rt.block_on(store.record_events(events)).unwrap();
        let conversations = store_size / CONVERSATION_LEN;

        let mut group = c.benchmark_group("get_event");
        group.throughput(Throughput::Elements(1));
        let mut i = 0;
        group.bench_function(BenchmarkId::new("memory", store_size), |b| {
            b.to_async(&rt).iter(|| {
                i = (i + 1) % ids.len();
                let id = &ids[i];
                let store = &store;
                async move { store.get_event(id).await.unwrap().unwrap() }
            })
        });
        group.finish();

        let mut group = c.benchmark_group("get_conversation_events");
        group.throughput(Throughput::Elements(CONVERSATION_LEN as u64));
        let mut k = 0;
        group.bench_function(BenchmarkId::new("memory", store_size), |b| {
            b.to_async(&rt).iter(|| {
                k = (k + 7) % conversations;
                let conv = format!("bench-conv-{k}");
                let store = &store;
                async move {
                    let got = store.get_conversation_events(&conv).await.unwrap();
                    assert_eq!(got.len(), CONVERSATION_LEN);
                    got
                }
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = record_events, reads
}
criterion_main!(benches);
