//! Where a dialect is named: the connection string (`grafi_dialect=`), the builder's
//! `dialect` (required of the table) and `new_table_dialect` (only for a table it creates).

mod common;

use common::{builder, ScratchDb};
use grafi_events::Dialect;
use grafi_store_core::StoreError;
use grafi_store_diesel::DieselEventStore;

fn with_dialect(url: &str, dialect: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}grafi_dialect={dialect}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_string_names_the_layout_of_a_new_table_and_requires_it_after() {
    let db = ScratchDb::new().await;
    let store = DieselEventStore::builder(with_dialect(&db.url, "0.0.36"))
        .connect()
        .await
        .unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    drop(store);
    match DieselEventStore::builder(with_dialect(&db.url, "0.0.24"))
        .connect()
        .await
    {
        Err(StoreError::Config(message)) => {
            assert!(message.contains("grafi 0.0.36's layout"), "{message}")
        }
        other => panic!(
            "a table of the other layout must be refused: {:?}",
            other.err()
        ),
    }
    // Unnamed, the table is served as it is.
    assert_eq!(
        builder(&db).connect().await.unwrap().dialect(),
        Dialect::V0_0_36
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_two_different_dialects_is_refused_before_connecting() {
    let db = ScratchDb::new().await;
    let err = DieselEventStore::builder(with_dialect(&db.url, "0.0.36"))
        .dialect(Dialect::V0_0_24)
        .connect()
        .await
        .expect_err("two dialects named");
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("name one")),
        "{err}"
    );
    let err = DieselEventStore::builder(with_dialect(&db.url, "0.0.99"))
        .connect()
        .await
        .expect_err("an unknown dialect");
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("0.0.99")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_dialect_is_used_only_when_creating() {
    let db = ScratchDb::new().await;
    let store = builder(&db)
        .new_table_dialect(Dialect::V0_0_36)
        .connect()
        .await
        .unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    drop(store);
    // An existing table of the other layout is served, not refused.
    let store = builder(&db)
        .new_table_dialect(Dialect::V0_0_24)
        .connect()
        .await
        .unwrap();
    assert_eq!(store.dialect(), Dialect::V0_0_36);
}
