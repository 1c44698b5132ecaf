//! Erasure and retention on PostgreSQL: how long a purge and an erasure of a large table take,
//! and whether a writer's `record_events` calls wait for them.
//!
//! The target: on a 1,000,000-event table, purging half of it must not block a concurrent
//! `record_events` for more than 200 ms at a time ([`BLOCKED`]).
//!
//! * **Purge under writes** (`purge_under_writes/postgres/1000000`): a table of 1,000,000
//!   events of the grafi 0.0.24 data (see [`build_table`]), exactly 500,000 of them older than
//!   the cut-off. A writer records batches of [`WRITER_BATCH`] fresh events
//!   (`record_events`), one batch every [`WRITER_INTERVAL`], for a baseline of [`BASELINE`]
//!   (after [`WARM_UP`], left out); then `purge_before(cut_off)` runs on a second store while
//!   the writer goes on, and the writer stops when the purge returns. Every write call's
//!   latency is kept with its start time; the calls that started before the purge and those
//!   that started during it are summarised apart: p50, p99, max, and how many took more than
//!   [`BLOCKED`].
//! * **Erase a user** (`erase_user/postgres/1000000`): on the table the purge left (after
//!   `VACUUM (ANALYZE)`, as the privacy guide says to run after a large purge), the same
//!   writer, baseline and figures around `erase_user` of a user whose 5,000 events (50
//!   conversations of 100, spread over the newer half) are about 1 % of what is left.
//!
//! The writer keeps a fixed rate rather than calling back to back: a service records at the
//! rate its agents produce events, and a writer saturating a connection on this 2-core machine
//! would mostly measure itself taking CPU from the purge. 10 events every 10 ms (1,000
//! events/s) is the rate of `subscriptions.rs`' writer. A tick missed while a call was blocked
//! is skipped, not made up: a blocked call shows as one long call, not as a burst after it.
//! The writer and the purge (or erasure) use two stores on the same database, each on a tokio
//! runtime of its own (2 worker threads each), as a service and a retention job in another
//! process would (`grafi-store purge` from cron): they share the machine's two cores, not
//! worker threads. Their connections report `application_name`s of their own.
//!
//! Meanwhile a third connection reads `pg_stat_activity` about every [`SAMPLE_INTERVAL`] (at
//! random, so as not to keep in step with the writer's ticks): the longest purge statement
//! (each is its own transaction) or erasure transaction it saw, and what the writer's backend
//! was waiting on in each sample (a lock, WAL, I/O, or nothing: on CPU), overall and during
//! each write call above [`SLOW`]. A statement seen idle afterwards gives its exact duration;
//! one seen only while running gives a lower bound, so the longest is a lower bound within one
//! interval. `pg_stat_statements` would time each statement exactly, but it needs
//! `shared_preload_libraries` on the server. The server's WAL written and checkpoints started
//! during the operation (`pg_stat_bgwriter`: server-wide) are reported too.
//!
//! Not criterion groups: criterion summarises repeated timings of one routine by their mean
//! and median, and this is one long operation and the distribution of a writer's latencies
//! while it runs, whose tail is the point. The figures are printed and written to
//! `criterion/lifecycle/{purge_under_writes,erase_user}.json` for `bench-report`.
//!
//! Runs in a scratch database on `DATABASE_URL` (default the local server), dropped at the
//! end, as the other PostgreSQL benches do; about 5 minutes, most of it loading the table and
//! vacuuming it. A filtered run does the purge if a filter mentions `purge`, and the purge and
//! the erasure (which runs on the purged table) if one mentions `erase`. Only `cargo bench`
//! (which passes `--bench`) runs them: built as a test or asked for `--list`, it does nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use grafi_benches::{corpus_events, dataset, CONVERSATION_LEN};
use grafi_events::{new_id, Event, Timestamp};
use grafi_store_core::lifecycle::values_of;
use grafi_store_core::EventStore;
use grafi_store_diesel::DieselEventStore;
use tokio::runtime::Runtime;
use tokio::time::MissedTickBehavior;
use tokio_postgres::Client;

/// Events in the table before the purge.
const TABLE_EVENTS: usize = 1_000_000;
/// Events older than the cut-off: the purge removes exactly these.
const OLD_EVENTS: usize = 500_000;
/// Events per `record_events` call while loading the table (through `COPY`).
const LOAD_BATCH: usize = 10_000;
/// What the table spans: one event every 15.6 s on average.
const TABLE_SPAN: TimeDelta = TimeDelta::days(180);
/// Clock skew and batching: every event's timestamp is up to this much after its place in
/// recording order.
const SKEW: TimeDelta = TimeDelta::seconds(60);
/// One event in [`LATE_ONE_IN`] arrives late (a client's queue replayed, a batch import):
/// its timestamp is up to this much older than its place in recording order.
const LATE_BY: TimeDelta = TimeDelta::days(7);
/// See [`LATE_BY`].
const LATE_ONE_IN: u64 = 50;
/// The erased user.
const USER: &str = "bench-user-erased";
/// Every conversation whose number is a multiple of this, from [`USER_FIRST_CONVERSATION`]
/// on, is the user's: 50 conversations of 100 events, all newer than the cut-off.
const USER_EVERY: usize = 90;
/// See [`USER_EVERY`].
const USER_FIRST_CONVERSATION: usize = 5_500;
/// Events per writer call.
const WRITER_BATCH: usize = 10;
/// One writer call per interval.
const WRITER_INTERVAL: Duration = Duration::from_millis(10);
/// Writer calls in the first part of the baseline, left out: the pools open connections.
const WARM_UP: Duration = Duration::from_secs(1);
/// The writer's measured time before the operation starts.
const BASELINE: Duration = Duration::from_secs(10);
/// The target: no write call held up longer than this.
const BLOCKED: Duration = Duration::from_millis(200);
/// How often `pg_stat_activity` is read, on average (sleeps of 0.5 to 1.5 times this).
const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);
/// `application_name` of the writer's connections.
const WRITER_APP: &str = "grafi-bench-writer";
/// `application_name` of the connections that load, purge and erase.
const OPERATOR_APP: &str = "grafi-bench-operator";

/// A scratch database, dropped with this value, and two runtimes:
/// the writer's, and the operator's (loading, purging, erasing).
struct Scratch {
    rt: Runtime,
    ops: Runtime,
    name: String,
    /// Connection string of the scratch database, in plain text (`sslmode=disable`).
    url: String,
}

impl Scratch {
    fn new() -> Self {
        let runtime = || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        };
        let (rt, ops) = (runtime(), runtime());
        let (name, url) = common::create_database(&rt);
        Self { rt, ops, name, url }
    }

    /// A store on the scratch database, on runtime `rt`, whose connections report
    /// `application_name` (the first one creates the `events` table).
    fn store(&self, rt: &Runtime, application_name: &str) -> DieselEventStore {
        let url = format!("{} application_name={application_name}", self.url);
        rt.block_on(DieselEventStore::builder(url).pool_size(4).connect())
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        common::drop_database(&self.rt, &self.name);
    }
}

/// A small deterministic generator (splitmix64): the same table every run.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// The table's timestamps, in recording (id) order, as UTC microseconds, and the cut-off
/// that exactly [`OLD_EVENTS`] of them are before.
///
/// Events are recorded in time order, as a real table is, one every 15.6 s on average over
/// [`TABLE_SPAN`] ending a day ago; each one's timestamp is up to [`SKEW`] after its place in
/// that order (writers' clocks and batching), and one in [`LATE_ONE_IN`] is up to [`LATE_BY`]
/// older (recorded late). So the table is old first and new last, with old and new events
/// interleaved over the days around the cut-off, and old ones scattered a week into the newer
/// half: the purge's last batches walk far to find them. The cut-off is the 500,001st
/// smallest timestamp.
fn timestamps() -> (Vec<i64>, i64) {
    let end = (Utc::now() - TimeDelta::days(1)).timestamp_micros();
    let span = TABLE_SPAN.num_microseconds().unwrap();
    let start = end - span;
    let step = span / TABLE_EVENTS as i64;
    let (skew, late) = (
        SKEW.num_microseconds().unwrap() as u64,
        LATE_BY.num_microseconds().unwrap() as u64,
    );
    let mut rng = SplitMix(0x6772_6166_692d_7273);
    let times: Vec<i64> = (0..TABLE_EVENTS as i64)
        .map(|i| {
            let mut t = start + i * step + rng.below(skew) as i64;
            if rng.below(LATE_ONE_IN) == 0 {
                t -= rng.below(late) as i64;
            }
            t
        })
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    let cut_off = sorted[OLD_EVENTS];
    assert!(
        sorted[OLD_EVENTS - 1] < cut_off,
        "two events share the cut-off"
    );
    (times, cut_off)
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

/// Whether conversation `k` of the table is the erased user's.
fn users(k: usize) -> bool {
    k >= USER_FIRST_CONVERSATION && k.is_multiple_of(USER_EVERY)
}

/// The templates of the table's events: the corpus events [`dataset`] uses, and those of
/// them naming no conversation but their own (for the user's events).
///
/// A corpus event that embeds the events it consumed (`input_data`) also names their
/// conversation, one of the corpus' own, which every copy of it in the table names too; a
/// user owning such an event would have every copy of it erased with them (an erasure of a
/// user takes every conversation their events name). The user's events are therefore made of
/// the others, so that the erasure removes their 5,000 events and nothing else.
fn templates() -> (Vec<Event>, Vec<Event>) {
    let all = corpus_events();
    let own_only = all
        .iter()
        .filter(|template| {
            let mut event = (*template).clone();
            event.meta_mut().unwrap().invoke_context.conversation_id = "only".into();
            let mut named = BTreeSet::new();
            values_of(&event.to_value(), "conversation_id", &mut named);
            named.len() == 1
        })
        .cloned()
        .collect();
    (all, own_only)
}

/// Event `i` of the table: as [`dataset`]'s `i`th (the corpus in turn, fresh id, requests of
/// 10 and conversations of 100 events), with timestamp `micros`; in the user's conversations,
/// an event naming only its own conversation, with the user's id.
fn table_event(i: usize, micros: i64, all: &[Event], own_only: &[Event]) -> Event {
    let conversation = i / CONVERSATION_LEN;
    let user = users(conversation);
    let mut event = if user {
        own_only[i % own_only.len()].clone()
    } else {
        all[i % all.len()].clone()
    };
    let meta = event.meta_mut().expect("typed event");
    meta.event_id = new_id();
    meta.timestamp = Timestamp::from_utc(utc(micros));
    meta.assistant_request_id = format!("bench-req-{}", i / 10);
    let context = &mut meta.invoke_context;
    context.assistant_request_id = meta.assistant_request_id.clone();
    if user {
        context.conversation_id = format!("bench-user-conv-{conversation}");
        context.user_id = Some(USER.to_owned());
    } else {
        context.conversation_id = format!("bench-conv-{conversation}");
    }
    event
}

/// What [`build_table`] made.
struct Table {
    cut_off: DateTime<Utc>,
    /// The user's events newer than the cut-off (what erasing the user removes after the
    /// purge).
    user_events: u64,
    /// The first id position holding an event newer than the cut-off, and the last holding
    /// an older one: the span over which they are interleaved.
    interleaved: (usize, usize),
}

/// Loads the [`TABLE_EVENTS`]-event table through `store` (batches of [`LOAD_BATCH`], so
/// through `COPY`), in recording order, then `VACUUM (ANALYZE)` and `CHECKPOINT`: hint bits
/// set and the visibility map current, as in a long-lived table, and no dirty pages left.
fn build_table(scratch: &Scratch, store: &DieselEventStore, client: &Client) -> Table {
    let started = Instant::now();
    let (times, cut_off) = timestamps();
    let (all, own_only) = templates();
    let mut user_events = 0;
    for start in (0..TABLE_EVENTS).step_by(LOAD_BATCH) {
        let chunk: Vec<Event> = (start..(start + LOAD_BATCH).min(TABLE_EVENTS))
            .map(|i| {
                if users(i / CONVERSATION_LEN) && times[i] >= cut_off {
                    user_events += 1;
                }
                table_event(i, times[i], &all, &own_only)
            })
            .collect();
        let n = chunk.len();
        let outcome = scratch.ops.block_on(store.record_events(chunk)).unwrap();
        assert_eq!(outcome.recorded, n);
    }
    let loaded = started.elapsed();
    scratch.rt.block_on(async {
        client
            .batch_execute("VACUUM (ANALYZE) events")
            .await
            .unwrap();
        // Needs superuser or pg_checkpoint; without it the run has more noise.
        let _ = client.batch_execute("CHECKPOINT").await;
    });
    let interleaved = (
        times.iter().position(|&t| t >= cut_off).unwrap(),
        times.iter().rposition(|&t| t < cut_off).unwrap(),
    );
    println!(
        "lifecycle: loaded {TABLE_EVENTS} events in {loaded:.1?}, vacuumed and checkpointed in \
         {:.1?}; {OLD_EVENTS} older than the cut-off, interleaved with newer ones from id \
         position {} to {}",
        started.elapsed() - loaded,
        interleaved.0,
        interleaved.1
    );
    Table {
        cut_off: utc(cut_off),
        user_events,
        interleaved,
    }
}

/// One writer call: when it started and how long it took.
struct Call {
    start: Instant,
    took: Duration,
}

/// Records [`WRITER_BATCH`] fresh events every [`WRITER_INTERVAL`] until `stop`; every call.
async fn write_until(store: DieselEventStore, stop: Arc<AtomicBool>) -> Vec<Call> {
    // Conversations and requests of their own; timestamps now, newer than any cut-off.
    let templates = dataset(1_000);
    let mut ticks = tokio::time::interval(WRITER_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut calls = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        ticks.tick().await;
        let batch: Vec<Event> = (n..n + WRITER_BATCH)
            .map(|i| {
                let mut event = templates[i % templates.len()].clone();
                let meta = event.meta_mut().expect("typed event");
                meta.event_id = new_id();
                meta.timestamp = Timestamp::now();
                meta.assistant_request_id = format!("bench-writer-req-{}", i / 10);
                let context = &mut meta.invoke_context;
                context.assistant_request_id = meta.assistant_request_id.clone();
                context.conversation_id = format!("bench-writer-conv-{}", i / CONVERSATION_LEN);
                event
            })
            .collect();
        n += WRITER_BATCH;
        let start = Instant::now();
        let outcome = store.record_events(batch).await.unwrap();
        calls.push(Call {
            start,
            took: start.elapsed(),
        });
        assert_eq!(outcome.recorded, WRITER_BATCH);
    }
    calls
}

/// The server's view, about every [`SAMPLE_INTERVAL`] until `stop`.
#[derive(Default)]
struct Samples {
    /// When each sample was taken.
    taken: Vec<Instant>,
    /// Per purge statement or erasure transaction of the operator's connections, keyed by
    /// backend and start: the longest it was seen to run.
    removals: HashMap<(i32, i64), i64>,
    /// What the writer's backends were doing, per sample in which one was busy.
    writer: Vec<(Instant, String)>,
}

/// Reads `pg_stat_activity` of this database. Times are in microseconds. A purge batch is one
/// statement (`WITH gone AS (DELETE …)`), its own transaction: its duration is known exactly
/// once it is idle (`state_change - query_start`), and is a lower bound while it runs. An
/// erasure batch is a transaction of several statements (`LOCK`, `INSERT`, `DELETE`): how long
/// it has been open. The operator's other statements are reads (`SELECT`) and the audit
/// record's `INSERT`, which hold no lock a writer waits for.
const ACTIVITY_SQL: &str = "\
    SELECT application_name, pid, state, wait_event_type, wait_event, \
           (extract(epoch FROM xact_start) * 1e6)::int8, \
           (extract(epoch FROM clock_timestamp() - xact_start) * 1e6)::int8, \
           (extract(epoch FROM query_start) * 1e6)::int8, \
           (extract(epoch FROM CASE WHEN state = 'idle' THEN state_change ELSE clock_timestamp() END \
                                - query_start) * 1e6)::int8, \
           left(query, 40) \
    FROM pg_stat_activity \
    WHERE datname = current_database() AND application_name IN ($1, $2)";

async fn sample(client: Client, stop: Arc<AtomicBool>) -> Samples {
    let statement = client.prepare(ACTIVITY_SQL).await.unwrap();
    let mut jitter = SplitMix(0x7361_6d70_6c65);
    let mut samples = Samples::default();
    let interval = SAMPLE_INTERVAL.as_micros() as u64;
    while !stop.load(Ordering::Acquire) {
        let pause = interval / 2 + jitter.below(interval);
        tokio::time::sleep(Duration::from_micros(pause)).await;
        let at = Instant::now();
        samples.taken.push(at);
        let rows = client
            .query(&statement, &[&WRITER_APP, &OPERATOR_APP])
            .await
            .unwrap();
        for row in rows {
            let app: &str = row.get(0);
            let pid: i32 = row.get(1);
            let state: Option<&str> = row.get(2);
            let wait = row
                .get::<_, Option<&str>>(3)
                .zip(row.get::<_, Option<&str>>(4))
                .map(|(kind, event)| format!("{kind}:{event}"));
            let (xact_start, xact_open): (Option<i64>, Option<i64>) = (row.get(5), row.get(6));
            let (query_start, query_ran): (Option<i64>, Option<i64>) = (row.get(7), row.get(8));
            let query: &str = row.get(9);
            if app == WRITER_APP {
                let doing = match state {
                    Some("active") => wait.unwrap_or_else(|| "on CPU (no wait event)".into()),
                    Some("idle in transaction") => "idle in transaction (client)".into(),
                    _ => continue,
                };
                samples.writer.push((at, doing));
                continue;
            }
            let removal = if query.starts_with("WITH gone AS (DELETE") {
                query_start.zip(query_ran)
            } else if !query.to_ascii_uppercase().starts_with("SELECT")
                && !query.starts_with("INSERT INTO grafi_rs_audit")
            {
                xact_start.zip(xact_open)
            } else {
                None
            };
            if let Some((start, ran)) = removal {
                let longest = samples.removals.entry((pid, start)).or_default();
                *longest = (*longest).max(ran);
            }
        }
    }
    samples
}

/// Server-wide WAL position and checkpoint counts.
async fn server_counters(client: &Client) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT (pg_current_wal_lsn() - '0/0')::int8, \
                    (checkpoints_timed + checkpoints_req)::int8 FROM pg_stat_bgwriter",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// What the writer's backend was seen doing in the samples taken between `from` and `to`:
/// how many samples, and per state how many of them (in the others it was idle: between
/// calls, or waiting for its client to send the next one).
fn seen(samples: &Samples, from: Instant, to: Instant) -> (usize, BTreeMap<String, u64>) {
    let within = |at: &Instant| *at >= from && *at < to;
    let mut doing = BTreeMap::new();
    for (_, what) in samples.writer.iter().filter(|(at, _)| within(at)) {
        *doing.entry(what.clone()).or_default() += 1;
    }
    (samples.taken.iter().filter(|at| within(at)).count(), doing)
}

/// A writer call above [`SLOW`]: when it started (from the start of its phase), how long it
/// took, and what the samples taken during it saw.
struct Slow {
    at: Duration,
    took: Duration,
    samples: usize,
    doing: BTreeMap<String, u64>,
}

/// Writer calls slower than this are listed one by one, with what the samples saw.
const SLOW: Duration = Duration::from_millis(100);

/// The writer's latencies over one phase.
struct Phase {
    calls: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    over: usize,
    /// Samples of `pg_stat_activity` taken, and what the writer's backend was seen doing.
    samples: usize,
    doing: BTreeMap<String, u64>,
    slow: Vec<Slow>,
}

impl Phase {
    /// The calls that started between `from` and `to`.
    fn of(calls: &[Call], samples: &Samples, from: Instant, to: Instant) -> Self {
        let calls: Vec<&Call> = calls
            .iter()
            .filter(|c| c.start >= from && c.start < to)
            .collect();
        let mut took: Vec<Duration> = calls.iter().map(|c| c.took).collect();
        took.sort_unstable();
        if took.is_empty() {
            took.push(Duration::ZERO);
        }
        let (taken, doing) = seen(samples, from, to);
        let slow = calls
            .iter()
            .filter(|c| c.took > SLOW)
            .map(|c| {
                let (samples, doing) = seen(samples, c.start, c.start + c.took);
                Slow {
                    at: c.start - from,
                    took: c.took,
                    samples,
                    doing,
                }
            })
            .collect();
        Self {
            calls: calls.len(),
            p50: common::percentile(&took, 50.0),
            p99: common::percentile(&took, 99.0),
            max: took[took.len() - 1],
            over: took.iter().filter(|&&t| t > BLOCKED).count(),
            samples: taken,
            doing,
            slow,
        }
    }

    fn json(&self) -> serde_json::Value {
        let slow: Vec<serde_json::Value> = self
            .slow
            .iter()
            .map(|s| {
                serde_json::json!({
                    "at_ns": s.at.as_nanos() as u64,
                    "took_ns": s.took.as_nanos() as u64,
                    "samples": s.samples,
                    "writer_seen": s.doing,
                })
            })
            .collect();
        serde_json::json!({
            "calls": self.calls,
            "p50_ns": self.p50.as_nanos() as u64,
            "p99_ns": self.p99.as_nanos() as u64,
            "max_ns": self.max.as_nanos() as u64,
            "over_threshold": self.over,
            "samples": self.samples,
            "writer_seen": self.doing,
            "slow_calls": slow,
        })
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "{} calls, p50 {:.2?}, p99 {:.2?}, max {:.2?}, {} above {BLOCKED:?}; writer busy in \
             {} of {} samples: {:?}",
            self.calls,
            self.p50,
            self.p99,
            self.max,
            self.over,
            self.doing.values().sum::<u64>(),
            self.samples,
            self.doing
        );
        for s in &self.slow {
            out.push_str(&format!(
                "\n    a call at +{:.2?} took {:.2?}; busy in {} of {} samples during it: {:?}",
                s.at,
                s.took,
                s.doing.values().sum::<u64>(),
                s.samples,
                s.doing
            ));
        }
        out
    }
}

/// What one operation under the writer measured.
struct UnderWrites<T> {
    outcome: T,
    took: Duration,
    before: Phase,
    during: Phase,
    /// The longest purge statement or erasure transaction seen, the one that started last
    /// (a purge's last statement finds nothing: it walks the rest of the table), and how many
    /// were seen.
    longest: Option<Duration>,
    last: Option<Duration>,
    seen: usize,
    wal_bytes: i64,
    checkpoints: i64,
}

/// Runs the writer for [`WARM_UP`] + [`BASELINE`], then `operation` beside it on the
/// operator's runtime; stops the writer when the operation returns.
fn under_writes<T: Send + 'static>(
    scratch: &Scratch,
    writer: &DieselEventStore,
    operation: impl Future<Output = T> + Send + 'static,
) -> UnderWrites<T> {
    scratch.rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = common::connect(&scratch.url).await;
        let sampling = tokio::spawn(sample(
            common::connect(&scratch.url).await,
            Arc::clone(&stop),
        ));
        let writing = tokio::spawn(write_until(writer.clone(), Arc::clone(&stop)));
        let measured_from = Instant::now() + WARM_UP;
        tokio::time::sleep(WARM_UP + BASELINE).await;

        let (wal, checkpoints) = server_counters(&counters).await;
        let began = Instant::now();
        let outcome = scratch.ops.spawn(operation).await.unwrap();
        let ended = Instant::now();
        stop.store(true, Ordering::Release);
        let (wal_after, checkpoints_after) = server_counters(&counters).await;
        let calls = writing.await.unwrap();
        let samples = sampling.await.unwrap();

        UnderWrites {
            outcome,
            took: ended - began,
            before: Phase::of(&calls, &samples, measured_from, began),
            during: Phase::of(&calls, &samples, began, ended),
            longest: samples.removals.values().max().map(|&us| micros(us)),
            last: samples
                .removals
                .iter()
                .max_by_key(|((_, start), _)| *start)
                .map(|(_, &us)| micros(us)),
            seen: samples.removals.len(),
            wal_bytes: wal_after - wal,
            checkpoints: checkpoints_after - checkpoints,
        }
    })
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

/// Prints and writes the report of one operation that removed `removed` events.
fn report<T>(name: &str, id: &str, removed: u64, table_events: i64, run: &UnderWrites<T>) {
    let rate = removed as f64 / run.took.as_secs_f64();
    println!(
        "{id}: removed {removed} of {table_events} events in {:.2?} ({rate:.0} events/s); \
         longest removal transaction seen {:.2?}, the last {:.2?} ({} seen); {:.0} MB of WAL, \
         {} checkpoints started (server-wide)",
        run.took,
        run.longest.unwrap_or_default(),
        run.last.unwrap_or_default(),
        run.seen,
        run.wal_bytes as f64 / 1e6,
        run.checkpoints
    );
    println!("{id}: writer before: {}", run.before.describe());
    println!("{id}: writer during: {}", run.during.describe());
    common::write_report(
        "lifecycle",
        name,
        &serde_json::json!({
            "id": id,
            "table_events": table_events,
            "removed": removed,
            "duration_ns": run.took.as_nanos() as u64,
            "writer_batch": WRITER_BATCH,
            "writer_interval_ns": WRITER_INTERVAL.as_nanos() as u64,
            "threshold_ns": BLOCKED.as_nanos() as u64,
            "before": run.before.json(),
            "during": run.during.json(),
            "longest_transaction_ns": run.longest.map(|d| d.as_nanos() as u64),
            "last_transaction_ns": run.last.map(|d| d.as_nanos() as u64),
            "transactions_seen": run.seen,
            "wal_bytes": run.wal_bytes,
            "checkpoints": run.checkpoints,
        }),
    );
}

async fn count(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0)
}

fn lifecycle(_: &mut Criterion) {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        return;
    }
    let filters = common::filters();
    let erase = filters.is_empty() || filters.iter().any(|f| f.contains("erase"));
    let purge = erase || filters.iter().any(|f| f.contains("purge"));
    if !purge {
        return;
    }
    let scratch = Scratch::new();
    let operator = scratch.store(&scratch.ops, OPERATOR_APP);
    let writer = scratch.store(&scratch.rt, WRITER_APP);
    let client = scratch.rt.block_on(common::connect(&scratch.url));
    let table = build_table(&scratch, &operator, &client);

    let id = format!("purge_under_writes/postgres/{TABLE_EVENTS}");
    let before = table.cut_off;
    let store = operator.clone();
    let run = under_writes(&scratch, &writer, async move {
        store.purge_before(before).await.unwrap()
    });
    report(
        "purge_under_writes",
        &id,
        run.outcome.events,
        TABLE_EVENTS as i64,
        &run,
    );
    assert_eq!(
        run.outcome.events, OLD_EVENTS as u64,
        "the purge removed what the table held before the cut-off (interleaved from id \
         position {} to {})",
        table.interleaved.0, table.interleaved.1
    );
    if !erase {
        return;
    }

    // What the privacy guide says to run after a large purge; no autovacuum is assumed.
    let vacuumed = Instant::now();
    let table_events = scratch.rt.block_on(async {
        client
            .batch_execute("VACUUM (ANALYZE) events")
            .await
            .unwrap();
        let _ = client.batch_execute("CHECKPOINT").await;
        count(&client).await
    });
    println!(
        "lifecycle: vacuumed and checkpointed the purged table ({table_events} events) in {:.1?}",
        vacuumed.elapsed()
    );
    let id = format!("erase_user/postgres/{TABLE_EVENTS}");
    let store = operator.clone();
    let run = under_writes(&scratch, &writer, async move {
        store.erase_user(USER).await.unwrap()
    });
    report("erase_user", &id, run.outcome.events, table_events, &run);
    assert_eq!(
        run.outcome.events, table.user_events,
        "erasing the user removed their events and nothing else"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = lifecycle
}
criterion_main!(benches);
