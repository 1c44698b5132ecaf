//! PostgreSQL: grafi-store-diesel against what PostgreSQL itself can do, in the same run.
//!
//! * `record_events/postgres/{n}` — the store's batch path (validation, encoding, then one
//!   binary COPY from 64 events, one UNNEST insert below), vs `copy_ceiling/postgres/{n}`: the
//!   same rows, pre-encoded, written with a raw binary `COPY` (tokio-postgres) into an
//!   identical table with the same indexes. The ratio of the two is the figure that matters
//!   on a noisy machine. The store's table has the erased-id ledger (migration 4), empty.
//! * `record_events_ledger_100k/postgres/{1000,10000}`: the same with 100,000 entries in the
//!   ledger, which every batch consults before it commits; against the same raw `COPY`.
//! * `record_event/postgres/1` vs `raw_insert/postgres/1`: one event per call.
//! * `get_event/postgres/{store size}` vs `raw_get_event/postgres/100000`, and
//!   `get_conversation_events/postgres/{store size}` vs `raw_conversation/postgres/100000`:
//!   reads with decoding vs the same rows fetched without.
//! * `raw_conversation_client_sort/postgres/100000`: the raw fetch in the store's query shape
//!   (no `ORDER BY`, rows sorted by id on the client); context for the read ratio, no target.
//! * Paired: `record_event` vs the raw INSERT and `get_event` vs the raw lookup, call by call
//!   alternating, medians per round written to `criterion/paired/*.json` for `bench-report`
//!   (see [`paired`]).
//!
//! Every group runs on both table layouts: grafi 0.0.24's (`…/postgres/…`, the 0.0.24 corpus)
//! and grafi 0.0.36's (`…/postgres36/…`: the whole document in one `jsonb` column, plus the
//! store's `extra` copy where `jsonb` would not give the document back; the 0.0.36 corpus).
//! The raw baselines of a layout write and read that layout's rows: for 0.0.36 the same
//! `extra` values the store wrote, learnt by recording the templates once.
//!
//! Runs on scratch databases on `DATABASE_URL` (default the local server), dropped at the end.

mod common;

use std::error::Error;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::pin_mut;
use grafi_benches::{criterion_home, dataset, dataset36, CONVERSATION_LEN};
use grafi_events::{new_id, Dialect, Event};
use grafi_store_core::EventStore;
use grafi_store_diesel::DieselEventStore;
use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

/// Pre-encoded text, bound as `json` or `jsonb` (binary jsonb is a version byte + text), or
/// as `text`/`varchar`.
#[derive(Debug)]
struct JsonText(String);

impl ToSql for JsonText {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        [Type::JSON, Type::JSONB, Type::TEXT, Type::VARCHAR].contains(ty)
    }

    to_sql_checked!();
}

/// Which grafi's table a bench works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// grafi 0.0.24's: `event_context` (jsonb) and `data` (json).
    V24,
    /// grafi 0.0.36's: `event_version` and `event_data` (jsonb, the whole document), and the
    /// store's `extra` (json).
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

    /// The columns the raw INSERT and COPY write, in [`Row::params`] order.
    fn insert_columns(self) -> &'static str {
        match self {
            Layout::V24 => {
                "event_id, conversation_id, assistant_request_id, event_type, event_context, \
                 data, \"timestamp\""
            }
            Layout::V36 => {
                "event_id, conversation_id, assistant_request_id, event_type, event_version, \
                 event_data, \"timestamp\", extra"
            }
        }
    }

    fn copy_types(self) -> Vec<Type> {
        let mut types = vec![Type::VARCHAR; 4];
        match self {
            Layout::V24 => types.extend([Type::JSONB, Type::JSON, Type::TIMESTAMP]),
            Layout::V36 => types.extend([Type::VARCHAR, Type::JSONB, Type::TIMESTAMP, Type::JSON]),
        }
        types
    }

    /// What the raw reads select: the store's columns, as text.
    fn select_columns(self) -> &'static str {
        match self {
            Layout::V24 => {
                "id, event_id, assistant_request_id, event_type, event_context::text, \
                 data::text, \"timestamp\", extra::text"
            }
            Layout::V36 => {
                "id, event_id, assistant_request_id, event_type, event_version::text, \
                 event_data::text, \"timestamp\", extra::text"
            }
        }
    }
}

/// A row as the store writes it, encoded before the clock starts.
struct Row {
    event_id: String,
    conversation_id: String,
    assistant_request_id: String,
    event_type: String,
    /// The layout's own two columns: `event_context` and `data`, or `event_version` and
    /// `event_data`.
    own: [JsonText; 2],
    timestamp: chrono::NaiveDateTime,
    /// grafi 0.0.36's layout only: `extra`, as the store wrote it for the template.
    extra: Option<Option<JsonText>>,
}

impl Row {
    /// The values, in the column order of both the raw INSERT and the COPY
    /// ([`Layout::insert_columns`]).
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.event_id,
            &self.conversation_id,
            &self.assistant_request_id,
            &self.event_type,
            &self.own[0],
            &self.own[1],
            &self.timestamp,
        ];
        if let Some(extra) = &self.extra {
            params.push(extra);
        }
        params
    }
}

/// What the store wrote for each template event of grafi 0.0.36's dataset that the raw rows
/// cannot compute themselves: whether it kept the document in `extra` (the store decides
/// whether `jsonb` gives the document back), and the `timestamp` column (the document's wall
/// clock, its offset dropped). Empty for grafi 0.0.24's layout.
#[derive(Default)]
struct Templates {
    extra: Vec<bool>,
    timestamp: Vec<chrono::NaiveDateTime>,
}

impl Templates {
    /// Records the templates through the store once and reads their rows back.
    fn learn(bench: &Bench, template: &[Event]) -> Self {
        if bench.layout == Layout::V24 {
            return Self::default();
        }
        let count = grafi_benches::corpus36_events().len();
        let events = &template[..count];
        bench
            .rt
            .block_on(bench.store.record_events(events.to_vec()))
            .unwrap();
        let mut learnt = Self::default();
        for e in events {
            let row = bench
                .rt
                .block_on(bench.client.query_one(
                    "SELECT extra IS NOT NULL, \"timestamp\" FROM events WHERE event_id = $1",
                    &[&e.event_id()],
                ))
                .unwrap();
            learnt.extra.push(row.get(0));
            learnt.timestamp.push(row.get(1));
        }
        bench.truncate();
        learnt
    }
}

/// Event `i` of a layout's dataset (or of a prefix of it, refreshed) as the store writes it.
fn row(bench: &Bench, i: usize, e: &Event) -> Row {
    let (own, timestamp, extra) = match bench.layout {
        Layout::V24 => (
            [JsonText(e.context_json()), JsonText(e.data_json())],
            e.utc().naive_utc(),
            None,
        ),
        Layout::V36 => {
            let t = &bench.templates;
            let at = i % t.extra.len();
            let document = e.to_json();
            let extra = t.extra[at].then(|| JsonText(document.clone()));
            let version = e.meta().map_or("1.0", |m| m.event_version.as_str());
            (
                [JsonText(version.to_owned()), JsonText(document)],
                t.timestamp[at],
                Some(extra),
            )
        }
    };
    Row {
        event_id: e.event_id().to_owned(),
        conversation_id: e.conversation_id().to_owned(),
        assistant_request_id: e.assistant_request_id().to_owned(),
        event_type: e.event_type().to_owned(),
        own,
        timestamp,
        extra,
    }
}

fn rows(bench: &Bench, events: &[Event]) -> Vec<Row> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| row(bench, i, e))
        .collect()
}

/// One raw INSERT of event `i`'s row under a fresh id, timed without encoding the row.
fn timed_raw_insert(bench: &Bench, insert: &Statement, i: usize, event: &Event) -> Duration {
    let mut r = row(bench, i, event);
    r.event_id = new_id();
    let start = Instant::now();
    bench
        .rt
        .block_on(bench.client.execute(insert, &r.params()))
        .unwrap();
    start.elapsed()
}

/// The same events with fresh ids (built outside the timed region).
fn refreshed(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.meta_mut().unwrap().event_id = new_id();
            e
        })
        .collect()
}

struct Bench {
    rt: Runtime,
    store: DieselEventStore,
    client: Client,
    db_name: String,
    layout: Layout,
    templates: Templates,
}

impl Bench {
    /// A scratch database whose `events` table the store creates in `layout`, and the same
    /// table again (`events_ceiling`) for the raw COPY.
    fn new(layout: Layout) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Plain text, as the raw baselines (tokio-postgres with NoTls): the ratios measure
        // the store's own work, not TLS (which `sslmode=prefer` would use wherever the
        // server offers it).
        let (db_name, url) = common::create_database(&rt);
        let (store, client) = rt.block_on(async {
            let store = DieselEventStore::builder(url.clone())
                .dialect(layout.dialect())
                .pool_size(4)
                .connect()
                .await
                .unwrap();
            let client = common::connect(&url).await;
            client
                .batch_execute("CREATE TABLE events_ceiling (LIKE events INCLUDING ALL)")
                .await
                .unwrap();
            (store, client)
        });
        Self {
            rt,
            store,
            client,
            db_name,
            layout,
            templates: Templates::default(),
        }
    }

    /// Empties both tables and checkpoints, so every group starts from the same state: a
    /// checkpoint triggered by the previous group's WAL would otherwise land on whichever
    /// group runs next and skew the ratio between neighbours. The 1,000- and 10,000-event
    /// write groups also call it before every sample, and [`Self::empty_tables`] before every
    /// iteration (both untimed): otherwise the faster side writes more rows in its measurement
    /// time and then pays for the bigger table and the checkpoint its WAL triggers.
    fn truncate(&self) {
        self.empty_tables();
        // Needs superuser or pg_checkpoint; without it the groups just share more noise.
        let _ = self.rt.block_on(self.client.batch_execute("CHECKPOINT"));
    }

    /// Columns of a raw row ([`Row::params`]).
    fn row_width(&self) -> usize {
        match self.layout {
            Layout::V24 => 7,
            Layout::V36 => 8,
        }
    }

    /// Makes the erased-id ledger hold `entries` hashes (none of them of a benchmark event),
    /// then checkpoints.
    fn fill_ledger(&self, entries: usize) {
        let sql = format!(
            "TRUNCATE grafi_rs_erased; \
             INSERT INTO grafi_rs_erased (id_hash) \
             SELECT substring(sha256(convert_to('bench-erased-' || i, 'UTF8')) FOR 16) \
             FROM generate_series(1, {entries}) AS i; \
             ANALYZE grafi_rs_erased"
        );
        self.rt.block_on(self.client.batch_execute(&sql)).unwrap();
        self.truncate();
    }

    fn empty_tables(&self) {
        self.rt
            .block_on(self.client.batch_execute("TRUNCATE events, events_ceiling"))
            .unwrap();
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        common::drop_database(&self.rt, &self.db_name);
    }
}

async fn copy_rows(client: &mut Client, layout: Layout, rows: &[Row]) {
    let tx = client.transaction().await.unwrap();
    let sink = tx
        .copy_in(&format!(
            "COPY events_ceiling ({}) FROM STDIN (FORMAT binary)",
            layout.insert_columns()
        ))
        .await
        .unwrap();
    let types = layout.copy_types();
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for r in rows {
        writer.as_mut().write(&r.params()).await.unwrap();
    }
    writer.finish().await.unwrap();
    tx.commit().await.unwrap();
}

/// Erased ids in the ledger for `record_events_ledger_100k`.
const LEDGER_ENTRIES: usize = 100_000;

/// `iters` calls of `record_events` with fresh ids; the time they took. A large batch
/// starts from empty tables (untimed), as [`Bench::truncate`] says why.
fn record_timed(bench: &Bench, events: &[Event], large: bool, iters: u64) -> Duration {
    if large {
        bench.truncate();
    }
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        if large {
            bench.empty_tables();
        }
        let batch = refreshed(events);
        let start = Instant::now();
        let outcome = bench.rt.block_on(bench.store.record_events(batch)).unwrap();
        timed += start.elapsed();
        assert_eq!((outcome.recorded, outcome.erased), (events.len(), 0));
    }
    timed
}

fn writes(c: &mut Criterion) {
    for layout in [Layout::V24, Layout::V36] {
        writes_on(c, layout);
    }
}

fn writes_on(c: &mut Criterion, layout: Layout) {
    let backend = layout.backend();
    let mut bench = Bench::new(layout);
    let template = layout.dataset(10_000);
    bench.templates = Templates::learn(&bench, &template);

    for size in [1usize, 10, 100, 1_000, 10_000] {
        let events = &template[..size];
        let mut group = c.benchmark_group("record_events");
        group.throughput(Throughput::Elements(size as u64));
        let large = size >= 1_000;
        if large {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
        }
        group.bench_function(BenchmarkId::new(backend, size), |b| {
            b.iter_custom(|iters| record_timed(&bench, events, large, iters))
        });
        group.finish();
        bench.truncate();

        if large {
            // The same with 100,000 erased ids in the ledger every write consults.
            bench.fill_ledger(LEDGER_ENTRIES);
            let mut group = c.benchmark_group("record_events_ledger_100k");
            group.throughput(Throughput::Elements(size as u64));
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
            group.bench_function(BenchmarkId::new(backend, size), |b| {
                b.iter_custom(|iters| record_timed(&bench, events, large, iters))
            });
            group.finish();
            bench.fill_ledger(0);
            bench.truncate();
        }

        if size >= 1_000 {
            let mut group = c.benchmark_group("copy_ceiling");
            group.throughput(Throughput::Elements(size as u64));
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
            group.bench_function(BenchmarkId::new(backend, size), |b| {
                b.iter_custom(|iters| {
                    bench.truncate();
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        bench.empty_tables();
                        let rows = rows(&bench, &refreshed(events));
                        let start = Instant::now();
                        bench
                            .rt
                            .block_on(copy_rows(&mut bench.client, layout, &rows));
                        timed += start.elapsed();
                    }
                    timed
                })
            });
            group.finish();
            bench.truncate();
        }
    }

    let mut group = c.benchmark_group("record_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(backend, 1), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for event in refreshed(&template[..(iters as usize).min(template.len())])
                .into_iter()
                .cycle()
                .take(iters as usize)
            {
                let mut event = event;
                event.meta_mut().unwrap().event_id = new_id();
                let start = Instant::now();
                bench.rt.block_on(bench.store.record_event(event)).unwrap();
                timed += start.elapsed();
            }
            timed
        })
    });
    group.finish();

    let placeholders: Vec<String> = (1..=bench.row_width()).map(|n| format!("${n}")).collect();
    let insert = bench
        .rt
        .block_on(bench.client.prepare(&format!(
            "INSERT INTO events ({}) VALUES ({}) ON CONFLICT (event_id) DO NOTHING",
            layout.insert_columns(),
            placeholders.join(", ")
        )))
        .unwrap();
    let mut group = c.benchmark_group("raw_insert");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(backend, 1), |b| {
        b.iter_custom(|iters| {
            (0..iters as usize)
                .map(|i| {
                    let at = i % template.len();
                    timed_raw_insert(&bench, &insert, at, &template[at])
                })
                .sum()
        })
    });
    group.finish();

    if paired_wanted() {
        let mut events = template.iter().cycle();
        let mut rows = template.iter().enumerate().cycle();
        let name = match layout {
            Layout::V24 => "record_event",
            Layout::V36 => "record_event36",
        };
        paired(
            name,
            &format!("record_event/{backend}/1"),
            &format!("raw_insert/{backend}/1"),
            || {
                let mut event = events.next().unwrap().clone();
                event.meta_mut().unwrap().event_id = new_id();
                let start = Instant::now();
                bench.rt.block_on(bench.store.record_event(event)).unwrap();
                start.elapsed()
            },
            || {
                let (at, event) = rows.next().unwrap();
                timed_raw_insert(&bench, &insert, at, event)
            },
        );
    }
    bench.truncate();
}

fn reads(c: &mut Criterion) {
    for layout in [Layout::V24, Layout::V36] {
        reads_on(c, layout);
    }
}

fn reads_on(c: &mut Criterion, layout: Layout) {
    let backend = layout.backend();
    let bench = Bench::new(layout);
    let all = layout.dataset(100_000);
    let mut stored = 0;
    for store_size in [10_000usize, 100_000] {
        for chunk in all[stored..store_size].chunks(10_000) {
            bench
                .rt
                .block_on(bench.store.record_events(chunk.to_vec()))
                .unwrap();
        }
        stored = store_size;
        // The state a long-lived table is in (autovacuum has run): hint bits set, visibility
        // map current, whatever wrote the rows. Otherwise the first group to read a row sets
        // its hint bit and dirties its page, and the groups after it (the raw baselines) do not.
        bench
            .rt
            .block_on(bench.client.batch_execute("VACUUM (ANALYZE) events"))
            .unwrap();
        // Write the load's and the vacuum's dirty pages out now, not while the first read
        // group (the store's) is measured: the same reason every write group starts from a
        // checkpoint. Needs superuser or pg_checkpoint, like `Bench::truncate`.
        let _ = bench.rt.block_on(bench.client.batch_execute("CHECKPOINT"));
        let ids: Vec<String> = all[..store_size]
            .iter()
            .step_by(97)
            .map(|e| e.event_id().to_owned())
            .collect();
        let conversations = store_size / CONVERSATION_LEN;
        // Each raw baseline is measured right after the store's group it is read against:
        // this machine's speed drifts within a run, and the ratio should not carry the drift
        // of the groups in between.
        let baselines = store_size == 100_000;

        let mut group = c.benchmark_group("get_event");
        group.throughput(Throughput::Elements(1));
        let mut i = 0;
        group.bench_function(BenchmarkId::new(backend, store_size), |b| {
            b.iter(|| {
                i = (i + 1) % ids.len();
                bench
                    .rt
                    .block_on(bench.store.get_event(&ids[i]))
                    .unwrap()
                    .unwrap()
            })
        });
        group.finish();
        if baselines {
            raw_get_event(c, &bench, &ids);
        }

        let mut group = c.benchmark_group("get_conversation_events");
        group.throughput(Throughput::Elements(CONVERSATION_LEN as u64));
        let mut k = 0;
        group.bench_function(BenchmarkId::new(backend, store_size), |b| {
            b.iter(|| {
                k = (k + 7) % conversations;
                let got = bench
                    .rt
                    .block_on(
                        bench
                            .store
                            .get_conversation_events(&format!("bench-conv-{k}")),
                    )
                    .unwrap();
                assert_eq!(got.len(), CONVERSATION_LEN);
                got
            })
        });
        group.finish();
        if baselines {
            raw_conversations(c, &bench, conversations);
        }
    }
}

/// `raw_get_event/{backend}/100000`: the store's lookups (the same ids) as a prepared
/// statement, rows fetched as text and not decoded.
fn raw_get_event(c: &mut Criterion, bench: &Bench, ids: &[String]) {
    let backend = bench.layout.backend();
    let by_id = bench
        .rt
        .block_on(bench.client.prepare(&format!(
            "SELECT {} FROM events WHERE event_id = $1",
            bench.layout.select_columns()
        )))
        .unwrap();
    let mut group = c.benchmark_group("raw_get_event");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function(BenchmarkId::new(backend, 100_000), |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let rows = bench
                .rt
                .block_on(bench.client.query(&by_id, &[&ids[i]]))
                .unwrap();
            assert_eq!(rows.len(), 1);
            rows
        })
    });
    group.finish();

    if paired_wanted() {
        let (mut i, mut j) = (0, 0);
        let name = match bench.layout {
            Layout::V24 => "get_event",
            Layout::V36 => "get_event36",
        };
        paired(
            name,
            &format!("get_event/{backend}/100000"),
            &format!("raw_get_event/{backend}/100000"),
            || {
                i = (i + 1) % ids.len();
                let start = Instant::now();
                let found = bench
                    .rt
                    .block_on(bench.store.get_event(&ids[i]))
                    .unwrap()
                    .is_some();
                let elapsed = start.elapsed();
                assert!(found);
                elapsed
            },
            || {
                j = (j + 1) % ids.len();
                let start = Instant::now();
                let rows = bench
                    .rt
                    .block_on(bench.client.query(&by_id, &[&ids[j]]))
                    .unwrap()
                    .len();
                let elapsed = start.elapsed();
                assert_eq!(rows, 1);
                elapsed
            },
        );
    }
}

/// Rounds, and calls of each side per round, of a paired measurement.
const PAIRED_ROUNDS: usize = 6;
const PAIRED_CALLS: usize = 1_000;

/// Times `ours` and `raw` call by call, alternating (and alternating which goes first), and
/// writes each round's two medians to `criterion/paired/{name}.json` for `bench-report`.
///
/// Why: criterion measures two benchmarks one after the other, and this machine's speed
/// drifts within seconds (the same raw lookup's median moved from 150 to 211 µs between
/// runs), so a ratio of two groups carries that drift. Calls paired in time do not. Each
/// closure returns the time of its call as its criterion group times it: set-up (a fresh
/// id, the raw row's encoding) left out, dropping the result included.
fn paired(
    name: &str,
    ours_id: &str,
    raw_id: &str,
    mut ours: impl FnMut() -> Duration,
    mut raw: impl FnMut() -> Duration,
) {
    let median = |mut times: Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2].as_nanos() as f64
    };
    let mut rounds = Vec::new();
    for _ in 0..PAIRED_ROUNDS {
        let (mut ours_times, mut raw_times) = (Vec::new(), Vec::new());
        for call in 0..PAIRED_CALLS {
            if call % 2 == 0 {
                ours_times.push(ours());
                raw_times.push(raw());
            } else {
                raw_times.push(raw());
                ours_times.push(ours());
            }
        }
        rounds.push([median(ours_times), median(raw_times)]);
    }
    let report = serde_json::json!({
        "of": ours_id,
        "to": raw_id,
        "calls_per_round": PAIRED_CALLS,
        "rounds_p50_ns": rounds,
    });
    let dir = criterion_home().join("paired");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), report.to_string()).unwrap();
    let ratios: Vec<String> = rounds
        .iter()
        .map(|[a, b]| format!("{:.2}", a / b))
        .collect();
    println!(
        "{name} paired ({ours_id} / {raw_id}), per round: {}",
        ratios.join(", ")
    );
}

/// Whether to run the paired measurements: always, unless the run is filtered to benchmarks
/// whose filter does not mention them.
fn paired_wanted() -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| f.contains("paired"))
}

/// The raw query (`ORDER BY id`), then the store's own query shape (rows sorted
/// here), context for the read ratio.
fn raw_conversations(c: &mut Criterion, bench: &Bench, conversations: usize) {
    let backend = bench.layout.backend();
    for (group_name, order_by, sort_here) in [
        ("raw_conversation", " ORDER BY id", false),
        ("raw_conversation_client_sort", "", true),
    ] {
        let statement = bench
            .rt
            .block_on(bench.client.prepare(&format!(
                "SELECT {} FROM events WHERE conversation_id = $1{order_by}",
                bench.layout.select_columns()
            )))
            .unwrap();
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(CONVERSATION_LEN as u64));
        let mut k = 0;
        group.bench_function(BenchmarkId::new(backend, 100_000), |b| {
            b.iter(|| {
                k = (k + 7) % conversations;
                let conv = format!("bench-conv-{k}");
                let mut rows = bench
                    .rt
                    .block_on(bench.client.query(&statement, &[&conv]))
                    .unwrap();
                if sort_here {
                    rows.sort_unstable_by_key(|row| row.get::<_, i64>(0));
                }
                assert_eq!(rows.len(), CONVERSATION_LEN);
                rows
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = writes, reads
}
criterion_main!(benches);
