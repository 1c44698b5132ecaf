//! Erasure on PostgreSQL, against what is really in the table: the text of every row, rows
//! other writers put there (plain SQL, with JSON escapes), a write racing an erasure, and a
//! table without the ledger.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{builder, scalar, setup, setup_copy_always, setup_insert_only, ScratchDb, TestStore};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use grafi_events::{Dialect, Event};
use grafi_store_core::conformance::{grafi_036_corpus, grafi_corpus};
use grafi_store_core::lifecycle::{keyed_hash, select_erased, values_of, HashDomain};
use grafi_store_core::{Erasure, EventStore, StoreError};

/// The user with the most events, and the conversations their events name.
fn busiest_user(events: &[Event]) -> (String, BTreeSet<String>) {
    let mut users = BTreeSet::new();
    for event in events {
        values_of(&event.to_value(), "user_id", &mut users);
    }
    users.remove("");
    let user = users
        .into_iter()
        .max_by_key(|u| select_erased(&Erasure::User(u.clone()), events).len())
        .unwrap();
    let mut conversations = BTreeSet::new();
    for event in events {
        let doc = event.to_value();
        if grafi_store_core::lifecycle::names(&doc, "user_id", &user) {
            values_of(&doc, "conversation_id", &mut conversations);
        }
    }
    conversations.remove("");
    (user, conversations)
}

/// Rows whose whole text (every column, `event_context`, `data`, `event_data`, `extra`
/// included) contains `needle`.
async fn rows_containing(store: &TestStore, needle: &str) -> i64 {
    let quoted = needle.replace('\'', "''");
    scalar(
        &store.db.url,
        &format!("SELECT count(*) FROM events e WHERE strpos(e::text, '{quoted}') > 0"),
    )
    .await
    .parse()
    .unwrap()
}

async fn erase_user_leaves_no_row_text_naming_them(store: TestStore, corpus: Vec<Event>) {
    store.record_events(corpus.clone()).await.unwrap();
    let (user, conversations) = busiest_user(&corpus);
    assert!(rows_containing(&store, &user).await > 0);
    let report = store.erase_user(&user).await.unwrap();
    let expected = select_erased(&Erasure::User(user.clone()), &corpus).len() as u64;
    assert_eq!(report.events, expected);
    assert_eq!(rows_containing(&store, &user).await, 0, "{user}");
    for conversation in &conversations {
        assert_eq!(
            rows_containing(&store, conversation).await,
            0,
            "{conversation}"
        );
    }
    let left: i64 = scalar(&store.db.url, "SELECT count(*) FROM events")
        .await
        .parse()
        .unwrap();
    assert_eq!(left as usize, corpus.len() - expected as usize);
    assert!(left > 0, "the other users' events stay");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_erase_user_no_row_of_a_0_0_24_table_contains_the_user_or_their_conversations() {
    erase_user_leaves_no_row_text_naming_them(setup().await, grafi_corpus()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_erase_user_no_row_of_a_0_0_36_table_contains_the_user_or_their_conversations() {
    let store = common::setup_with(|b| b.dialect(Dialect::V0_0_36)).await;
    erase_user_leaves_no_row_text_naming_them(store, grafi_036_corpus()).await;
}

/// Rows written by plain SQL: the user's id behind a JSON escape in the verbatim `json`
/// column, and only inside an embedded document. Both are the user's, and both go.
#[tokio::test(flavor = "multi_thread")]
async fn rows_other_writers_escaped_or_nested_are_erased_too() {
    let store = setup().await;
    store.record_events(grafi_corpus()).await.unwrap();
    store
        .db
        .sql(
            r#"INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type,
                                   event_context, data, "timestamp")
               VALUES ('sql-escaped', 'c-sql', 'r-sql', 'AssistantInvoke',
                       '{"assistant_id": "a", "assistant_name": "n", "assistant_type": "t",
                         "invoke_context": {"conversation_id": "c-sql", "invoke_id": "i",
                                            "assistant_request_id": "r-sql",
                                            "user_id": "someone-else"}}',
                       '{"input_data": [{"event_context": {"invoke_context":
                          {"user_id": "\u0075_7f3a9c"}}}]}',
                       now()),
                      ('sql-nested', 'c-sql2', 'r-sql2', 'AssistantInvoke',
                       '{"assistant_id": "a", "assistant_name": "n", "assistant_type": "t",
                         "invoke_context": {"conversation_id": "c-sql2", "invoke_id": "i",
                                            "assistant_request_id": "r-sql2", "user_id": ""}}',
                       '{"input_data": "[]", "deep": {"x": [{"user_id": "u_7f3a9c"}]}}',
                       now()),
                      ('sql-unrelated', 'c-sql3', 'r-sql3', 'AssistantInvoke',
                       '{"assistant_id": "a", "assistant_name": "n", "assistant_type": "t",
                         "invoke_context": {"conversation_id": "c-sql3", "invoke_id": "i",
                                            "assistant_request_id": "r-sql3",
                                            "user_id": "u_7f3a9c-not"}}',
                       '{"input_data": "[]", "note": "u_7f3a9c in free text is not a user id"}',
                       now())"#,
        )
        .await;
    let found = store
        .subject_events(&Erasure::User("u_7f3a9c".into()))
        .await
        .unwrap();
    let ids: BTreeSet<&str> = found.iter().map(|e| e.event_id()).collect();
    assert!(ids.contains("sql-escaped") && ids.contains("sql-nested"));
    assert!(!ids.contains("sql-unrelated"));
    store.erase_user("u_7f3a9c").await.unwrap();
    for (id, left) in [("sql-escaped", 0), ("sql-nested", 0), ("sql-unrelated", 1)] {
        let count = scalar(
            &store.db.url,
            &format!("SELECT count(*) FROM events WHERE event_id = '{id}'"),
        )
        .await;
        assert_eq!(count, left.to_string(), "{id}");
    }
    // Written again by plain SQL, outside the store: nothing stops it (docs/privacy.md), but
    // the store's own writes of those ids are refused.
    let again = store
        .record_events(vec![found[0].as_ref().clone()])
        .await
        .unwrap();
    assert_eq!((again.recorded, again.erased), (0, 1));
}

/// An erasure in progress (its transaction holds the ledger, has added the hash and deleted
/// the row, and has not committed): a write of the same id, by each write path, waits for
/// it and then stores nothing.
async fn a_write_racing_an_erasure_stores_nothing(store: TestStore, batch: bool) {
    let corpus = grafi_corpus();
    store.record_events(corpus.clone()).await.unwrap();
    let victim = corpus[5].clone();
    let key = hex_key(&store).await;
    let hash = keyed_hash(&key, HashDomain::EventId, victim.event_id());
    let mut eraser = AsyncPgConnection::establish(&store.db.url).await.unwrap();
    eraser
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE grafi_rs_erased IN ACCESS EXCLUSIVE MODE; \
             INSERT INTO grafi_rs_erased (id_hash) VALUES ('\\x{}'); \
             DELETE FROM events WHERE event_id = '{}';",
            hex(&hash),
            victim.event_id()
        ))
        .await
        .unwrap();
    let write = {
        let store = &store.store;
        let events = if batch {
            let mut events = corpus[..50].to_vec();
            events
                .push(grafi_store_core::conformance::simple_events("c-new", "r-new", 1)[0].clone());
            events
        } else {
            vec![victim.clone()]
        };
        async move { store.record_events(events).await }
    };
    tokio::pin!(write);
    let early = tokio::time::timeout(Duration::from_millis(500), &mut write).await;
    assert!(
        early.is_err(),
        "the write did not wait for the erasure: {early:?}"
    );
    eraser.batch_execute("COMMIT").await.unwrap();
    let outcome = write.await.unwrap();
    assert_eq!(outcome.erased, 1, "{outcome:?}");
    assert!(store.get_event(victim.event_id()).await.unwrap().is_none());
    let left = scalar(
        &store.db.url,
        &format!(
            "SELECT count(*) FROM events WHERE event_id = '{}'",
            victim.event_id()
        ),
    )
    .await;
    assert_eq!(left, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_event_written_during_an_erasure_of_it_stays_erased() {
    a_write_racing_an_erasure_stores_nothing(setup().await, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_inserted_during_an_erasure_keeps_the_erased_event_out() {
    a_write_racing_an_erasure_stores_nothing(setup_insert_only().await, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_copied_during_an_erasure_keeps_the_erased_event_out() {
    a_write_racing_an_erasure_stores_nothing(setup_copy_always().await, true).await;
}

async fn hex_key(store: &TestStore) -> Vec<u8> {
    let text = scalar(&store.db.url, "SELECT encode(key, 'hex') FROM grafi_rs_key").await;
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    grafi_store_core::lifecycle::hex(bytes)
}

/// The audit trail names the session's role and `application_name`, and holds the subject
/// only as its keyed hash.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_names_the_role_and_application() {
    let db = ScratchDb::new().await;
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}application_name=retention-job", db.url);
    let store = grafi_store_diesel::DieselEventStore::builder(url)
        .connect()
        .await
        .unwrap();
    store.record_events(grafi_corpus()).await.unwrap();
    store.erase_user("bob").await.unwrap();
    let trail = store.audit_trail().await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].role, "postgres");
    assert_eq!(trail[0].application_name, "retention-job");
    let stored = scalar(&db.url, "SELECT grafi_rs_audit::text FROM grafi_rs_audit").await;
    assert!(!stored.contains("bob"), "{stored}");
    drop(store);
}

/// A table without migration 4 (here: grafi's own, as Python grafi creates it) is served as
/// it is: writes and reads work, erasure and purges refuse by name, and `migrate run` adds
/// what they need without touching `events`.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_without_the_ledger_refuses_to_erase_until_migrated() {
    let db = ScratchDb::new().await;
    db.sql(include_str!("../../../fixtures/grafi-0.0.24/schema.sql"))
        .await;
    let store = builder(&db).connect().await.unwrap();
    store.record_events(grafi_corpus()).await.unwrap();
    for result in [
        store.erase_user("bob").await.map(|_| ()),
        store.purge_before(chrono::Utc::now()).await.map(|_| ()),
        store.audit_trail().await.map(|_| ()),
    ] {
        match result {
            Err(StoreError::Unsupported { message, .. }) => {
                assert!(message.contains("grafi-store migrate run"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    drop(store);
    grafi_store_diesel::migrate::run_pending_migrations(&db.url, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let store = builder(&db).connect().await.unwrap();
    assert_eq!(store.erase_user("bob").await.unwrap().events, 11);
    assert_eq!(store.audit_trail().await.unwrap().len(), 1);
    drop(store);
}

/// A purge walks the table in bounded windows: across tens of thousands of rows, with old
/// and new ones interleaved, full and empty windows, and ids no sequence gave (negative,
/// zero, beyond 2^31, the smallest `bigint`), it removes exactly the older events.
#[tokio::test(flavor = "multi_thread")]
async fn purge_removes_exactly_the_older_rows_across_windows_and_odd_ids() {
    let store = setup().await;
    store
        .record_events(grafi_corpus()[..1].to_vec())
        .await
        .unwrap();
    store
        .db
        .sql(
            r#"INSERT INTO events (id, event_id, conversation_id, assistant_request_id, event_type,
                                   event_context, data, "timestamp")
               SELECT i, 'p-' || i, conversation_id, assistant_request_id, event_type,
                      event_context, data,
                      CASE WHEN i % 7 = 0 OR i BETWEEN 20000 AND 21500
                           THEN timestamp '2001-01-01' ELSE timestamp '2030-01-01' END
               FROM events, generate_series(10, 32009) AS i;
               INSERT INTO events (id, event_id, conversation_id, assistant_request_id, event_type,
                                   event_context, data, "timestamp")
               SELECT i, 'odd' || i, conversation_id, assistant_request_id, event_type,
                      event_context, data, timestamp '2001-01-01'
               FROM (SELECT * FROM events LIMIT 1) AS e,
                    unnest(ARRAY[-9223372036854775808, -5, 0, 3000000000]::int8[]) AS i;"#,
        )
        .await;
    let cut_off = chrono::DateTime::parse_from_rfc3339("2010-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let older: u64 = scalar(
        &store.db.url,
        "SELECT count(*) FROM events WHERE \"timestamp\" < '2010-01-01'",
    )
    .await
    .parse()
    .unwrap();
    let total: u64 = scalar(&store.db.url, "SELECT count(*) FROM events")
        .await
        .parse()
        .unwrap();
    assert!(older > 5_000, "{older}");
    let dry = store
        .purge(cut_off, grafi_store_core::RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.events, older);
    let done = store.purge_before(cut_off).await.unwrap();
    assert_eq!(done.events, older);
    assert_eq!(
        scalar(
            &store.db.url,
            "SELECT count(*) FROM events WHERE \"timestamp\" < '2010-01-01'"
        )
        .await,
        "0"
    );
    assert_eq!(
        scalar(&store.db.url, "SELECT count(*) FROM events").await,
        (total - older).to_string()
    );
}
