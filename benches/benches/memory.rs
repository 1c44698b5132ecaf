//! The in-memory store: `record_events/memory/{size}`, `get_event/memory/{store size}`,
//! `get_conversation_events/memory/{store size}`, and the `*_cold` variants of the reads.

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

/// How many distinct events (and conversations) each read benchmark cycles through, the same
/// at every store size: the store size is then the only variable, as the scaling target wants.
/// (Cycling through a share of the store instead would compare a cache-resident working set
/// at 10,000 events with a DRAM-resident one at 1,000,000; `*_cold` measures that case.)
const HOT_EVENTS: usize = 1_000;
const HOT_CONVERSATIONS: usize = 50;

/// `count` indexes spread evenly over `0..len`, in a scrambled (but fixed) order so that
/// consecutive reads are not neighbours in memory.
fn spread(len: usize, count: usize) -> Vec<usize> {
    let count = count.min(len);
    let mut picks: Vec<usize> = (0..count).map(|i| i * len / count).collect();
    // A fixed multiplicative scramble: deterministic, no RNG dependency.
    let n = picks.len();
    let mut order: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
    if gcd(7919, n) != 1 {
        order = (0..n).collect();
    }
    order
        .iter()
        .map(|&i| std::mem::take(&mut picks[i]))
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Uniformly scattered picks over the whole store, for the cold (cache-missing) reads.
fn scattered(len: usize, count: usize) -> Vec<usize> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            // xorshift64*: a fixed pseudo-random sequence.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % len as u64) as usize
        })
        .collect()
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    for store_size in [10_000usize, 100_000, 1_000_000] {
        let events = dataset(store_size);
        let event_id = |i: usize| events[i].event_id().to_owned();
        let hot_ids: Vec<String> = spread(store_size, HOT_EVENTS)
            .into_iter()
            .map(event_id)
            .collect();
        let cold_ids: Vec<String> = scattered(store_size, 100_000)
            .into_iter()
            .map(event_id)
            .collect();
        let conversations = store_size / CONVERSATION_LEN;
        let conversation = |k: usize| format!("bench-conv-{k}");
        let hot_conversations: Vec<String> = spread(conversations, HOT_CONVERSATIONS)
            .into_iter()
            .map(conversation)
            .collect();
        let cold_conversations: Vec<String> = scattered(conversations, 10_000)
            .into_iter()
            .map(conversation)
            .collect();
        let store = MemoryEventStore::new();
        rt.block_on(store.record_events(events)).unwrap();

        for (group_name, ids) in [("get_event", &hot_ids), ("get_event_cold", &cold_ids)] {
            let mut group = c.benchmark_group(group_name);
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
        }

        for (group_name, names) in [
            ("get_conversation_events", &hot_conversations),
            ("get_conversation_events_cold", &cold_conversations),
        ] {
            let mut group = c.benchmark_group(group_name);
            group.throughput(Throughput::Elements(CONVERSATION_LEN as u64));
            let mut k = 0;
            group.bench_function(BenchmarkId::new("memory", store_size), |b| {
                b.to_async(&rt).iter(|| {
                    k = (k + 1) % names.len();
                    let conv = &names[k];
                    let store = &store;
                    async move {
                        let got = store.get_conversation_events(conv).await.unwrap();
                        assert_eq!(got.len(), CONVERSATION_LEN);
                        got
                    }
                })
            });
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = record_events, reads
}
criterion_main!(benches);
