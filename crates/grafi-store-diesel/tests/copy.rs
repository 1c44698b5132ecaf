//! The binary `COPY` batch path: the same rows as `INSERT`, and every way out of it (a stored
//! or repeated id, an invalid event, a table it cannot encode for, a busy pool).

mod common;

use common::{
    lenient_events, scalar, setup_copy_always, setup_insert_only, setup_with, ScratchDb, TestStore,
};
use grafi_events::Event;
use grafi_store_core::conformance::{agent_trace, grafi_corpus, simple_events};
use grafi_store_core::{EventStore, StoreError};
use grafi_store_diesel::CopyStats;

/// Every stored column of every row as PostgreSQL prints it, in id order.
async fn dump(store: &TestStore) -> String {
    scalar(
        &store.db.url,
        "SELECT string_agg(concat_ws(' | ', event_id, conversation_id, assistant_request_id, \
         event_type, event_context::text, data::text, \"timestamp\"::text, \
         coalesce(extra::text, 'NULL')), E'\\n' ORDER BY id) FROM events",
    )
    .await
}

fn stats(copied: u64, fallbacks: u64) -> CopyStats {
    let mut s = CopyStats::default();
    s.copied = copied;
    s.fallbacks = fallbacks;
    s
}

/// Events whose columns exercise the encoding: grafi's corpus (a 200 KB payload, unicode),
/// agent traces, and our own documents (nanosecond, non-UTC and pre-2000 timestamps, `extra`,
/// unknown types).
fn varied_events() -> Vec<Event> {
    let lines = [
        r#"{"event_id": "v2", "event_version": "2.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "timestamp": "2025-07-08T11:14:27.5+02:00", "event_context": {"tool_id": "t", "tool_name": "n", "tool_type": "T", "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": null, "kwargs": {"z": 1e+20, "a": -0.0}}}, "data": {"input_data": "[]", "later": "a\u0000b"}, "trace": {"span": 1}}"#,
        r#"{"event_id": "naive", "event_version": "1.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "timestamp": "2025-07-08T09:14:27.123456789", "event_context": {"tool_id": "t", "tool_name": "n", "tool_type": "T", "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": "u", "kwargs": {}}}, "data": {"input_data": "[]"}}"#,
        r#"{"event_id": "old", "event_version": "1.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "timestamp": "1969-12-31T23:59:59.999999+00:00", "event_context": {"tool_id": "t", "tool_name": "n", "tool_type": "T", "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": "u", "kwargs": {}}}, "data": {"input_data": "[]"}}"#,
        r#"{"x": [1, 2.50], "event_type": "SomethingNew", "event_id": "raw1", "timestamp": "2025-07-08T09:14:27+00:00"}"#,
    ];
    let mut events = lenient_events(&lines);
    events.extend(grafi_corpus());
    events.extend(agent_trace("conv-trace", 3, 0));
    events
}

/// The `COPY` path and the `INSERT` path leave byte-identical rows.
#[tokio::test(flavor = "multi_thread")]
async fn copy_and_insert_store_identical_rows() {
    let events = varied_events();
    let n = events.len();
    let copied = setup_copy_always().await;
    let inserted = setup_insert_only().await;
    let a = copied.record_events(events.clone()).await.unwrap();
    let b = inserted.record_events(events).await.unwrap();
    assert_eq!((a.recorded, b.recorded), (n, n));
    assert_eq!(copied.copy_stats(), stats(1, 0));
    assert_eq!(inserted.copy_stats(), stats(0, 0));
    let (copy_rows, insert_rows) = (dump(&copied).await, dump(&inserted).await);
    assert_eq!(copy_rows.lines().count(), n);
    assert!(copy_rows.contains("2025-07-08 09:14:27.123456"));
    assert!(copy_rows.contains("1969-12-31 23:59:59.999999"));
    // Row by row first, for a readable failure.
    for (c, i) in copy_rows.lines().zip(insert_rows.lines()) {
        assert_eq!(c, i);
    }
    assert_eq!(copy_rows, insert_rows);
}

/// An id already stored, and one repeated inside the batch: the `COPY` fails, nothing of it is
/// kept, and the `INSERT` fallback records the rest in order, keeping each id's first write.
#[tokio::test(flavor = "multi_thread")]
async fn stored_or_repeated_ids_fall_back_and_the_first_write_wins() {
    let store = setup_copy_always().await;
    let first = simple_events("conv-first", "req", 10);
    store.record_events(first.clone()).await.unwrap();
    assert_eq!(store.copy_stats(), stats(1, 0));

    let mut batch = simple_events("conv-second", "req", 300);
    batch[150].meta_mut().unwrap().event_id = first[3].event_id().to_owned();
    let repeated = batch[100].event_id().to_owned();
    batch[200].meta_mut().unwrap().event_id = repeated.clone();
    let outcome = store.record_events(batch.clone()).await.unwrap();
    assert_eq!((outcome.recorded, outcome.duplicates), (298, 2));
    assert_eq!(store.copy_stats(), stats(1, 1));

    let stored = store.get_events().await.unwrap();
    let expected: Vec<&str> = first
        .iter()
        .chain(batch.iter().enumerate().filter_map(|(i, e)| {
            // The two duplicates are skipped; everything else keeps the batch order.
            (i != 150 && i != 200).then_some(e)
        }))
        .map(Event::event_id)
        .collect();
    let got: Vec<&str> = stored.iter().map(|e| e.event_id()).collect();
    assert_eq!(got, expected);
    let kept = store.get_event(first[3].event_id()).await.unwrap().unwrap();
    assert_eq!(kept.conversation_id(), "conv-first");
    assert_eq!(
        store.get_event(&repeated).await.unwrap().unwrap().as_ref(),
        &batch[100]
    );

    // The whole batch again (a retry): the COPY fails on its first row, every event is a
    // duplicate, and the store keeps working.
    let again = store.record_events(batch).await.unwrap();
    assert_eq!((again.recorded, again.duplicates), (0, 300));
    assert_eq!(store.copy_stats(), stats(1, 2));
}

/// An event that fails its checks while the `COPY` is streaming: the `COPY` is aborted,
/// nothing is written, the error names the event; the next batch is copied as usual.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_event_aborts_the_copy_and_writes_nothing() {
    let store = setup_copy_always().await;
    let mut batch = simple_events("conv", "req", 1_000);
    batch[700].meta_mut().unwrap().event_id = String::new();
    match store.record_events(batch).await {
        Err(StoreError::InvalidEvent { index, .. }) => assert_eq!(index, 700),
        other => panic!("expected InvalidEvent at 700, got {other:?}"),
    }
    assert_eq!(
        scalar(&store.db.url, "SELECT count(*) FROM events").await,
        "0"
    );
    assert_eq!(store.copy_stats(), stats(0, 0));
    let outcome = store
        .record_events(simple_events("conv", "req", 1_000))
        .await
        .unwrap();
    assert_eq!(outcome.recorded, 1_000);
    assert_eq!(store.copy_stats(), stats(1, 0));
}

/// A table whose column types differ from what the binary rows are encoded for (altered by
/// hand): `COPY` is turned off and batches still land, by `INSERT`.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_other_column_types_is_written_with_insert() {
    let migrated = setup_with(|b| b).await;
    assert!(migrated.uses_copy());
    let db: ScratchDb = ScratchDb::new().await;
    let store = common::builder(&db).connect().await.unwrap();
    drop(store);
    db.sql("ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb")
        .await;
    let store = common::builder(&db)
        .copy(Some(1), 2)
        .connect()
        .await
        .unwrap();
    assert!(!store.uses_copy());
    let outcome = store
        .record_events(simple_events("conv", "req", 300))
        .await
        .unwrap();
    assert_eq!(outcome.recorded, 300);
    assert_eq!(store.copy_stats(), stats(0, 0));
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM events").await, "300");
}

/// More concurrent batches than `COPY` connections: those that find the connection taken are
/// inserted at once instead of waiting, and every event lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_beyond_the_copy_pool_still_land() {
    let store = setup_with(|b| b.copy(Some(1), 1)).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.store.clone();
            tokio::spawn(async move {
                store
                    .record_events(simple_events(&format!("conv-{w}"), "req", 2_000))
                    .await
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.await.unwrap().unwrap().recorded, 2_000);
    }
    let s = store.copy_stats();
    assert_eq!(s.copied + s.fallbacks, 4, "{s:?}");
    assert!(s.copied >= 1 && s.fallbacks >= 1, "{s:?}");
    assert_eq!(
        scalar(
            &store.db.url,
            "SELECT count(DISTINCT event_id) || '/' || count(*) FROM events"
        )
        .await,
        "8000/8000"
    );
}

/// The deadline passes while the `COPY` waits on a lock: a batch holding an invalid event not
/// yet encoded is still reported as invalid (as on the `INSERT` path), a valid one as a
/// timeout of unknown outcome; nothing is written either way.
#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_during_the_copy_still_reports_an_invalid_event() {
    use diesel_async::SimpleAsyncConnection;
    let db = ScratchDb::new().await;
    let store = common::builder(&db)
        .call_timeout(std::time::Duration::from_millis(700))
        .statement_timeout(None)
        .copy(Some(1), 1)
        .connect()
        .await
        .unwrap();
    let mut locker = common::lock_events_table(&db).await;
    let mut batch = simple_events("conv", "req", 1_000);
    batch[700].meta_mut().unwrap().event_id = String::new();
    match store.record_events(batch).await {
        Err(StoreError::InvalidEvent { index, .. }) => assert_eq!(index, 700),
        other => panic!("expected InvalidEvent at 700, got {other:?}"),
    }
    match store
        .record_events(simple_events("conv", "req", 1_000))
        .await
    {
        Err(e @ StoreError::Timeout { .. }) => assert!(e.outcome_unknown()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM events").await, "0");
    assert_eq!(store.copy_stats(), stats(0, 0));
}
