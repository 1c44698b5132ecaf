//! A scratch database per test: `CREATE DATABASE grafi_test_<uuid>` on the server at
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped with
//! `WITH (FORCE)` when the fixture drops, so tests run in parallel and leave nothing behind.
#![allow(dead_code)]

use std::ops::Deref;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use grafi_store_diesel::{ConnectionSettings, DieselEventStore, DieselStoreBuilder};

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `conninfo` for another database, as a URL.
pub fn with_database(conninfo: &str, database: &str) -> String {
    ConnectionSettings::parse(conninfo)
        .expect("DATABASE_URL")
        .with_dbname(database)
        .expose_url()
}

/// An empty database, dropped on drop.
pub struct ScratchDb {
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub async fn new() -> Self {
        let name = format!("grafi_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url())
            .await
            .expect("PostgreSQL at DATABASE_URL (see DEVELOPERS.md)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create scratch database");
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    /// Runs SQL on the scratch database (test set-up only).
    pub async fn sql(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.url).await.unwrap();
        conn.batch_execute(sql).await.unwrap();
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: do the blocking work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop scratch database {}: {dropped:?}", self.name);
        }
    }
}

/// A store on its own scratch database; derefs to the store.
pub struct TestStore {
    // Field order matters: the store (and its pool) drops before the database.
    pub store: DieselEventStore,
    pub db: ScratchDb,
}

impl Deref for TestStore {
    type Target = DieselEventStore;
    fn deref(&self) -> &DieselEventStore {
        &self.store
    }
}

/// A connection holding `ACCESS EXCLUSIVE` on `events` in an open transaction: every statement
/// on the table blocks until it rolls back (`ROLLBACK`) or drops.
pub async fn lock_events_table(db: &ScratchDb) -> AsyncPgConnection {
    let mut locker = AsyncPgConnection::establish(&db.url).await.unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    locker
}

/// Events from JSON documents, decoded as leniently as stored rows are (odd shapes come back
/// as `Event::Raw`).
pub fn lenient_events(lines: &[&str]) -> Vec<grafi_events::Event> {
    lines
        .iter()
        .map(|line| {
            let doc = serde_json::from_str(line).unwrap();
            grafi_events::EventRegistry::builtin()
                .decode_map_lenient(doc)
                .unwrap()
        })
        .collect()
}

/// The first column of the first row of `sql` on `url`, as text ('' for NULL).
pub async fn scalar(url: &str, sql: &str) -> String {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct One {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let row: One = diesel::sql_query(format!("SELECT coalesce(({sql})::text, '') AS v"))
        .get_result(&mut conn)
        .await
        .unwrap();
    row.v
}

pub fn builder(db: &ScratchDb) -> DieselStoreBuilder {
    DieselEventStore::builder(db.url.clone()).pool_size(8)
}

/// The conformance suite's `setup`: the default configuration.
pub async fn setup() -> TestStore {
    setup_with(|b| b).await
}

/// A store that writes every batch with `INSERT … ON CONFLICT DO NOTHING`, never `COPY`.
pub async fn setup_insert_only() -> TestStore {
    let store = setup_with(|b| b.copy(None, 0)).await;
    assert!(!store.uses_copy());
    store
}

/// A store that tries every batch, even of one event, as a `COPY` first.
pub async fn setup_copy_always() -> TestStore {
    let store = setup_with(|b| b.copy(Some(1), 2)).await;
    assert!(store.uses_copy());
    store
}

pub async fn setup_with(
    configure: impl FnOnce(DieselStoreBuilder) -> DieselStoreBuilder,
) -> TestStore {
    let db = ScratchDb::new().await;
    let store = configure(builder(&db))
        .connect()
        .await
        .expect("connect + migrate");
    TestStore { store, db }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
