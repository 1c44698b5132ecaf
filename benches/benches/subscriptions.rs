//! Subscriptions on PostgreSQL: how soon a subscriber sees an event after its commit, and how
//! fast it catches up on a stored table against a raw read of the same rows.
//!
//! * **Latency** (`subscribe_latency/postgres/{notify,poll}`): a writer records single events
//!   (`record_event`) at 1,000 a second while one subscription, started from `end_cursor()` on
//!   a store of its own, receives them; per event, the time from the writer's `record_event`
//!   returning (the commit) to the subscriber receiving it. Once with the writer's default
//!   `NOTIFY` after each commit (`notify`), once with `.notify(false)` (`poll`: the subscriber
//!   sees events at its next poll, default interval). Not a criterion group: criterion
//!   summarises repeated timings of one call by their mean and median, and this is the
//!   distribution of a delay over thousands of events, whose tail is the point. Its p50, p99
//!   and max are printed and written to `criterion/subscriptions/latency_{notify,poll}.json`
//!   for `bench-report`.
//! * **Catch-up** (`catch_up/{backend}/100000` vs `raw_catch_up/{backend}/100000`): a
//!   subscription from `Cursor::start()` consuming all 100,000 events of a table (decoded, as
//!   it delivers them), against one raw tokio-postgres query of the same columns in the same
//!   order (`ORDER BY grafi_tx, id`), every row fetched and none decoded: the rows as text, which
//!   is what a raw client gets. Then both alternated, one full read each per round
//!   ([`CATCH_UP_ROUNDS`] rounds), written to `criterion/subscriptions/catch_up_{backend}.json`
//!   for `bench-report`: the two criterion groups run tens of seconds apart, and this machine's
//!   speed drifts within seconds.
//!
//! Catch-up runs on both table layouts: grafi 0.0.24's (`postgres`, the 0.0.24 corpus) and
//! grafi 0.0.36's (`postgres36`, the 0.0.36 corpus). Latency runs on grafi 0.0.24's.
//!
//! Each part runs in a scratch database on `DATABASE_URL` (default the local server), dropped
//! at the end, as `postgres.rs` does. A filtered run does a part only if a filter mentions it
//! (`latency`; `catch_up`, or `catch_up/postgres/` or `catch_up/postgres36/` for one layout):
//! loading a catch-up table takes longer than most groups.

mod common;

use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use futures::{pin_mut, StreamExt, TryStreamExt};
use grafi_benches::{dataset, dataset36};
use grafi_events::{Dialect, Event};
use grafi_store_core::{Cursor, EventStore, Filter};
use grafi_store_diesel::{DieselEventStore, DieselStoreBuilder};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};

/// The writer's rate in the latency runs, events per second.
const LATENCY_RATE: u64 = 1_000;
/// Events recorded first and left out of the latency figures: the subscription's listener
/// connects in the background after its first read, and the pools open their connections.
const LATENCY_WARM_UP: usize = 1_000;
/// Events whose latency is measured, per mode.
const LATENCY_EVENTS: usize = 5_000;
/// Events in the catch-up table.
const CATCH_UP_EVENTS: usize = 100_000;
/// Alternated rounds of the paired catch-up (one full read of each side per round).
const CATCH_UP_ROUNDS: usize = 5;

/// A scratch database, dropped with this value, and the runtime everything runs on.
struct Scratch {
    rt: Runtime,
    name: String,
    /// Connection string of the scratch database, in plain text (`sslmode=disable`) like the
    /// raw reads (`NoTls`): the ratios measure the store's work, not TLS.
    url: String,
}

impl Scratch {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (name, url) = common::create_database(&rt);
        Self { rt, name, url }
    }

    /// A store on the scratch database (the first one creates the `events` table).
    fn store(
        &self,
        configure: impl FnOnce(DieselStoreBuilder) -> DieselStoreBuilder,
    ) -> DieselEventStore {
        let builder = DieselEventStore::builder(self.url.clone()).pool_size(4);
        self.rt.block_on(configure(builder).connect()).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        common::drop_database(&self.rt, &self.name);
    }
}

/// How the subscriber learns of new events in a latency run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wakeups {
    /// The writer's store sends its `NOTIFY` after each commit (the default).
    Notify,
    /// `.notify(false)`: the subscriber reads at its polling interval only.
    Poll,
}

impl Wakeups {
    fn name(self) -> &'static str {
        match self {
            Wakeups::Notify => "notify",
            Wakeups::Poll => "poll",
        }
    }
}

fn latency(_: &mut Criterion) {
    let filters = common::filters();
    if !filters.is_empty() && !filters.iter().any(|f| f.contains("latency")) {
        return;
    }
    let scratch = Scratch::new();
    for wakeups in [Wakeups::Notify, Wakeups::Poll] {
        latency_of(&scratch, wakeups);
    }
}

/// The latency of every measured event, from its writer's `record_event` returning to the
/// subscriber receiving it; and the rate the writer kept over the measured events.
fn latency_of(scratch: &Scratch, wakeups: Wakeups) {
    // Two stores, as a writing and a subscribing service would have: the subscriber's reads
    // do not queue behind the writer's calls in one pool.
    let writer = scratch.store(|b| b.notify(wakeups == Wakeups::Notify));
    let reader = scratch.store(|b| b);
    let poll_interval = reader.config().poll_interval();
    let events = dataset(LATENCY_WARM_UP + LATENCY_EVENTS);
    let written: Vec<String> = events.iter().map(|e| e.event_id().to_owned()).collect();

    let (committed, received) = scratch.rt.block_on(async {
        let from = reader.end_cursor().await.unwrap();
        let mut subscription = reader.subscribe(from, Filter::all());
        // On a worker thread of its own; the subscriber runs on this one.
        let writing = tokio::spawn(async move {
            // The default `Burst`: a tick missed while the machine was busy is made up at
            // once, so the writer keeps 1,000 a second on average.
            let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE));
            let mut committed = Vec::with_capacity(events.len());
            for event in events {
                ticks.tick().await;
                writer.record_event(event).await.unwrap();
                committed.push(Instant::now());
            }
            committed
        });
        let writing_time = Duration::from_secs(written.len() as u64 / LATENCY_RATE);
        let deadline = tokio::time::Instant::now() + writing_time + Duration::from_secs(60);
        let mut received = Vec::with_capacity(written.len());
        while received.len() < written.len() {
            let next = tokio::time::timeout_at(deadline, subscription.next()).await;
            let at = Instant::now();
            match next {
                Ok(Some(Ok(item))) => received.push((item.event, at)),
                Ok(Some(Err(error))) => panic!("subscription failed: {error}"),
                Ok(None) => panic!("subscription ended"),
                Err(_) => panic!(
                    "the subscription delivered {} of {} events in time (a transaction held \
                     open elsewhere on the server holds every subscription back)",
                    received.len(),
                    written.len()
                ),
            }
        }
        (writing.await.unwrap(), received)
    });

    // One writer, one transaction per event: positions follow the calls.
    let delivered: Vec<&str> = received.iter().map(|(e, _)| e.event_id()).collect();
    assert_eq!(delivered, written, "the subscription's order");

    let measured = LATENCY_WARM_UP..written.len();
    let mut early = 0;
    let mut latencies: Vec<Duration> = measured
        .clone()
        .map(|i| {
            let (commit, at) = (committed[i], received[i].1);
            if at < commit {
                early += 1;
            }
            at.saturating_duration_since(commit)
        })
        .collect();
    latencies.sort_unstable();
    let span = committed[measured.end - 1] - committed[measured.start];
    let achieved = (latencies.len() - 1) as f64 / span.as_secs_f64();
    let (p50, p99, max) = (
        common::percentile(&latencies, 50.0),
        common::percentile(&latencies, 99.0),
        latencies[latencies.len() - 1],
    );
    let id = format!("subscribe_latency/postgres/{}", wakeups.name());
    println!(
        "{id}: {} events at {achieved:.0}/s: p50 {p50:.2?}, p99 {p99:.2?}, max {max:.2?} \
         ({early} received before their record_event returned; poll interval {poll_interval:?})",
        latencies.len()
    );
    common::write_report(
        "subscriptions",
        &format!("latency_{}", wakeups.name()),
        &serde_json::json!({
            "id": id,
            "notify": wakeups == Wakeups::Notify,
            "poll_interval_ns": poll_interval.as_nanos() as u64,
            "rate_per_s": LATENCY_RATE,
            "achieved_per_s": achieved,
            "events": latencies.len(),
            "p50_ns": p50.as_nanos() as u64,
            "p99_ns": p99.as_nanos() as u64,
            "max_ns": max.as_nanos() as u64,
            "received_before_return": early,
        }),
    );
}

/// Which grafi's table a catch-up reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// grafi 0.0.24's: `event_context` (jsonb) and `data` (json).
    V24,
    /// grafi 0.0.36's: `event_version` and `event_data` (jsonb), and the store's `extra`.
    V36,
}

impl Layout {
    /// The backend part of the benchmark ids.
    fn backend(self) -> &'static str {
        match self {
            Layout::V24 => "postgres",
            Layout::V36 => "postgres36",
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Layout::V24 => Dialect::V0_0_24,
            Layout::V36 => Dialect::V0_0_36,
        }
    }

    fn dataset(self, n: usize) -> Vec<Event> {
        match self {
            Layout::V24 => dataset(n),
            Layout::V36 => dataset36(n),
        }
    }

    /// The raw read: the columns the store's page query selects, as text, in position
    /// order, without its horizon and its pages. `ORDER BY` names the table's columns: a bare
    /// `grafi_tx` or `id` there would mean the output columns of those names (the casts).
    fn raw_query(self) -> &'static str {
        match self {
            Layout::V24 => {
                "SELECT id::int8, event_id, assistant_request_id, event_type, \
                 event_context::text, data::text, \"timestamp\", extra::text, \
                 grafi_tx::text::int8 FROM events ORDER BY events.grafi_tx, events.id"
            }
            Layout::V36 => {
                "SELECT id::int8, event_id, assistant_request_id, event_type, \
                 event_version::text, event_data::text, \"timestamp\", extra::text, \
                 grafi_tx::text::int8 FROM events ORDER BY events.grafi_tx, events.id"
            }
        }
    }

    /// Whether the run's filters ask for this layout's catch-up: no filter, one naming its
    /// groups (`catch_up/postgres/`, `catch_up/postgres36/`), or one naming `catch_up` and no
    /// layout.
    fn catch_up_wanted(self) -> bool {
        let filters = common::filters();
        let own = format!("catch_up/{}/", self.backend());
        filters.is_empty()
            || filters
                .iter()
                .any(|f| f.contains(&own) || (f.contains("catch_up") && !f.contains("postgres")))
    }
}

fn catch_up(c: &mut Criterion) {
    for layout in [Layout::V24, Layout::V36] {
        if layout.catch_up_wanted() {
            catch_up_on(c, layout);
        }
    }
}

fn catch_up_on(c: &mut Criterion, layout: Layout) {
    let backend = layout.backend();
    let scratch = Scratch::new();
    let store = scratch.store(|b| b.dialect(layout.dialect()));
    let client = scratch.rt.block_on(common::connect(&scratch.url));
    for chunk in layout.dataset(CATCH_UP_EVENTS).chunks(10_000) {
        scratch
            .rt
            .block_on(store.record_events(chunk.to_vec()))
            .unwrap();
    }
    scratch.rt.block_on(async {
        // As `postgres.rs` does before its reads: hint bits set and the visibility map
        // current (a long-lived table's state), and no dirty pages left for the first group.
        client
            .batch_execute("VACUUM (ANALYZE) events")
            .await
            .unwrap();
        let _ = client.batch_execute("CHECKPOINT").await;
        // A subscription reads only rows below the oldest transaction running anywhere on
        // the server: wait until nothing older than the load holds them back.
        let final_rows = "SELECT count(*) FROM events \
                          WHERE grafi_tx < pg_snapshot_xmin(pg_current_snapshot())";
        let waited = Instant::now();
        while client
            .query_one(final_rows, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            < CATCH_UP_EVENTS as i64
        {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "a transaction open elsewhere on the server holds the loaded rows back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let raw = scratch
        .rt
        .block_on(client.prepare(layout.raw_query()))
        .unwrap();
    let ours = || {
        let start = Instant::now();
        scratch.rt.block_on(subscriber_catch_up(&store));
        start.elapsed()
    };
    let theirs = || {
        let start = Instant::now();
        scratch.rt.block_on(raw_read(&client, &raw));
        start.elapsed()
    };

    for (group_name, read) in [
        ("catch_up", &ours as &dyn Fn() -> Duration),
        ("raw_catch_up", &theirs),
    ] {
        let mut group = c.benchmark_group(group_name);
        group
            .throughput(Throughput::Elements(CATCH_UP_EVENTS as u64))
            .sample_size(10)
            // One read per sample: each takes seconds.
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(10));
        group.bench_function(BenchmarkId::new(backend, CATCH_UP_EVENTS), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| read()).sum())
        });
        group.finish();
    }

    let mut rounds = Vec::with_capacity(CATCH_UP_ROUNDS);
    for round in 0..CATCH_UP_ROUNDS {
        let pair = if round % 2 == 0 {
            let ours = ours();
            [ours, theirs()]
        } else {
            let theirs = theirs();
            [ours(), theirs]
        };
        rounds.push(pair);
    }
    let of = format!("catch_up/{backend}/{CATCH_UP_EVENTS}");
    let to = format!("raw_catch_up/{backend}/{CATCH_UP_EVENTS}");
    let ratios: Vec<String> = rounds
        .iter()
        .map(|[ours, raw]| format!("{:.2}", raw.as_secs_f64() / ours.as_secs_f64()))
        .collect();
    println!(
        "{of} paired: rate ÷ the raw read's, per round: {}",
        ratios.join(", ")
    );
    let rounds_ns: Vec<[u64; 2]> = rounds
        .iter()
        .map(|pair| pair.map(|d| d.as_nanos() as u64))
        .collect();
    common::write_report(
        "subscriptions",
        &format!("catch_up_{backend}"),
        &serde_json::json!({
            "of": of,
            "to": to,
            "events": CATCH_UP_EVENTS,
            "rounds_ns": rounds_ns,
        }),
    );
}

/// A subscription from the start, consumed until it has delivered every stored event, then
/// dropped.
async fn subscriber_catch_up(store: &DieselEventStore) {
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    for _ in 0..CATCH_UP_EVENTS {
        subscription.next().await.unwrap().unwrap();
    }
}

/// The raw read, every row fetched and dropped undecoded.
async fn raw_read(client: &Client, statement: &Statement) {
    let rows = client
        .query_raw(statement, std::iter::empty::<i64>())
        .await
        .unwrap();
    pin_mut!(rows);
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, CATCH_UP_EVENTS);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = latency, catch_up
}
criterion_main!(benches);
