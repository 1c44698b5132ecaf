//! `decode/corpus` and `encode/corpus`: grafi-events on the real corpus, in bytes/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn codec(c: &mut Criterion) {
    let lines = grafi_benches::corpus_lines();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let events: Vec<_> = lines
        .iter()
        .map(|l| grafi_events::decode_str(l).unwrap())
        .collect();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for line in &lines {
                std::hint::black_box(grafi_events::decode_str(line).unwrap());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for event in &events {
                std::hint::black_box(event.to_json());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
