//! `decode/corpus` and `encode/corpus`: grafi-events on the real grafi 0.0.24 corpus, in
//! bytes/s; `decode/corpus36` and `encode/corpus36` on grafi 0.0.36's.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn codec(c: &mut Criterion) {
    for (name, lines) in [
        ("corpus", grafi_benches::corpus_lines()),
        ("corpus36", grafi_benches::corpus36_lines()),
    ] {
        corpus(c, name, &lines);
    }
}

fn corpus(c: &mut Criterion, name: &str, lines: &[&str]) {
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let events: Vec<_> = lines
        .iter()
        .map(|l| grafi_events::decode_str(l).unwrap())
        .collect();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for line in lines {
                std::hint::black_box(grafi_events::decode_str(line).unwrap());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(name, |b| {
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
