//! Concurrency: many writers with readers polling, and the same batch replayed by concurrent
//! callers. Run by [`concurrency_suite!`](crate::concurrency_suite) on a multi-threaded runtime;
//! the store is shared with spawned tasks, hence `Arc<dyn EventStore>`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grafi_events::Event;

use super::{agent_trace, simple_events};
use crate::EventStore;

/// splitmix64: a deterministic, dependency-free generator for batch sizes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// What [`writers_with_readers`] measured (the test prints it).
#[derive(Debug, Default)]
pub struct Figures {
    /// Concurrent writers.
    pub writers: usize,
    /// Events each writer recorded.
    pub events_per_writer: usize,
    /// `record_events` calls, all writers together.
    pub batches: usize,
    /// Reads the readers made, all methods together.
    pub reads: usize,
    /// Events stored at the end.
    pub stored: usize,
    /// Events written but not stored (asserted 0).
    pub lost: usize,
    /// Events stored more than once (asserted 0).
    pub duplicated: usize,
    /// Wall time of the whole scenario.
    pub elapsed: Duration,
}

fn conv(w: usize) -> String {
    format!("conv-writer-{w}")
}

/// Checks that `got` (one writer's events, as read) is a prefix of what it writes, at least
/// as long as what had been acknowledged before the read started.
fn check_prefix(what: &str, got: &[Arc<Event>], expected: &[String], acked_before: usize) {
    assert!(
        got.len() <= expected.len(),
        "{what}: {} events read, only {} written",
        got.len(),
        expected.len()
    );
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(
            g.event_id(),
            e,
            "{what}: read is not a prefix of the recording order (position {i})"
        );
    }
    assert!(
        got.len() >= acked_before,
        "{what}: {} events read, but {acked_before} were acknowledged before the read began",
        got.len()
    );
}

/// `writers` × `per_writer` events in batches of 1–50 while `readers` poll every read method:
/// nothing lost, nothing duplicated, no event ever disappears from a read once seen,
/// per-conversation and per-request reads are prefixes of the writer's order and include
/// every acknowledged event.
pub async fn writers_with_readers(
    store: Arc<dyn EventStore>,
    writers: usize,
    per_writer: usize,
    readers: usize,
) -> Figures {
    let started = Instant::now();
    let events: Arc<Vec<Vec<Event>>> = Arc::new(
        (0..writers)
            .map(|w| simple_events(&conv(w), &format!("req-writer-{w}"), per_writer))
            .collect(),
    );
    let expected: Arc<Vec<Vec<String>>> = Arc::new(
        events
            .iter()
            .map(|es| es.iter().map(|e| e.event_id().to_owned()).collect())
            .collect(),
    );
    let acked: Arc<Vec<AtomicUsize>> =
        Arc::new((0..writers).map(|_| AtomicUsize::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    let mut reader_tasks = Vec::new();
    for r in 0..readers {
        let (store, expected, acked, done, reads) = (
            store.clone(),
            expected.clone(),
            acked.clone(),
            done.clone(),
            reads.clone(),
        );
        reader_tasks.push(tokio::spawn(async move {
            let mut ever_seen: HashSet<String> = HashSet::new();
            let mut round = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let before: Vec<usize> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
                let w = (r + round) % expected.len();
                // Full read: no duplicate, nothing seen before has gone, per-writer prefixes.
                let all = store.get_events().await.expect("get_events");
                let ids: HashSet<&str> = all.iter().map(|e| e.event_id()).collect();
                assert_eq!(ids.len(), all.len(), "reader {r}: duplicate in get_events");
                for id in &ever_seen {
                    assert!(
                        ids.contains(id.as_str()),
                        "reader {r}: {id} was read before and has disappeared"
                    );
                }
                ever_seen.extend(ids.iter().map(|s| (*s).to_owned()));
                for (wi, exp) in expected.iter().enumerate() {
                    let name = conv(wi);
                    let mine: Vec<Arc<Event>> = all
                        .iter()
                        .filter(|e| e.conversation_id() == name)
                        .cloned()
                        .collect();
                    check_prefix("get_events", &mine, exp, before[wi]);
                }
                // Per-conversation and per-request reads of one writer.
                let before_w = acked[w].load(Ordering::SeqCst);
                let c = store
                    .get_conversation_events(&conv(w))
                    .await
                    .expect("get_conversation_events");
                check_prefix("get_conversation_events", &c, &expected[w], before_w);
                let a = store
                    .get_agent_events(&format!("req-writer-{w}"))
                    .await
                    .expect("get_agent_events");
                check_prefix("get_agent_events", &a, &expected[w], before_w);
                // The writer's last acknowledged event is found by id.
                if before_w > 0 {
                    let last = &expected[w][before_w - 1];
                    assert!(
                        store.get_event(last).await.expect("get_event").is_some(),
                        "acknowledged event {last} not found"
                    );
                }
                reads.fetch_add(5, Ordering::Relaxed);
                round += 1;
                // The memory store never suspends: let the writers run.
                tokio::time::sleep(Duration::from_millis(2)).await;
                if finished {
                    break;
                }
            }
        }));
    }

    let mut writer_tasks = Vec::new();
    for w in 0..writers {
        let (store, events, acked) = (store.clone(), events.clone(), acked.clone());
        writer_tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xC0FFEE + w as u64);
            let mine = &events[w];
            let (mut at, mut batches) = (0, 0);
            while at < mine.len() {
                let n = rng.range(1, 50).min(mine.len() - at);
                let outcome = store
                    .record_events(mine[at..at + n].to_vec())
                    .await
                    .expect("record_events");
                assert_eq!((outcome.recorded, outcome.duplicates), (n, 0));
                at += n;
                batches += 1;
                acked[w].store(at, Ordering::SeqCst);
            }
            batches
        }));
    }
    let mut batches = 0;
    for t in writer_tasks {
        batches += t.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    for t in reader_tasks {
        t.await.expect("reader");
    }

    let all = store.get_events().await.unwrap();
    let stored: HashSet<&str> = all.iter().map(|e| e.event_id()).collect();
    let written: HashSet<&str> = expected.iter().flatten().map(String::as_str).collect();
    let figures = Figures {
        writers,
        events_per_writer: per_writer,
        batches,
        reads: reads.load(Ordering::Relaxed),
        stored: all.len(),
        lost: written.difference(&stored).count(),
        duplicated: all.len() - stored.len(),
        elapsed: started.elapsed(),
    };
    assert_eq!(figures.lost, 0, "events lost");
    assert_eq!(figures.duplicated, 0, "events duplicated");
    assert_eq!(figures.stored, writers * per_writer);
    for (w, exp) in expected.iter().enumerate() {
        let c = store.get_conversation_events(&conv(w)).await.unwrap();
        check_prefix("final", &c, exp, exp.len());
    }
    figures
}

/// The same batch recorded by 3 concurrent callers, `rounds` times: each round stores exactly
/// one copy of each event (`recorded` sums to the batch size, the rest are duplicates).
/// Returns the events stored.
pub async fn replayed_batches(store: Arc<dyn EventStore>, rounds: usize, copies: usize) -> usize {
    let mut total = 0;
    for round in 0..rounds {
        let batch = agent_trace(&format!("conv-replay-{round}"), 40, round as i64 * 100);
        let n = batch.len();
        let outcomes = futures::future::join_all((0..copies).map(|_| {
            let (store, batch) = (store.clone(), batch.clone());
            tokio::spawn(async move { store.record_events(batch).await.expect("replay") })
        }))
        .await;
        let recorded: usize = outcomes.iter().map(|o| o.as_ref().unwrap().recorded).sum();
        let duplicates: usize = outcomes
            .iter()
            .map(|o| o.as_ref().unwrap().duplicates)
            .sum();
        assert_eq!(
            (recorded, duplicates),
            (n, n * (copies - 1)),
            "round {round}"
        );
        let stored = store
            .get_conversation_events(&format!("conv-replay-{round}"))
            .await
            .unwrap();
        let ids: Vec<&str> = stored.iter().map(|e| e.event_id()).collect();
        let want: Vec<&str> = batch.iter().map(|e| e.event_id()).collect();
        assert_eq!(ids, want, "round {round}: not exactly one copy, in order");
        total += n;
    }
    let all = store.get_events().await.unwrap();
    assert_eq!(all.len(), total);
    total
}
