//! The shared validation and PostgreSQL agree on what is storable, and a row the database
//! refuses for a reason the validation cannot know is pinned to its event.

mod common;

use std::cell::Cell;

use common::{scalar, setup, setup_copy_always, setup_insert_only, ScratchDb};
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use grafi_events::Event;
use grafi_store_core::conformance::simple_events;
use grafi_store_core::{validate, EventStore, InvalidReason, Limits, StoreError};
use proptest::prelude::*;
use serde_json::Value;

const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");
const MIGRATIONS: [&str; 2] = [
    include_str!("../../../migrations/2025-07-01-000001_grafi_events/up.sql"),
    include_str!("../../../migrations/2025-07-01-000002_grafi_rs_bigint_extra_topic_index/up.sql"),
];

/// A `CHECK` constraint someone added to the shared table refuses one event of a batch: the
/// call fails naming that event and its position, and nothing of the batch is written, on the
/// `COPY` path and on the `INSERT` path alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_the_database_refuses_is_named_and_nothing_of_the_batch_is_written() {
    for store in [setup_insert_only().await, setup_copy_always().await] {
        store
            .db
            .sql("ALTER TABLE events ADD CONSTRAINT not_forbidden CHECK (assistant_request_id <> 'forbidden')")
            .await;
        let mut batch = simple_events("conv", "req", 600);
        let refused = simple_events("conv", "forbidden", 1).remove(0);
        let refused_id = refused.event_id().to_owned();
        batch.insert(437, refused);
        match store.record_events(batch).await {
            Err(StoreError::InvalidEvent {
                event_id,
                index,
                reason: InvalidReason::Refused { message },
            }) => {
                assert_eq!((event_id.as_str(), index), (refused_id.as_str(), 437));
                assert!(message.contains("23514"), "{message}");
            }
            other => panic!("expected the refused event, got {other:?}"),
        }
        assert_eq!(
            scalar(&store.db.url, "SELECT count(*) FROM events").await,
            "0"
        );
    }
}

/// One event built near a limit: which field, and the document.
#[derive(Debug, Clone)]
struct Probe {
    what: String,
    document: String,
}

fn text(len: usize, compressible: bool, seed: u64) -> String {
    if compressible {
        "k".repeat(len)
    } else {
        // Hex of a cheap hash chain: incompressible enough for PostgreSQL's pglz.
        let mut state = seed | 1;
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push_str(&format!("{state:016x}"));
        }
        out.truncate(len);
        out
    }
}

fn probe() -> impl Strategy<Value = Probe> {
    let key_len = prop_oneof![1usize..64, 2000usize..2100, 2600usize..2800];
    let number = prop_oneof![
        (
            prop_oneof![
                Just("1"),
                Just("9.99"),
                Just("10"),
                Just("0.1"),
                Just("0"),
                Just("12.5")
            ],
            prop_oneof![131_068i64..131_075, -16_390i64..-16_380, -5i64..5]
        )
            .prop_map(|(m, e)| format!("{m}e{e}")),
        (1usize..20, 16_370usize..16_400).prop_map(|(int, frac)| format!(
            "{}.{}1",
            "7".repeat(int),
            "0".repeat(frac)
        )),
    ];
    let timestamp = prop_oneof![
        Just("2025-07-08T09:14:27.319099+00:00"),
        Just("9999-12-31T23:59:59-01:00"),
        Just("9999-12-31T22:59:59-01:00"),
        Just("0001-01-01T00:30:00+01:00"),
        Just("0001-01-01T01:30:00+01:00"),
    ];
    (
        0usize..6,
        key_len,
        any::<bool>(),
        any::<u64>(),
        number,
        timestamp,
        100usize..140,
    )
        .prop_map(
            |(field, len, compressible, seed, number, timestamp, depth)| {
                let mut doc: serde_json::Map<String, Value> = serde_json::from_str(
                    CORPUS
                        .lines()
                        .find(|l| l.contains("\"event_type\": \"PublishToTopic\""))
                        .unwrap(),
                )
                .unwrap();
                let key = text(len, compressible, seed);
                let id = format!("{seed:x}-{len}");
                doc["event_id"] = Value::String(id);
                let ctx = doc["event_context"].as_object_mut().unwrap();
                let what = match field {
                    0 => {
                        doc["event_id"] = Value::String(format!("{seed:x}{key}"));
                        format!("event_id of {} bytes", len + 16)
                    }
                    1 => {
                        ctx["invoke_context"]["conversation_id"] = Value::String(key);
                        format!("conversation_id of {len} bytes")
                    }
                    2 => {
                        ctx["invoke_context"]["assistant_request_id"] = Value::String(key.clone());
                        doc["assistant_request_id"] = Value::String(key);
                        format!("assistant_request_id of {len} bytes")
                    }
                    3 => {
                        ctx["topic_name"] = Value::String(key);
                        format!("topic_name of {len} bytes")
                    }
                    4 => {
                        let n: Value = serde_json::from_str(&number).unwrap();
                        ctx["invoke_context"]["kwargs"]["n"] = n;
                        format!("kwargs number {:.40}", number)
                    }
                    _ => {
                        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                        ctx["invoke_context"]["kwargs"]["deep"] =
                            serde_json::from_str(&nested).unwrap_or(Value::Null);
                        doc["timestamp"] = Value::String(timestamp.to_owned());
                        format!("timestamp {timestamp}, kwargs {depth} deep")
                    }
                };
                Probe {
                    what,
                    document: serde_json::to_string(&doc).unwrap(),
                }
            },
        )
}

/// The row as PostgreSQL's text input forms, for an insert that bypasses the store.
fn columns(event: &Event) -> [String; 7] {
    let utc = event.utc();
    let year = chrono::Datelike::year(&utc);
    let stamp = if year <= 0 {
        format!("{:04}{} BC", 1 - year, utc.format("-%m-%d %H:%M:%S%.6f"))
    } else {
        utc.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    };
    [
        event.event_id().to_owned(),
        event.conversation_id().to_owned(),
        event.assistant_request_id().to_owned(),
        event.event_type().to_owned(),
        event.context_json(),
        event.data_json(),
        stamp,
    ]
}

async fn insert_bypassing_the_store(
    conn: &mut AsyncPgConnection,
    event: &Event,
) -> Result<(), String> {
    let [id, conv, req, ty, ctx, data, stamp] = columns(event);
    diesel::sql_query(
        "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
         event_context, data, \"timestamp\") VALUES ($1, $2, $3, $4, $5::jsonb, $6::json, $7::timestamp) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(conv)
    .bind::<Text, _>(req)
    .bind::<Text, _>(ty)
    .bind::<Text, _>(ctx)
    .bind::<Text, _>(data)
    .bind::<Text, _>(stamp)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Any event the shared validation accepts, PostgreSQL stores (through the store); any event
/// PostgreSQL refuses when inserted directly, the validation refused first. Generated near
/// every limit: indexed texts around the B-tree entry size (compressible or not), numbers at
/// `numeric`'s bounds, timestamps at the edges of Python's years, nesting around the depth
/// limit.
#[test]
fn validation_and_postgresql_agree_on_what_is_storable() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, raw_db) = runtime.block_on(async { (setup().await, ScratchDb::new().await) });
    // The same table in a database no store writes to, for inserts that bypass the store.
    let raw = tokio::sync::Mutex::new(runtime.block_on(async {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = AsyncPgConnection::establish(&raw_db.url).await.unwrap();
        for migration in MIGRATIONS {
            conn.batch_execute(migration).await.unwrap();
        }
        conn
    }));
    let (accepted, refused_by_both, stricter) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 160,
        ..ProptestConfig::default()
    });
    runner
        .run(&probe(), |probe| {
            // Nested past serde_json's limit: no reader gets an event out of it to record.
            let Ok(event) = grafi_events::decode_str(&probe.document) else {
                return Ok(());
            };
            let valid = validate::check(&event, 0, &Limits::default());
            let (stored, direct) = runtime.block_on(async {
                (
                    store.record_event(event.clone()).await,
                    insert_bypassing_the_store(&mut *raw.lock().await, &event).await,
                )
            });
            match (&valid, &direct) {
                (Ok(()), Ok(())) => {
                    prop_assert!(
                        stored.is_ok(),
                        "{}: validation accepted, store failed: {stored:?}",
                        probe.what
                    );
                    accepted.set(accepted.get() + 1);
                }
                (Ok(()), Err(e)) => {
                    return Err(TestCaseError::fail(format!(
                        "{}: validation accepted what PostgreSQL refuses: {e}",
                        probe.what
                    )))
                }
                (Err(_), Err(_)) => refused_by_both.set(refused_by_both.get() + 1),
                (Err(_), Ok(())) => stricter.set(stricter.get() + 1),
            }
            if valid.is_err() {
                prop_assert!(
                    stored.is_err(),
                    "{}: refused by validation but stored",
                    probe.what
                );
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused_by_both, stricter) =
        (accepted.get(), refused_by_both.get(), stricter.get());
    eprintln!("accepted {accepted}, refused by both {refused_by_both}, refused only by validation {stricter}");
    assert!(
        accepted > 10 && refused_by_both > 10,
        "the generator misses a side of a limit"
    );
}
