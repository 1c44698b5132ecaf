//! PostgreSQL-specific behaviour beyond the conformance suite: exact round trips of our own
//! rows, grafi-made tables, big batches, deadlines and error kinds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{builder, init_tracing, lenient_events, scalar, setup, ScratchDb, TestStore};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use grafi_events::{Event, InvokeContext, Message};
use grafi_store_core::conformance::{agent_trace, grafi_corpus, same_event, simple_events};
use grafi_store_core::{EventStore, InvalidReason, StoreError};

const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");
const GRAFI_SCHEMA: &str = include_str!("../../../fixtures/grafi-0.0.24/schema.sql");

/// The grafi corpus through PostgreSQL: every event semantically equal (JSONB's number
/// normalisation and key order in `event_context` are the only differences), nothing in
/// `extra`, and the `data` column holds exactly grafi's JSON text.
#[tokio::test(flavor = "multi_thread")]
async fn grafi_corpus_round_trips_and_needs_no_extra() {
    let store = setup().await;
    let corpus = grafi_corpus();
    let outcome = store.record_events(corpus.clone()).await.unwrap();
    assert_eq!(outcome.recorded, 211);
    let stored = store.get_events().await.unwrap();
    let mut exact = 0;
    for (s, e) in stored.iter().zip(&corpus) {
        assert!(same_event(s, e), "{} differs", e.event_id());
        exact += usize::from(**s == *e);
    }
    // Exact (typed) equality fails only where JSONB rewrote a number in event_context.
    assert!(exact >= 205, "only {exact} of 211 events came back exactly");
    assert_eq!(
        scalar(
            &store.db.url,
            "SELECT count(*) FROM events WHERE extra IS NOT NULL"
        )
        .await,
        "0"
    );
    // `data` is stored verbatim: byte-identical to grafi's `json.dumps(...)` of it.
    for (line, event) in CORPUS.lines().zip(&corpus) {
        let data = scalar(
            &store.db.url,
            &format!(
                "SELECT data::text FROM events WHERE event_id = '{}'",
                event.event_id().replace('\'', "''")
            ),
        )
        .await;
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(data, grafi_events::python_json::to_string(&doc["data"]));
    }
}

/// What grafi's columns cannot hold survives for rows we write: event versions, non-UTC and
/// nanosecond timestamps, unknown top-level fields, raw documents of odd shape and order.
#[tokio::test(flavor = "multi_thread")]
async fn our_own_rows_round_trip_exactly() {
    let store = setup().await;
    let lines = [
        r#"{"event_id": "v2", "event_version": "2.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "timestamp": "2025-07-08T11:14:27.5+02:00", "event_context": {"tool_id": "t", "tool_name": "n", "tool_type": "T", "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": null, "kwargs": {"z": 1e+20, "a": -0.0}}}, "data": {"input_data": "[]", "later": "a\u0000b"}, "trace": {"span": 1}}"#,
        r#"{"event_id": "naive", "event_version": "1.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "timestamp": "2025-07-08T09:14:27.123456789", "event_context": {"tool_id": "t", "tool_name": "n", "tool_type": "T", "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": "u", "kwargs": {}}}, "data": {"input_data": "[]"}}"#,
        r#"{"x": [1, 2.50], "event_type": "SomethingNew", "event_id": "raw1", "timestamp": "2025-07-08T09:14:27+00:00"}"#,
        r#"{"event_id": "raw2", "event_type": "ToolInvoke", "event_version": 3, "timestamp": "2025-07-08T09:14:27Z", "assistant_request_id": 7, "event_context": "not an object", "data": null}"#,
    ];
    let events = lenient_events(&lines);
    assert!(matches!(events[3], Event::Raw(_)));
    store.record_events(events.clone()).await.unwrap();
    assert_round_trip(&store.get_events().await.unwrap(), &events, &lines);
    // The same rows one call each: `record_event` writes a `VALUES` row, not arrays.
    store.clear_events().await.unwrap();
    for event in &events {
        assert_eq!(store.record_event(event.clone()).await.unwrap().recorded, 1);
    }
    assert_round_trip(&store.get_events().await.unwrap(), &events, &lines);
    // And grafi's view of the same rows (what `timestamp` holds): the UTC wall clock.
    assert_eq!(
        scalar(
            &store.db.url,
            "SELECT \"timestamp\" FROM events WHERE event_id = 'v2'"
        )
        .await,
        "2025-07-08 09:14:27.5"
    );
}

/// `stored` holds `events` (decoded from `lines`) exactly, but for the JSONB-normalised
/// kwargs of `v2`.
fn assert_round_trip(stored: &[Arc<Event>], events: &[Event], lines: &[&str]) {
    assert_eq!(stored.len(), lines.len());
    for ((s, e), line) in stored.iter().zip(events).zip(lines.iter().copied()) {
        if e.event_id() == "v2" {
            // kwargs live in event_context (JSONB): numbers normalised, the rest exact.
            assert!(same_event(s, e));
            assert_eq!(s.event_id(), "v2");
            assert!(s.to_json().contains(r#""event_version": "2.0""#));
            assert!(s
                .to_json()
                .contains(r#""timestamp": "2025-07-08T11:14:27.5+02:00""#));
            assert!(s.to_json().ends_with(r#""trace": {"span": 1}}"#));
            assert!(s.to_json().contains(r#""later": "a\u0000b""#));
        } else {
            assert_eq!(**s, *e, "{}", e.event_id());
            assert_eq!(s.to_json(), line);
        }
    }
}

/// A table created by grafi (its exact DDL, integer ids, rows as grafi writes them): the
/// store serves it as it is (no DDL, no rewrite), reads grafi's rows and appends after them;
/// `migrate` then widens it, and the store appends beyond 2^31.
#[tokio::test(flavor = "multi_thread")]
async fn opens_migrates_and_appends_to_a_grafi_table() {
    init_tracing();
    let db = ScratchDb::new().await;
    db.sql(GRAFI_SCHEMA).await;
    let corpus: Vec<&str> = CORPUS.lines().collect();
    // Rows as grafi's SQLAlchemy model writes them: the ISO literal into `timestamp` (offset
    // dropped), no event_version, event_context as JSONB, data as json text.
    let mut insert = String::from(
        "INSERT INTO public.events (event_id, conversation_id, assistant_request_id, event_type, event_context, data, \"timestamp\") VALUES ",
    );
    for (i, line) in corpus.iter().enumerate() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let q = |v: &serde_json::Value| grafi_events::python_json::to_string(v).replace('\'', "''");
        let s = |v: &serde_json::Value| v.as_str().unwrap().replace('\'', "''");
        if i > 0 {
            insert.push_str(", ");
        }
        insert.push_str(&format!(
            "('{}', '{}', '{}', '{}', '{}'::jsonb, '{}'::json, '{}')",
            s(&doc["event_id"]),
            s(&doc["event_context"]["invoke_context"]["conversation_id"]),
            s(&doc["assistant_request_id"]),
            s(&doc["event_type"]),
            q(&doc["event_context"]),
            q(&doc["data"]),
            s(&doc["timestamp"]),
        ));
    }
    db.sql(&insert).await;
    assert_eq!(scalar(&db.url, "SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'id'").await, "integer");

    let id_type = "SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'id'";
    let relfilenode = "SELECT relfilenode FROM pg_class WHERE oid = 'events'::regclass";
    let file_before = scalar(&db.url, relfilenode).await;

    let store = builder(&db).connect().await.unwrap();
    let store = TestStore { store, db };
    assert!(!store.table_is_migrated());
    assert_eq!(scalar(&store.db.url, id_type).await, "integer");
    assert_eq!(scalar(&store.db.url, relfilenode).await, file_before);
    let stored = store.get_events().await.unwrap();
    let corpus_events = grafi_corpus();
    assert_eq!(stored.len(), corpus_events.len());
    for (s, e) in stored.iter().zip(&corpus_events) {
        assert!(s.builtin_type().is_some());
        assert!(same_event(s, e), "{}", e.event_id());
    }
    // Appending to grafi's own table, by INSERT and by COPY, and topic reads without the
    // offset function.
    let mine = agent_trace("conv-on-grafi-table", 2, 70);
    assert_eq!(
        store.record_events(mine.clone()).await.unwrap().recorded,
        mine.len()
    );
    let topic = store
        .get_topic_events("agent_input_topic", &[70, 71])
        .await
        .unwrap();
    assert_eq!(topic.len(), 2);
    assert_eq!(topic[0].topic(), Some(("agent_input_topic", 70)));
    let many = simple_events("conv-copy-on-grafi-table", "req", 100);
    assert_eq!(store.record_events(many).await.unwrap().recorded, 100);
    // An event whose exact text needs `extra` is refused, not stored lossily.
    let odd = lenient_events(&[
        r#"{"event_id": "needs-extra", "event_version": "2.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "event_context": {"invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r"}, "tool_name": "t", "tool_type": "T", "tool_id": "x"}, "data": "[]", "timestamp": "2025-07-08T11:14:27.500000+00:00"}"#,
    ]);
    match store.record_events(odd).await.unwrap_err() {
        StoreError::InvalidEvent {
            event_id, reason, ..
        } => {
            assert_eq!(event_id, "needs-extra");
            assert_eq!(reason, InvalidReason::NeedsMigration { column: "extra" });
        }
        other => panic!("expected NeedsMigration, got {other:?}"),
    }
    assert!(store.get_event("needs-extra").await.unwrap().is_none());
    assert_eq!(scalar(&store.db.url, relfilenode).await, file_before);
    assert_eq!(scalar(&store.db.url, id_type).await, "integer");
    let before_migrate = store.get_events().await.unwrap();
    drop(store.store);

    // The explicit migration widens the table; the store then appends beyond 2^31.
    let applied = grafi_store_diesel::migrate::run_pending_migrations(&store.db.url, None)
        .await
        .unwrap();
    assert_eq!(applied.len(), 4, "{applied:?}");
    assert_eq!(scalar(&store.db.url, id_type).await, "bigint");
    let store = TestStore {
        store: builder(&store.db).connect().await.unwrap(),
        db: store.db,
    };
    assert!(store.table_is_migrated());
    assert_eq!(store.get_events().await.unwrap(), before_migrate);
    store
        .db
        .sql("SELECT setval('events_id_seq', 3000000000)")
        .await;
    let mine = agent_trace("conv-after-grafi", 2, 4_000_000_000);
    assert_eq!(
        store.record_events(mine.clone()).await.unwrap().recorded,
        mine.len()
    );
    let all = store.get_events().await.unwrap();
    assert_eq!(all.len(), before_migrate.len() + mine.len());
    assert_eq!(
        all.last().unwrap().event_id(),
        mine.last().unwrap().event_id()
    );
    let topic = store
        .get_topic_events("agent_input_topic", &[4_000_000_000, 4_000_000_001])
        .await
        .unwrap();
    assert_eq!(topic.len(), 2);
    assert_eq!(topic[0].topic(), Some(("agent_input_topic", 4_000_000_000)));
    // Re-recording grafi's own events is idempotent.
    let again = store.record_events(corpus_events).await.unwrap();
    assert_eq!((again.recorded, again.duplicates), (0, 211));
}

/// A row that no longer decodes comes back raw, and the rest of the conversation with it.
#[tokio::test(flavor = "multi_thread")]
async fn undecodable_rows_come_back_raw() {
    let store = setup().await;
    let events = simple_events("conv-bad", "req-bad", 3);
    store.record_events(events.clone()).await.unwrap();
    store
        .db
        .sql(&format!(
            "UPDATE events SET data = '{{\"input_data\": 42}}' WHERE event_id = '{}'",
            events[1].event_id()
        ))
        .await;
    let read = store.get_conversation_events("conv-bad").await.unwrap();
    assert_eq!(read.len(), 3);
    assert!(matches!(&*read[1], Event::Raw(r) if r.decode_error.is_some()));
    assert!(same_event(&read[2], &events[2]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_events_in_one_call() {
    let store = setup().await;
    let ctx = InvokeContext::new("conv-big", "req-big");
    let tool = grafi_events::ComponentInfo::new("t", "T");
    let mut events: Vec<Event> = (0..100_000)
        .map(|i| Event::tool_invoke(ctx.clone(), tool.clone(), &[Message::user(format!("m{i}"))]))
        .collect();
    events.push(events[10].clone()); // a duplicate inside the batch
    let started = std::time::Instant::now();
    let outcome = store.record_events(events.clone()).await.unwrap();
    eprintln!("100,001 events recorded in {:?}", started.elapsed());
    assert_eq!((outcome.recorded, outcome.duplicates), (100_000, 1));
    // The in-batch duplicate made the first try (a `COPY`) fail after it had drawn ids from
    // the sequence: ids are increasing, not contiguous, and pages still follow each other.
    assert_eq!(store.copy_stats().fallbacks, 1);
    let first = store.get_events_page(None, 99_990).await.unwrap();
    assert_eq!(first.events.len(), 99_990);
    assert_eq!(first.events[99_989].event_id(), events[99_989].event_id());
    let page = store.get_events_page(first.next, 100).await.unwrap();
    assert_eq!(page.events.len(), 10);
    assert_eq!(page.events[9].event_id(), events[99_999].event_id());
}

/// The client-side deadline bounds a call that the server blocks (a lock here, a network
/// partition in production); a server-side statement timeout is a retryable backend error.
#[tokio::test(flavor = "multi_thread")]
async fn deadlines_and_statement_timeouts() {
    let db = ScratchDb::new().await;
    let store = builder(&db)
        .call_timeout(Duration::from_millis(700))
        .statement_timeout(None)
        .connect()
        .await
        .unwrap();
    let strict = builder(&db)
        .statement_timeout(Some(Duration::from_millis(200)))
        .max_retries(0)
        .connect()
        .await
        .unwrap();
    let mut locker = common::lock_events_table(&db).await;

    let started = std::time::Instant::now();
    let err = store.get_events().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Timeout {
                operation: "get_events",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));

    let err = strict
        .record_events(simple_events("c", "r", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );

    locker.batch_execute("ROLLBACK").await.unwrap();
    // The connection abandoned by the deadline does not poison the pool.
    assert!(store.get_events().await.unwrap().is_empty());
    drop((store, strict, locker));
    drop(db);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_server_is_unavailable_and_secret_free() {
    let err = grafi_store_diesel::DieselEventStore::builder(
        "postgres://grafi:sup3r-secret@127.0.0.1:1/grafi",
    )
    .connection_timeout(Duration::from_millis(500))
    .connect()
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("sup3r-secret"));
    assert!(
        err.to_string().to_lowercase().contains("refused"),
        "the cause must reach the operator: {err}"
    );
    let err = grafi_store_diesel::DieselEventStore::builder("mysql://x")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_migrations_an_empty_database_is_a_config_error() {
    let db = ScratchDb::new().await;
    let err = builder(&db)
        .run_migrations(false)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    // Migrating twice is a no-op; then connecting without migrations works.
    grafi_store_diesel::migrate::run_pending_migrations(&db.url, None)
        .await
        .unwrap();
    assert!(
        grafi_store_diesel::migrate::run_pending_migrations(&db.url, None)
            .await
            .unwrap()
            .is_empty()
    );
    let store = builder(&db).run_migrations(false).connect().await.unwrap();
    assert!(store.get_events().await.unwrap().is_empty());
}

#[test]
fn migrating_on_a_current_thread_runtime_is_an_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(ScratchDb::new());
    let err = runtime.block_on(builder(&db).connect()).unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    drop(runtime);
}

/// Concurrent overlapping batches (deadlock-prone orders) all land exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_concurrent_batches_in_opposite_orders() {
    let store = Arc::new(setup().await);
    let events = simple_events("conv-x", "req-x", 400);
    let mut reversed = events.clone();
    reversed.reverse();
    let a = {
        let store = store.clone();
        let events = events.clone();
        tokio::spawn(async move { store.record_events(events).await })
    };
    let b = {
        let store = store.clone();
        tokio::spawn(async move { store.record_events(reversed).await })
    };
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(a.recorded + b.recorded, 400);
    assert_eq!(a.duplicates + b.duplicates, 400);
    assert_eq!(store.get_events().await.unwrap().len(), 400);
}

/// `get_topic_events` uses the topic/offset index.
#[tokio::test(flavor = "multi_thread")]
async fn topic_query_uses_the_index() {
    let store = setup().await;
    let mut conn = AsyncPgConnection::establish(&store.db.url).await.unwrap();
    conn.batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: Vec<Plan> = diesel::sql_query(
        "EXPLAIN SELECT id FROM events WHERE event_type IN ('PublishToTopic', 'TopicEvent') \
         AND (event_context ->> 'topic_name') = 't' AND grafi_event_offset(event_context) = ANY('{1,2}'::bigint[]) \
         ORDER BY grafi_event_offset(event_context), id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|p| p.line).collect();
    assert!(
        plan.iter().any(|l| l.contains("ix_events_topic_offset")),
        "{plan:#?}"
    );
}

/// Conversation and request reads come back in id (recording) order even when the table's
/// physical order differs: the store's query has no `ORDER BY` (a sort would hold every row
/// back until the last one is read) and sorts on the client. 130 events: five chunks decoded
/// on the blocking pool, at most two at a time, and five rows decoded by the caller.
#[tokio::test(flavor = "multi_thread")]
async fn reads_are_in_id_order_whatever_the_physical_order() {
    let store = setup().await;
    let events = simple_events("conv-heap", "req-heap", 130);
    store.record_events(events.clone()).await.unwrap();
    // Rewrite the table backwards, ids unchanged: a scan now meets the newest row first.
    store
        .db
        .sql(
            "CREATE TEMP TABLE backwards AS SELECT * FROM events ORDER BY id DESC;
             DELETE FROM events;
             INSERT INTO events SELECT * FROM backwards ORDER BY id DESC;
             ANALYZE events;",
        )
        .await;
    let physical = scalar(
        &store.db.url,
        "SELECT string_agg(id::text, ',') FROM (SELECT id FROM events WHERE conversation_id = 'conv-heap') s",
    )
    .await;
    assert!(
        physical.starts_with("130,129,"),
        "table not reversed: {physical}"
    );
    let expected: Vec<&str> = events.iter().map(Event::event_id).collect();
    for got in [
        store.get_conversation_events("conv-heap").await.unwrap(),
        store.get_agent_events("req-heap").await.unwrap(),
    ] {
        let ids: Vec<&str> = got.iter().map(|e| e.event_id()).collect();
        assert_eq!(ids, expected);
    }
}

/// `ping` answers, `pool_status` reports the pool, and `close` lets a call in flight finish,
/// refuses every later call (on every clone), closes the connections, and may be repeated.
#[tokio::test(flavor = "multi_thread")]
async fn ping_pool_status_and_a_graceful_close() {
    let store = setup().await;
    store.ping().await.unwrap();
    store
        .record_events(simple_events("conv-close", "req-close", 3))
        .await
        .unwrap();
    let status = store.pool_status().unwrap();
    assert_eq!(status.max_connections, 8);
    assert!(status.connections >= 1, "{status:?}");

    let locker = common::lock_events_table(&store.db).await;
    let reader = store.store.clone();
    let in_flight = tokio::spawn(async move { reader.get_events().await.map(|e| e.len()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closer = store.store.clone();
    let closing = tokio::spawn(async move { closer.close().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!closing.is_finished(), "close waits for the call in flight");
    for refused in [
        store.get_event("x").await.map(|_| ()),
        store
            .record_events(simple_events("c", "r", 1))
            .await
            .map(|_| ()),
        store.ping().await,
    ] {
        assert!(
            matches!(refused, Err(StoreError::Closed { .. })),
            "{refused:?}"
        );
    }
    drop(locker);
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        3,
        "the call in flight finished"
    );
    closing.await.unwrap().unwrap();
    let mut open = u32::MAX;
    for _ in 0..100 {
        open = store.pool_status().unwrap().connections;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, 0, "connections left open after close");
    store.close().await.unwrap();
}
