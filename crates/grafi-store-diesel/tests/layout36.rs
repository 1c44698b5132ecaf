//! grafi 0.0.36's table layout (`fixtures/grafi-0.0.36/schema.sql`): one `jsonb` column
//! `event_data` holding the whole document, the other columns copies of it. Tables are made
//! with grafi's own DDL and filled the way grafi 0.0.36 fills them (plain SQL), then read and
//! written through the store, each test on its own scratch database.
//!
//! The shared conformance suites do not run on this layout yet: their events are grafi
//! 0.0.24 documents, which a grafi 0.0.36 table refuses (`InvalidReason::WrongDialect`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDateTime;
use common::{lenient_events, scalar, ScratchDb};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use grafi_events::{Dialect, Event};
use grafi_store_core::{EventStore, InvalidReason, StoreError};
use grafi_store_diesel::{DieselEventStore, DieselStoreBuilder};
use serde_json::Value;

const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.36/events.jsonl");
const SCHEMA: &str = include_str!("../../../fixtures/grafi-0.0.36/schema.sql");
const CORPUS_24: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");

fn corpus() -> Vec<&'static str> {
    CORPUS.lines().collect()
}

/// A scratch database holding grafi 0.0.36's empty table, made by grafi's own DDL.
async fn grafi36_db() -> ScratchDb {
    let db = ScratchDb::new().await;
    db.sql(SCHEMA).await;
    db
}

/// The row grafi 0.0.36's `EventStorePostgres._event_values` makes of a document.
#[derive(Debug, PartialEq)]
struct GrafiRow {
    event_id: String,
    conversation_id: String,
    assistant_request_id: String,
    event_type: String,
    event_version: String,
    timestamp: NaiveDateTime,
}

/// `datetime.fromisoformat(ts).replace(tzinfo=None)`: the wall clock, offset dropped.
fn python_wall_clock(ts: &str) -> NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|at| at.naive_local())
        .or_else(|_| NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f"))
        .unwrap_or_else(|e| panic!("{ts}: {e}"))
}

fn grafi_row(line: &str) -> GrafiRow {
    let doc: Value = serde_json::from_str(line).unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    GrafiRow {
        event_id: text(&doc["event_id"]),
        conversation_id: text(&doc["event_context"]["invoke_context"]["conversation_id"]),
        assistant_request_id: text(&doc["assistant_request_id"]),
        event_type: text(&doc["event_type"]),
        event_version: text(&doc["event_version"]),
        timestamp: python_wall_clock(doc["timestamp"].as_str().unwrap()),
    }
}

/// Inserts documents as grafi 0.0.36 does: `INSERT … ON CONFLICT (event_id) DO NOTHING`.
async fn grafi_insert(db: &ScratchDb, lines: &[&str]) {
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    for line in lines {
        let row = grafi_row(line);
        diesel::sql_query(
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\") VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind::<Text, _>(&row.event_id)
        .bind::<Text, _>(&row.conversation_id)
        .bind::<Text, _>(&row.assistant_request_id)
        .bind::<Text, _>(&row.event_type)
        .bind::<Text, _>(&row.event_version)
        .bind::<Text, _>(*line)
        .bind::<Timestamp, _>(row.timestamp)
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct TableRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = Text)]
    assistant_request_id: String,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    event_version: String,
    /// `None` for `infinity` / `-infinity`, which chrono cannot hold.
    #[diesel(sql_type = Nullable<Timestamp>)]
    timestamp: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    topic: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    topic_offset: Option<i64>,
}

/// Every row, in id order, with the topic name and offset grafi's topic reads use.
async fn table_rows(db: &ScratchDb) -> Vec<TableRow> {
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    diesel::sql_query(
        "SELECT id::int8 AS id, event_id, conversation_id, assistant_request_id, event_type, \
         event_version, CASE WHEN isfinite(\"timestamp\") THEN \"timestamp\" END AS \"timestamp\", event_data -> 'event_context' ->> 'name' AS topic, \
         CASE WHEN jsonb_typeof(event_data -> 'event_context' -> 'offset') = 'number' \
              THEN (event_data -> 'event_context' ->> 'offset')::numeric::int8 END AS topic_offset \
         FROM events ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap()
}

/// Equal as JSON values, as `jsonb` keeps them: key order ignored, numbers by value
/// (`1e+300` and its 301 digits, `-0.0` and `0.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Number(x), Value::Number(y)) => {
            x.to_string() == y.to_string()
                || x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok()
        }
        _ => a == b,
    }
}

fn assert_same_document(event: &Event, line: &str) {
    let read: Value = serde_json::from_str(&event.to_json()).unwrap();
    let written: Value = serde_json::from_str(line).unwrap();
    assert!(
        same_json(&read, &written),
        "{} reads back as another document:\n{}\n{}",
        event.event_id(),
        event.to_json(),
        line
    );
}

fn builder(db: &ScratchDb) -> DieselStoreBuilder {
    DieselEventStore::builder(db.url.clone()).pool_size(4)
}

/// Every read path returns every row of the table: counts equal `count(*)` (by id, all, pages,
/// by conversation, by request) and, for topic reads, the table's topic rows.
async fn assert_every_row_reads_back(store: &DieselEventStore, db: &ScratchDb) {
    let rows = table_rows(db).await;
    let count: usize = scalar(&db.url, "SELECT count(*) FROM events")
        .await
        .parse()
        .unwrap();
    assert_eq!(rows.len(), count);

    let all = store.get_events().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.event_id()).collect();
    let table_ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids, table_ids, "get_events is in id (recording) order");

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.get_events_page(cursor, 7).await.unwrap();
        paged.extend(page.events.iter().map(|e| e.event_id().to_owned()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, table_ids);

    for row in &rows {
        let event = store.get_event(&row.event_id).await.unwrap();
        assert_eq!(
            event.map(|e| e.event_id().to_owned()).as_deref(),
            Some(&*row.event_id)
        );
    }

    let mut by_conversation = 0;
    for conversation in rows
        .iter()
        .map(|r| &r.conversation_id)
        .collect::<BTreeSet<_>>()
    {
        let events = store.get_conversation_events(conversation).await.unwrap();
        let expected: Vec<&str> = rows
            .iter()
            .filter(|r| &r.conversation_id == conversation)
            .map(|r| r.event_id.as_str())
            .collect();
        assert_eq!(
            events.iter().map(|e| e.event_id()).collect::<Vec<_>>(),
            expected
        );
        by_conversation += events.len();
    }
    assert_eq!(by_conversation, count);

    let mut by_request = 0;
    for request in rows
        .iter()
        .map(|r| &r.assistant_request_id)
        .collect::<BTreeSet<_>>()
    {
        by_request += store.get_agent_events(request).await.unwrap().len();
    }
    assert_eq!(by_request, count);

    let mut topics: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut topic_rows = 0;
    for row in &rows {
        if let (true, Some(topic), Some(offset)) = (
            matches!(row.event_type.as_str(), "PublishToTopic" | "TopicEvent"),
            &row.topic,
            row.topic_offset,
        ) {
            topics.entry(topic).or_default().push(offset);
            topic_rows += 1;
        }
    }
    let mut read = 0;
    for (topic, offsets) in &topics {
        let events = store.get_topic_events(topic, offsets).await.unwrap();
        read += events.len();
    }
    assert_eq!(read, topic_rows);
}

#[tokio::test]
async fn rows_grafi_wrote_come_back_by_every_read_path() {
    let db = grafi36_db().await;
    let lines = corpus();
    grafi_insert(&db, &lines).await;
    let store = builder(&db).connect().await.unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    assert!(!store.table_is_migrated());
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM events").await,
        lines.len().to_string()
    );
    assert_every_row_reads_back(&store, &db).await;
    // The documents, as jsonb kept them: what grafi 0.0.36 itself reads back.
    for line in &lines {
        let id = grafi_row(line).event_id;
        let event = store.get_event(&id).await.unwrap().unwrap();
        assert_same_document(&event, line);
    }
    // The topic read matches grafi's: `event_data->'event_context'->>'name'`, by offset.
    let inputs = store
        .get_topic_events("agent_input_topic", &[0, 1, 2, 3, 4, 5, 6, 7])
        .await
        .unwrap();
    assert_eq!(inputs.len(), 8);
    assert!(inputs.iter().all(|e| e.event_type() == "PublishToTopic"));
}

/// One hostile row, written with plain SQL as another client could.
struct Hostile {
    event_id: &'static str,
    id: &'static str,
    event_data: String,
    timestamp: &'static str,
    /// Whether it must come back raw with a reason (`None`: raw or typed, as the registry
    /// decides; the row is there for another read).
    raw_with_reason: Option<bool>,
}

fn hostile_rows() -> Vec<Hostile> {
    let doc = |id: &str, ty: &str, ts: &str| {
        format!(
            r#"{{"event_id": "{id}", "event_type": "{ty}", "event_version": "1.0", "assistant_request_id": "hr", "timestamp": "{ts}", "event_context": {{"name": "hostile", "type": "Topic", "offset": 0, "invoke_context": {{"conversation_id": "hc", "invoke_id": "i", "assistant_request_id": "hr"}}}}, "data": "[]"}}"#
        )
    };
    let ok_ts = "2025-07-08T09:14:27+00:00";
    let h = |event_id, id, event_data: String, timestamp, raw_with_reason| Hostile {
        event_id,
        id,
        event_data,
        timestamp,
        raw_with_reason,
    };
    vec![
        h("h-array", "0", "[1, 2]".into(), "'2025-01-01'", Some(true)),
        h(
            "h-string",
            "-5",
            "\"just text\"".into(),
            "'2025-01-01'",
            Some(true),
        ),
        h(
            "h-other-id",
            "1000001",
            doc("someone-else", "NodeInvoke", ok_ts),
            "'2025-01-01'",
            Some(true),
        ),
        h(
            "h-bad-ts",
            "1000002",
            doc("h-bad-ts", "SomethingNew", "yesterday"),
            "'2025-01-01'",
            Some(true),
        ),
        h(
            "h-unknown",
            "1000003",
            doc("h-unknown", "SomethingNew", ok_ts),
            "'infinity'",
            Some(false),
        ),
        h(
            "h-topic-bad-data",
            "1000004",
            doc("h-topic-bad-data", "TopicEvent", ok_ts).replace(r#""data": "[]""#, r#""data": 5"#),
            "'-infinity'",
            Some(true),
        ),
        h(
            "h-deep",
            "2147483647",
            format!(
                r#"{{"deep": {}1{}, "event_id": "h-deep", "event_type": "NodeInvoke", "timestamp": "{ok_ts}"}}"#,
                "[".repeat(300),
                "]".repeat(300)
            ),
            "'2025-01-01'",
            Some(true),
        ),
        h(
            "h-big-offset",
            "-2147483648",
            doc("h-big-offset", "PublishToTopic", ok_ts)
                .replace(r#""offset": 0"#, r#""offset": 3000000000"#),
            "'2025-01-01'",
            None,
        ),
    ]
}

#[tokio::test]
async fn hostile_rows_come_back_raw_by_every_read_path_and_neighbours_are_unchanged() {
    let db = grafi36_db().await;
    let lines = corpus();
    grafi_insert(&db, &lines[..40]).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    for h in hostile_rows() {
        diesel::sql_query(format!(
            "INSERT INTO events (id, event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\") \
             VALUES ({}, $1, 'hc', 'hr', coalesce($2::jsonb ->> 'event_type', 'X'), '1.0', $2::jsonb, {})",
            h.id, h.timestamp
        ))
        .bind::<Text, _>(h.event_id)
        .bind::<Text, _>(&h.event_data)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.event_id));
    }
    let store = builder(&db).connect().await.unwrap();
    assert_every_row_reads_back(&store, &db).await;
    for h in hostile_rows() {
        let event = store
            .get_event(h.event_id)
            .await
            .unwrap()
            .expect(h.event_id);
        let Some(with_reason) = h.raw_with_reason else {
            continue;
        };
        let Event::Raw(raw) = &*event else {
            panic!("{} decoded as {:?}", h.event_id, event.event_type());
        };
        assert_eq!(raw.event_id, h.event_id);
        assert_eq!(
            raw.decode_error.is_some(),
            with_reason,
            "{}: {raw:?}",
            h.event_id
        );
    }
    let deep = store.get_event("h-deep").await.unwrap().unwrap();
    assert!(deep.to_json().contains(&"[".repeat(300)));
    // The neighbours grafi wrote are the documents it wrote.
    for line in &lines[..40] {
        let event = store
            .get_event(&grafi_row(line).event_id)
            .await
            .unwrap()
            .unwrap();
        assert_same_document(&event, line);
    }
    // A topic read over the out-of-int4 offset works (grafi's own cast to integer fails here).
    let big = store
        .get_topic_events("hostile", &[3_000_000_000])
        .await
        .unwrap();
    assert_eq!(big.len(), 1);
}

/// The corpus as the store's callers have it today: every document decodes (leniently) to an
/// event of grafi 0.0.36's dialect.
fn corpus_events() -> Vec<Event> {
    let events = lenient_events(&corpus());
    assert!(events.iter().all(|e| e.dialect() == Some(Dialect::V0_0_36)));
    events
}

/// The rows the store wrote are the rows grafi 0.0.36 writes for the same documents.
async fn assert_rows_are_grafis(db: &ScratchDb, lines: &[&str]) {
    let rows = table_rows(db).await;
    assert_eq!(rows.len(), lines.len());
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    for (row, line) in rows.iter().zip(lines) {
        let expected = grafi_row(line);
        let found = GrafiRow {
            event_id: row.event_id.clone(),
            conversation_id: row.conversation_id.clone(),
            assistant_request_id: row.assistant_request_id.clone(),
            event_type: row.event_type.clone(),
            event_version: row.event_version.clone(),
            timestamp: row.timestamp.expect("a finite timestamp"),
        };
        assert_eq!(found, expected, "row {}", row.id);
        #[derive(diesel::QueryableByName)]
        struct Same {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            same: bool,
        }
        let same: Same = diesel::sql_query(
            "SELECT event_data = $1::jsonb AS same FROM events WHERE event_id = $2",
        )
        .bind::<Text, _>(*line)
        .bind::<Text, _>(&expected.event_id)
        .get_result(&mut conn)
        .await
        .unwrap();
        assert!(
            same.same,
            "event_data of {} is not the document",
            expected.event_id
        );
    }
}

async fn record_corpus_twice(store: &DieselEventStore, db: &ScratchDb) {
    let lines = corpus();
    let events = corpus_events();
    let outcome = store.record_events(events[..120].to_vec()).await.unwrap();
    assert_eq!((outcome.recorded, outcome.duplicates), (120, 0));
    // The rest one by one (the single-row statement), then everything again.
    for event in &events[120..] {
        store.record_event(event.clone()).await.unwrap();
    }
    let again = store.record_events(events.clone()).await.unwrap();
    assert_eq!((again.recorded, again.duplicates), (0, lines.len()));
    let twice = store
        .record_events(vec![events[0].clone(), events[0].clone()])
        .await
        .unwrap();
    assert_eq!((twice.recorded, twice.duplicates), (0, 2));
    assert_rows_are_grafis(db, &lines).await;
    assert_every_row_reads_back(store, db).await;
}

#[tokio::test]
async fn the_insert_path_writes_grafis_rows_idempotently() {
    let db = grafi36_db().await;
    let store = builder(&db).copy(None, 0).connect().await.unwrap();
    assert!(!store.uses_copy());
    record_corpus_twice(&store, &db).await;
    // Without `extra`, reads give back what jsonb kept, as grafi's own reads do.
    let all = store.get_events().await.unwrap();
    for (event, line) in all.iter().zip(corpus()) {
        assert_same_document(event, line);
    }
}

#[tokio::test]
async fn the_copy_path_writes_grafis_rows_and_falls_back_on_duplicates() {
    let db = grafi36_db().await;
    let store = builder(&db).copy(Some(2), 2).connect().await.unwrap();
    assert!(store.uses_copy());
    record_corpus_twice(&store, &db).await;
    let stats = store.copy_stats();
    assert!(stats.copied >= 1, "{stats:?}");
    assert!(stats.fallbacks >= 1, "{stats:?}");
}

/// A grafi 0.0.24 document from its corpus.
fn event_24() -> Event {
    let event = grafi_events::decode_str(CORPUS_24.lines().next().unwrap()).unwrap();
    assert_eq!(event.dialect(), Some(Dialect::V0_0_24));
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_of_the_other_dialect_is_refused_by_name_and_nothing_is_written() {
    let db = grafi36_db().await;
    for copy in [None, Some(1)] {
        let store = builder(&db).copy(copy, 2).connect().await.unwrap();
        let mut batch = corpus_events()[..5].to_vec();
        let wrong = event_24();
        let wrong_id = wrong.event_id().to_owned();
        batch.insert(3, wrong);
        match store.record_events(batch).await {
            Err(StoreError::InvalidEvent {
                event_id,
                index,
                reason,
            }) => {
                assert_eq!((event_id.as_str(), index), (wrong_id.as_str(), 3));
                assert_eq!(
                    reason,
                    InvalidReason::WrongDialect {
                        event: Dialect::V0_0_24,
                        table: Dialect::V0_0_36
                    }
                );
            }
            other => panic!("copy {copy:?}: {other:?}"),
        }
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events").await, "0");
    }

    // And the other way round: a grafi 0.0.36 document on grafi 0.0.24's table.
    let db24 = ScratchDb::new().await;
    let store24 = builder(&db24).connect().await.unwrap();
    assert_eq!(store24.dialect(), Dialect::V0_0_24);
    let event36 = corpus_events().remove(0);
    let id36 = event36.event_id().to_owned();
    match store24.record_events(vec![event_24(), event36]).await {
        Err(StoreError::InvalidEvent {
            event_id,
            index: 1,
            reason:
                InvalidReason::WrongDialect {
                    event: Dialect::V0_0_36,
                    table: Dialect::V0_0_24,
                },
        }) => assert_eq!(event_id, id36),
        other => panic!("{other:?}"),
    }
    assert_eq!(scalar(&db24.url, "SELECT count(*) FROM events").await, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_migrate_run_reads_give_back_every_document_byte_for_byte() {
    let db = grafi36_db().await;
    let applied =
        grafi_store_diesel::migrate::run_pending_migrations(&db.url, Some(Duration::from_secs(5)))
            .await
            .unwrap();
    assert_eq!(applied.len(), 4);
    for (sql, expected) in [
        (
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'id'",
            "bigint",
        ),
        (
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'extra'",
            "json",
        ),
        (
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_topic_offset'",
            "CREATE INDEX ix_events_topic_offset ON public.events USING btree ((((event_data -> 'event_context'::text) ->> 'name'::text)), grafi_event_offset((event_data -> 'event_context'::text)), id) WHERE ((event_type)::text = ANY ((ARRAY['PublishToTopic'::character varying, 'TopicEvent'::character varying])::text[]))",
        ),
    ] {
        assert_eq!(scalar(&db.url, sql).await, expected, "{sql}");
    }
    for copy in [None, Some(1)] {
        let store = builder(&db).copy(copy, 2).connect().await.unwrap();
        assert!(store.table_is_migrated());
        store.clear_events().await.unwrap();
        let lines = corpus();
        store.record_events(corpus_events()).await.unwrap();
        assert_rows_are_grafis(&db, &lines).await;
        let all = store.get_events().await.unwrap();
        assert_eq!(all.len(), lines.len());
        for (event, line) in all.iter().zip(&lines) {
            assert_eq!(&event.to_json(), line, "copy {copy:?}");
        }
        assert_every_row_reads_back(&store, &db).await;
    }
    // Documents jsonb gives back unchanged need no copy in `extra`; the others have one.
    let kept = scalar(
        &db.url,
        "SELECT count(*) FROM events WHERE extra IS NOT NULL",
    )
    .await;
    assert_ne!(kept, "0");
}

#[tokio::test]
async fn a_table_of_neither_or_both_layouts_is_a_config_error_naming_its_columns() {
    for (ddl, says) in [
        (
            "CREATE TABLE events (id serial PRIMARY KEY, event_id varchar NOT NULL, payload jsonb)",
            "neither grafi layout",
        ),
        (
            "CREATE TABLE events (id serial PRIMARY KEY, event_id varchar, conversation_id varchar, \
             assistant_request_id varchar, event_type varchar, event_context jsonb, data json, \
             event_version varchar, event_data jsonb, \"timestamp\" timestamp)",
            "mix both",
        ),
    ] {
        let db = ScratchDb::new().await;
        db.sql(ddl).await;
        match builder(&db).connect().await {
            Err(StoreError::Config(message)) => {
                assert!(message.contains(says), "{message}");
                assert!(message.contains("event_data") && message.contains("event_context"));
                assert!(message.contains("\"event_id\""), "names the columns found: {message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_dialect_must_match_the_table_that_exists() {
    let db36 = grafi36_db().await;
    let store = builder(&db36)
        .dialect(Dialect::V0_0_36)
        .connect()
        .await
        .unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    match builder(&db36).dialect(Dialect::V0_0_24).connect().await {
        Err(StoreError::Config(message)) => {
            assert!(message.contains("grafi 0.0.36's layout"), "{message}");
            assert!(message.contains("configured for grafi 0.0.24"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let db24 = ScratchDb::new().await;
    let store24 = builder(&db24).connect().await.unwrap();
    assert_eq!(store24.dialect(), Dialect::V0_0_24);
    assert!(matches!(
        builder(&db24).dialect(Dialect::V0_0_36).connect().await,
        Err(StoreError::Config(_))
    ));
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Column {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
    #[diesel(sql_type = Text)]
    column_default: String,
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    #[diesel(sql_type = Text)]
    indexname: String,
    #[diesel(sql_type = Text)]
    indexdef: String,
}

async fn columns_and_indexes(url: &str) -> (Vec<Column>, Vec<Index>) {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let columns = diesel::sql_query(
        "SELECT column_name::text, data_type::text, is_nullable::text, \
         coalesce(column_default, '')::text AS column_default \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'events' \
         ORDER BY ordinal_position",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let indexes = diesel::sql_query(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'events' ORDER BY indexname",
    )
    .load(&mut conn)
    .await
    .unwrap();
    (columns, indexes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_creates_grafi_0_0_36s_table_with_its_exact_ddl_then_the_migrations() {
    let grafi = grafi36_db().await;
    let (grafi_columns, grafi_indexes) = columns_and_indexes(&grafi.url).await;
    assert_eq!(grafi_columns.len(), 8);
    assert_eq!(grafi_indexes.len(), 5);

    let db = ScratchDb::new().await;
    let store = builder(&db)
        .dialect(Dialect::V0_0_36)
        .connect()
        .await
        .unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    assert!(store.table_is_migrated());
    let (columns, indexes) = columns_and_indexes(&db.url).await;

    // grafi's columns, in grafi's order, as grafi declares them; the migrations widen `id`
    // (as on grafi 0.0.24's table), add the nullable `extra` and the position column last.
    let mut expected = grafi_columns.clone();
    expected[0].data_type = "bigint".into();
    expected.push(Column {
        column_name: "extra".into(),
        data_type: "json".into(),
        is_nullable: "YES".into(),
        column_default: String::new(),
    });
    expected.push(Column {
        column_name: "grafi_tx".into(),
        data_type: "xid8".into(),
        is_nullable: "NO".into(),
        column_default: "pg_current_xact_id()".into(),
    });
    assert_eq!(columns, expected);
    // grafi's five indexes, defined as grafi defines them, plus the topic and position indexes.
    let mut added: Vec<&str> = indexes
        .iter()
        .filter(|i| !grafi_indexes.contains(i))
        .map(|i| i.indexname.as_str())
        .collect();
    added.sort_unstable();
    assert_eq!(added, ["ix_events_position", "ix_events_topic_offset"]);
    assert!(grafi_indexes.iter().all(|i| indexes.contains(i)));

    // Not named, a missing table is grafi 0.0.24's.
    let default = ScratchDb::new().await;
    let store24 = builder(&default).connect().await.unwrap();
    assert_eq!(store24.dialect(), Dialect::V0_0_24);
}

#[tokio::test]
async fn a_document_jsonb_refuses_is_named_as_that_event_and_nothing_is_written() {
    // A NUL in a message of a Tool event: grafi 0.0.36's own write fails (`jsonb` holds no
    // U+0000; in a topic event's `data` string it would be stored fine). Validation knows the
    // event's dialect, so it refuses it by name before anything is sent.
    let line = corpus()
        .into_iter()
        .find(|l| grafi_row(l).event_type == "ToolInvoke")
        .unwrap();
    let mut doc: Value = serde_json::from_str(line).unwrap();
    doc["data"]["input_data"][0]["content"] = Value::String("before\u{0}after".into());
    doc["event_id"] = Value::String("with-nul".into());
    let with_nul = lenient_events(&[&doc.to_string()]).remove(0);
    assert_eq!(with_nul.dialect(), Some(Dialect::V0_0_36));
    // A document of no dialect (an unknown type) fits either table, so validation cannot
    // know its `data` goes to `jsonb` here: the server refuses it, and the store names it.
    let raw_nul = lenient_events(&[r#"{"event_id": "raw-nul", "event_type": "Heartbeat", "timestamp": "2025-07-08T09:14:27+00:00", "event_context": {"invoke_context": {"conversation_id": "c"}}, "data": {"note": "a\u0000b"}}"#]).remove(0);
    assert_eq!(raw_nul.dialect(), None);

    let db = grafi36_db().await;
    for copy in [None, Some(1)] {
        let store = builder(&db).copy(copy, 2).connect().await.unwrap();
        let mut batch = corpus_events()[..4].to_vec();
        batch.insert(2, with_nul.clone());
        match store.record_events(batch).await {
            Err(StoreError::InvalidEvent {
                event_id,
                index: 2,
                reason: InvalidReason::NulCharacter { field: "data" },
            }) => assert_eq!(event_id, "with-nul"),
            other => panic!("copy {copy:?}: {other:?}"),
        }
        let mut batch = corpus_events()[..4].to_vec();
        batch.insert(3, raw_nul.clone());
        match store.record_events(batch).await {
            Err(StoreError::InvalidEvent {
                event_id,
                index: 3,
                reason: InvalidReason::Refused { message },
            }) => {
                assert_eq!(event_id, "raw-nul");
                assert!(message.contains("22P05"), "{message}");
            }
            other => panic!("copy {copy:?}: {other:?}"),
        }
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events").await, "0");
    }
}
