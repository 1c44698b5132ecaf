//! Subscriptions against what makes `id > last_seen` skip events: transactions that take a
//! position and commit late, writers that know nothing of the position column, and
//! connections killed mid-run.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use grafi_events::Event;
use grafi_store_core::conformance::simple_events;
use grafi_store_core::{Cursor, EventStore, EventStream, Filter, Positioned, StoreError};

const DELIVERY: Duration = Duration::from_secs(30);

/// A plain SQL client, as a service that knows nothing of grafi-rs would be.
async fn plain_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("plain connection");
    tokio::spawn(connection);
    client
}

/// Inserts `event` as grafi 0.0.24 does, with no word of `grafi_tx` or `extra`.
const PLAIN_INSERT: &str = "INSERT INTO events (event_id, conversation_id, assistant_request_id, \
     event_type, event_context, data, \"timestamp\") \
     SELECT d->>'event_id', d->'event_context'->'invoke_context'->>'conversation_id', \
            d->>'assistant_request_id', d->>'event_type', d->'event_context', (d->'data')::json, \
            (d->>'timestamp')::timestamptz AT TIME ZONE 'UTC' \
     FROM (SELECT $1::text::jsonb AS d) AS doc ON CONFLICT (event_id) DO NOTHING";

async fn next(subscription: &mut EventStream<'_>, within: Duration) -> Option<Positioned> {
    loop {
        match tokio::time::timeout(within, subscription.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("the subscription ended"),
            Ok(Some(Ok(item))) => return Some(item),
            Ok(Some(Err(error))) if error.is_retryable() => continue,
            Ok(Some(Err(error))) => panic!("subscription failed: {error}"),
        }
    }
}

fn one(events: Vec<Event>) -> Event {
    events.into_iter().next().unwrap()
}

/// Writer A takes its position (inserts, stays open), writer B commits after it, then A
/// commits: A's id is lower than B's although B committed first, so a reader that had
/// passed B by id would never see A. The subscription holds B back while A is open and
/// delivers A, then B, once each. In the second round A's transaction id is taken before
/// B's by a write to another table, and A inserts its event only after B committed.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_commit_behind_an_earlier_one_is_delivered_not_skipped() {
    let store = common::setup().await;
    store.db.sql("CREATE TABLE elsewhere (x int)").await;
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    for round in ["insert first", "transaction id first"] {
        let a = one(simple_events("conv-a", "req-a", 1));
        let b = one(simple_events("conv-b", "req-b", 1));
        let writer_a = plain_client(&store.db.url).await;
        writer_a.batch_execute("BEGIN").await.unwrap();
        if round == "insert first" {
            writer_a
                .execute(PLAIN_INSERT, &[&a.to_json()])
                .await
                .unwrap();
        } else {
            writer_a
                .batch_execute("INSERT INTO elsewhere VALUES (1)")
                .await
                .unwrap();
        }
        store.record_event(b.clone()).await.unwrap();
        if round == "transaction id first" {
            writer_a
                .execute(PLAIN_INSERT, &[&a.to_json()])
                .await
                .unwrap();
        }
        // B is committed and readable by id, A is not: the gap a reader by id falls into.
        assert!(store.get_event(b.event_id()).await.unwrap().is_some());
        assert!(store.get_event(a.event_id()).await.unwrap().is_none());
        assert!(
            next(&mut subscription, Duration::from_millis(1500))
                .await
                .is_none(),
            "{round}: delivered while an older transaction was open"
        );
        writer_a.batch_execute("COMMIT").await.unwrap();
        let first = next(&mut subscription, DELIVERY).await.expect("A");
        let second = next(&mut subscription, DELIVERY).await.expect("B");
        assert_eq!(
            [first.event.event_id(), second.event.event_id()],
            [a.event_id(), b.event_id()],
            "{round}"
        );
        assert!(first.cursor < second.cursor);
        assert!(next(&mut subscription, Duration::from_millis(500))
            .await
            .is_none());
        if round == "insert first" {
            let ids: Vec<String> = store
                .get_events()
                .await
                .unwrap()
                .iter()
                .map(|e| e.event_id().to_owned())
                .collect();
            let position = |id: &str| ids.iter().position(|x| x == id).unwrap();
            assert!(
                position(a.event_id()) < position(b.event_id()),
                "A holds the lower id although it committed last"
            );
        }
    }
}

/// An event held back by a transaction in another database (the horizon is the server's) is
/// delivered soon after that transaction ends, although nothing announces it: with a polling
/// interval of 10 s, only the quick re-reads of a subscription that saw events waiting can
/// deliver it within 5 s.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_held_back_by_another_database_arrives_soon_after_it_is_released() {
    let store = common::setup_with(|b| b.poll_interval(Duration::from_secs(10))).await;
    let other = common::ScratchDb::new().await;
    other.sql("CREATE TABLE t (x int)").await;
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    let holder = plain_client(&other.url).await;
    holder
        .batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let event = one(simple_events("conv-held", "req-held", 1));
    store.record_event(event.clone()).await.unwrap();
    assert!(
        next(&mut subscription, Duration::from_secs(1))
            .await
            .is_none(),
        "delivered while an older transaction of the server was open"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    let released = tokio::time::Instant::now();
    let delivered = next(&mut subscription, Duration::from_secs(5))
        .await
        .expect("delivered within 5 s of the release, not at the next 10 s poll");
    assert_eq!(delivered.event.event_id(), event.event_id());
    eprintln!("delivered {:?} after the release", released.elapsed());
}

/// Rows that existed before the position column come first, in id order, then new ones.
#[tokio::test(flavor = "multi_thread")]
async fn rows_from_before_the_column_come_first() {
    let store = common::setup().await;
    let old = simple_events("conv-old", "req-old", 5);
    store.record_events(old.clone()).await.unwrap();
    // As if the column had been added after these rows: they read the constant default.
    store.db.sql("UPDATE events SET grafi_tx = '0'").await;
    let new = simple_events("conv-new", "req-new", 3);
    store.record_events(new.clone()).await.unwrap();
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    let mut delivered = Vec::new();
    while delivered.len() < 8 {
        delivered.push(next(&mut subscription, DELIVERY).await.expect("event"));
    }
    let ids: Vec<&str> = delivered.iter().map(|p| p.event.event_id()).collect();
    let expected: Vec<&str> = old.iter().chain(&new).map(|e| e.event_id()).collect();
    assert_eq!(ids, expected);
}

/// A table without the position column (grafi's own, not migrated): subscribing fails by
/// name, pointing at the migration, instead of falling back to ids.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_column_subscribing_fails_naming_the_migration() {
    let store = common::setup().await;
    store
        .db
        .sql("DROP INDEX ix_events_position; ALTER TABLE events DROP COLUMN grafi_tx")
        .await;
    let unmigrated = common::builder(&store.db).connect().await.unwrap();
    let mut subscription = unmigrated.subscribe(Cursor::start(), Filter::all());
    match subscription.next().await {
        Some(Err(StoreError::Unsupported { message, .. })) => {
            assert!(message.contains("grafi-store migrate run"), "{message}")
        }
        other => panic!("expected Unsupported, got {:?}", other.map(|r| r.is_ok())),
    }
    assert!(subscription.next().await.is_none());
    assert!(matches!(
        unmigrated.end_cursor().await,
        Err(StoreError::Unsupported { .. })
    ));
    // Plain reads still work.
    unmigrated
        .record_events(simple_events("c", "r", 2))
        .await
        .unwrap();
    assert_eq!(unmigrated.get_events().await.unwrap().len(), 2);
}

/// A small deterministic generator (the test must be reproducible).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// 8 writers (6 through the store in random batches, 2 in plain SQL transactions of random
/// length) record 100,000 events while 4 subscribers follow and every connection of the
/// database is killed, again and again: each subscriber delivers all 100,000, once each, in
/// one order, the order a later stream gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_subscribers_see_100k_events_from_8_writers_through_killed_connections() {
    const TOTAL: usize = 100_000;
    const WRITERS: usize = 8;
    const PER_WRITER: usize = TOTAL / WRITERS;
    let store = common::setup_with(|b| b.pool_size(16)).await;
    let url = store.db.url.clone();
    let writing = Arc::new(AtomicBool::new(true));

    let subscribers = (0..4).map(|_| {
        let store = store.store.clone();
        tokio::spawn(async move {
            let mut subscription = store.subscribe(Cursor::start(), Filter::all());
            let mut delivered: Vec<Positioned> = Vec::with_capacity(TOTAL);
            let mut errors = 0usize;
            while delivered.len() < TOTAL {
                match tokio::time::timeout(Duration::from_secs(120), subscription.next()).await {
                    Err(_) => panic!("no event for 120 s after {}", delivered.len()),
                    Ok(None) => panic!("the subscription ended"),
                    Ok(Some(Ok(item))) => delivered.push(item),
                    Ok(Some(Err(error))) if error.is_retryable() => errors += 1,
                    Ok(Some(Err(error))) => panic!("subscription failed: {error}"),
                }
            }
            drop(subscription);
            (delivered, errors)
        })
    });
    let subscribers: Vec<_> = subscribers.collect();

    let writers = (0..WRITERS).map(|w| {
        let store = store.store.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut rng = Rng(w as u64 + 1);
            let mut written = Vec::with_capacity(PER_WRITER);
            let mut batch_no = 0;
            while written.len() < PER_WRITER {
                let size = (1 + rng.below(300) as usize).min(PER_WRITER - written.len());
                let batch =
                    simple_events(&format!("conv-{w}"), &format!("req-{w}-{batch_no}"), size);
                batch_no += 1;
                if w < 6 {
                    // Idempotent: after a killed connection, the same batch again.
                    while let Err(error) = store.record_events(batch.clone()).await {
                        assert!(error.is_retryable(), "{error}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                } else {
                    let pause = rng.below(3);
                    loop {
                        let attempt = async {
                            let client = tokio::time::timeout(
                                Duration::from_secs(10),
                                tokio_postgres::connect(&url, tokio_postgres::NoTls),
                            )
                            .await
                            .map_err(|_| "connect timed out".to_owned())?
                            .map_err(|e| e.to_string())?;
                            let (client, connection) = client;
                            tokio::spawn(connection);
                            client
                                .batch_execute("BEGIN")
                                .await
                                .map_err(|e| e.to_string())?;
                            for event in &batch {
                                client
                                    .execute(PLAIN_INSERT, &[&event.to_json()])
                                    .await
                                    .map_err(|e| e.to_string())?;
                                if pause > 0 {
                                    tokio::time::sleep(Duration::from_micros(200 * pause)).await;
                                }
                            }
                            client
                                .batch_execute("COMMIT")
                                .await
                                .map_err(|e| e.to_string())
                        };
                        match attempt.await {
                            Ok(()) => break,
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                }
                written.extend(batch.iter().map(|e| e.event_id().to_owned()));
            }
            written
        })
    });
    let writers: Vec<_> = writers.collect();

    let killer = {
        let url = url.clone();
        let writing = Arc::clone(&writing);
        tokio::spawn(async move {
            let mut kills = 0;
            while writing.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(700)).await;
                let client = plain_client(&url).await;
                let killed = client
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
                kills += usize::from(killed > 0);
            }
            kills
        })
    };

    let mut all_written = HashSet::new();
    for writer in writers {
        all_written.extend(writer.await.unwrap());
    }
    writing.store(false, Ordering::Release);
    let kills = killer.await.unwrap();
    assert_eq!(all_written.len(), TOTAL);
    assert!(kills >= 3, "connections were killed only {kills} times");

    let mut results = Vec::new();
    for subscriber in subscribers {
        results.push(subscriber.await.unwrap());
    }
    // Every subscriber has delivered everything, so every event is final: one stream has all.
    let order: Vec<String> = store
        .stream_events(Cursor::start())
        .map_ok(|p| p.event.event_id().to_owned())
        .try_collect()
        .await
        .unwrap();
    for (i, (delivered, errors)) in results.into_iter().enumerate() {
        let ids: Vec<String> = delivered
            .iter()
            .map(|p| p.event.event_id().to_owned())
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            TOTAL,
            "subscriber {i} delivered an event twice"
        );
        assert!(
            ids.iter().all(|id| all_written.contains(id)),
            "subscriber {i} delivered an unknown event"
        );
        for pair in delivered.windows(2) {
            assert!(
                pair[0].cursor < pair[1].cursor,
                "subscriber {i}: out of order"
            );
        }
        assert_eq!(
            ids, order,
            "subscriber {i}: another order than the stream's"
        );
        eprintln!("subscriber {i}: {TOTAL} events, {errors} retryable errors passed on");
    }
    eprintln!("connections killed {kills} times");
}
