//! The embedded migrations (`/migrations`): what each does to a live table, and running them.
//!
//! Connecting runs them only to create a missing table; on a table
//! that exists they are an explicit operation ([`status`], [`run_pending_migrations`],
//! [`revert_last_migration`]; `grafi-store migrate`), because the second one rewrites the
//! table under an `ACCESS EXCLUSIVE` lock.
//!
//! Migrations run on one dedicated connection under a session advisory lock, so several
//! processes starting at once apply them once, with a `lock_timeout` so that a migration
//! never queues behind a long transaction of another client (while queued for its lock, it
//! would block every other client of the table behind it). diesel's harness is synchronous;
//! diesel-async's `AsyncMigrationHarness` bridges it with `block_in_place`, which needs tokio's
//! multi-thread runtime: on a current-thread runtime this refuses with a configuration error
//! instead of panicking.

use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use grafi_store_core::{DeniedKind, StoreError};

use crate::connect::Connect;
use crate::conninfo::ConnectionSettings;
use crate::error::{from_diesel, Access};
use crate::layout::Shape;

/// The migrations in the repository's `migrations/` folder, compiled in. The crate's
/// `migrations` is a symlink to that folder, so the published package carries them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Key of the advisory lock held while migrating ("grafi-rs").
const LOCK_KEY: i64 = 0x6772_6166_692d_7273;

/// How long a migration may wait for a table lock when a store creates its missing table.
const CREATE_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Names (versions) of the embedded migrations, oldest first.
pub fn migration_versions() -> Vec<String> {
    match MigrationSource::<Pg>::migrations(&MIGRATIONS) {
        Ok(list) => list.iter().map(|m| m.name().to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

/// What a migration does to the table, the lock it takes, and what its revert does.
///
/// ```
/// let plan = grafi_store_diesel::migrate::plan("2025-07-01-000002_grafi_rs_bigint_extra_topic_index");
/// assert!(plan.run.contains("ACCESS EXCLUSIVE"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// What `run` does.
    pub run: &'static str,
    /// What `revert` does.
    pub revert: &'static str,
    /// Whether `run` rewrites every row of an existing table.
    pub rewrites_table: bool,
}

/// The [`Plan`] of an embedded migration, by its name.
pub fn plan(name: &str) -> Plan {
    if name.starts_with("2025-07-01-000001") {
        Plan {
            run: "creates table `events` and its three indexes exactly as grafi 0.0.24 does; \
                  changes nothing where the table exists, in grafi 0.0.24's layout or 0.0.36's \
                  (IF NOT EXISTS). Locks: none on an existing table.",
            revert: "DROPS table `events` and every event in it, grafi's included \
                     (development databases only).",
            rewrites_table: false,
        }
    } else if name.starts_with("2025-07-01-000002") {
        Plan {
            run: "widens `id` and its sequence to bigint: REWRITES the whole table and its \
                  indexes under an ACCESS EXCLUSIVE lock (every reader and writer, Python \
                  grafi's too, waits until it commits); adds the nullable column `extra` \
                  (catalog only); creates function grafi_event_offset(jsonb); builds index \
                  ix_events_topic_offset (on the topic name and offset of either grafi \
                  layout) under a SHARE lock (writes wait while it builds).",
            revert: "drops the topic index, the function and the `extra` column (events that \
                     needed `extra` lose what it kept), and narrows `id` back to integer: \
                     REWRITES the table under an ACCESS EXCLUSIVE lock; fails if an id is \
                     beyond 2^31-1.",
            rewrites_table: true,
        }
    } else if name.starts_with("2025-07-01-000003") {
        Plan {
            run: "adds the position column `grafi_tx` (xid8, NOT NULL; rows already stored read \
                  0, new rows get their transaction's id from the column default): catalog \
                  only, no rewrite, a brief ACCESS EXCLUSIVE lock; builds index \
                  ix_events_position (grafi_tx, id) under a SHARE lock (writes wait while it \
                  builds, about a second per million rows).",
            revert: "drops the index and the column (catalog only); streams and subscriptions \
                     stop working until it is added again, and cursors handed out before are \
                     void.",
            rewrites_table: false,
        }
    } else if name.starts_with("2025-07-01-000004") {
        Plan {
            run: "creates the tables grafi_rs_erased (the erased-id ledger), grafi_rs_audit \
                  (the audit trail of erasures and purges) and grafi_rs_key (the store's \
                  random hash key). Locks: none on `events`.",
            revert: "DROPS the ledger, the audit trail and the key: erased events may be \
                     recorded again, and the record of past erasures is lost.",
            rewrites_table: false,
        }
    } else {
        Plan {
            run: "(no description)",
            revert: "(no description)",
            rewrites_table: false,
        }
    }
}

/// The migrations applied and pending, and the table they concern.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Applied migrations, oldest first.
    pub applied: Vec<String>,
    /// Migrations not applied yet, in the order `run` applies them.
    pub pending: Vec<String>,
    /// The table, if it exists.
    pub table: Option<TableInfo>,
}

/// The `events` table as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableInfo {
    /// The planner's estimate of the rows (`pg_class.reltuples`; -1 if never analysed).
    pub estimated_rows: i64,
    /// Table, indexes and TOAST, in bytes.
    pub total_bytes: i64,
    /// The type of `id` (`integer` in grafi's own table, `bigint` once migrated).
    pub id_type: String,
    /// Whether the `extra` column exists.
    pub has_extra: bool,
    /// Whose layout the table has: grafi 0.0.36's when it holds `event_data`, else 0.0.24's
    /// (connecting checks the layout in full; this is for reports).
    pub dialect: grafi_events::Dialect,
}

fn ensure_multi_thread() -> Result<(), StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            Ok(())
        }
        _ => Err(StoreError::Config(
            "running migrations needs tokio's multi-thread runtime (diesel's migration harness \
             blocks); use #[tokio::main] / flavor = \"multi_thread\", or run them with \
             `grafi-store migrate run` and connect with run_migrations(false)"
                .into(),
        )),
    }
}

fn migration_error(e: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    match e.downcast::<diesel::result::Error>() {
        Ok(diesel_error) => match from_diesel(*diesel_error, Access::Write) {
            StoreError::Backend {
                message,
                retryable,
                source,
            } => StoreError::Backend {
                message: format!("migration failed: {message}"),
                retryable,
                source,
            },
            other => other,
        },
        Err(other) => StoreError::Config(format!("migration failed: {other}")),
    }
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), StoreError> {
    conn.batch_execute(sql)
        .await
        .map_err(|e| from_diesel(e, Access::Write))
}

/// grafi 0.0.36's table, as grafi creates it.
const GRAFI_0_0_36_TABLE: &str = include_str!("../sql/grafi-0.0.36.sql");

/// Runs `first` (SQL, if any), then `work` with the harness, under the advisory lock and
/// `lock_timeout`.
async fn with_harness<T>(
    mut conn: AsyncPgConnection,
    lock_timeout: Option<Duration>,
    first: Option<&str>,
    work: impl FnOnce(
        &mut AsyncMigrationHarness<AsyncPgConnection>,
    ) -> Result<T, Box<dyn std::error::Error + Send + Sync>>,
) -> Result<(AsyncPgConnection, T), StoreError> {
    ensure_multi_thread()?;
    // Rewriting a big table can take longer than any statement_timeout.
    let timeout_ms = lock_timeout.map_or(0, |t| t.as_millis().max(1));
    execute(
        &mut conn,
        &format!("SET statement_timeout = 0; SET lock_timeout = {timeout_ms}"),
    )
    .await?;
    execute(&mut conn, &format!("SELECT pg_advisory_lock({LOCK_KEY})")).await?;
    if let Some(sql) = first {
        // One simple-query message: one implicit transaction.
        if let Err(error) = execute(&mut conn, sql).await {
            execute(&mut conn, &format!("SELECT pg_advisory_unlock({LOCK_KEY})")).await?;
            return Err(error);
        }
    }
    let mut harness = AsyncMigrationHarness::new(conn);
    let result = work(&mut harness).map_err(migration_error);
    let mut conn = harness.into_inner();
    execute(&mut conn, &format!("SELECT pg_advisory_unlock({LOCK_KEY})")).await?;
    result.map(|value| (conn, value))
}

/// Creates the missing `events` table (all migrations, on a table nobody uses yet), for a
/// store connecting to an empty database: grafi 0.0.24's layout is the first migration's;
/// grafi 0.0.36's is created first, as grafi does, which that migration then leaves alone.
/// A lock it would have to wait for more than a moment fails it rather than queue.
pub(crate) async fn create_missing_table(
    conn: AsyncPgConnection,
    settings: &Connect,
    shape: Shape,
) -> Result<(AsyncPgConnection, Vec<String>), StoreError> {
    let first = match shape {
        Shape::Columns => None,
        Shape::Document => Some(GRAFI_0_0_36_TABLE),
    };
    let failure = match with_harness(conn, Some(CREATE_LOCK_TIMEOUT), first, |harness| {
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
    })
    .await
    {
        Ok(done) => return Ok(done),
        Err(failure) => failure,
    };
    // A role that may not create tables here: say so by kind. The privilege is asked for on a
    // new connection, not read from the error's (translatable) text.
    Err(explain_create_failure(failure, settings).await)
}

/// `failure`, as [`StoreError::Denied`] when the role lacks `CREATE` on the current schema.
async fn explain_create_failure(failure: StoreError, settings: &Connect) -> StoreError {
    #[derive(QueryableByName)]
    struct CanCreate {
        #[diesel(sql_type = Bool)]
        can_create: bool,
        #[diesel(sql_type = Text)]
        schema: String,
    }
    let Ok(mut conn) = settings.diesel().await else {
        return failure;
    };
    let check = diesel::sql_query(
        "SELECT has_schema_privilege(current_schema(), 'CREATE') AS can_create, \
                coalesce(current_schema(), '(none)')::text AS schema",
    )
    .get_result::<CanCreate>(&mut conn)
    .await;
    match check {
        Ok(check) if !check.can_create => StoreError::Denied {
            kind: DeniedKind::Permission,
            message: format!(
                "table `events` is missing and this role may not create tables in schema {}: \
                 create it with the owner role (`grafi-store migrate run`), or grant CREATE",
                check.schema
            ),
            source: Some(Box::new(failure)),
        },
        _ => failure,
    }
}

async fn connect(conninfo: &str) -> Result<AsyncPgConnection, StoreError> {
    let settings = ConnectionSettings::parse(conninfo)?;
    Connect::new(settings, None)?.diesel().await
}

/// The migrations applied and pending on the database `conninfo` names, and its table.
/// Reads only; changes nothing.
pub async fn status(conninfo: &str) -> Result<Status, StoreError> {
    let mut conn = connect(conninfo).await?;
    #[derive(QueryableByName)]
    struct Applied {
        #[diesel(sql_type = Text)]
        version: String,
    }
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = Nullable<BigInt>)]
        estimated_rows: Option<i64>,
        #[diesel(sql_type = Nullable<BigInt>)]
        total_bytes: Option<i64>,
        #[diesel(sql_type = Nullable<Text>)]
        id_type: Option<String>,
        #[diesel(sql_type = Bool)]
        has_extra: bool,
        #[diesel(sql_type = Bool)]
        has_event_data: bool,
    }
    let has_bookkeeping: Vec<Applied> = diesel::sql_query(
        "SELECT 'x' AS version WHERE to_regclass('__diesel_schema_migrations') IS NOT NULL",
    )
    .load(&mut conn)
    .await
    .map_err(|e| from_diesel(e, Access::Read))?;
    let applied_versions: Vec<String> = if has_bookkeeping.is_empty() {
        Vec::new()
    } else {
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load::<Applied>(&mut conn)
            .await
            .map_err(|e| from_diesel(e, Access::Read))?
            .into_iter()
            .map(|a| a.version)
            .collect()
    };
    let table: Vec<Table> = diesel::sql_query(
        "SELECT c.reltuples::int8 AS estimated_rows, pg_total_relation_size(c.oid) AS total_bytes, \
                (SELECT data_type::text FROM information_schema.columns \
                  WHERE table_schema = current_schema() AND table_name = 'events' \
                    AND column_name = 'id') AS id_type, \
                EXISTS (SELECT 1 FROM information_schema.columns \
                  WHERE table_schema = current_schema() AND table_name = 'events' \
                    AND column_name = 'extra') AS has_extra, \
                EXISTS (SELECT 1 FROM information_schema.columns \
                  WHERE table_schema = current_schema() AND table_name = 'events' \
                    AND column_name = 'event_data') AS has_event_data \
         FROM pg_class c WHERE c.oid = to_regclass('events')",
    )
    .load(&mut conn)
    .await
    .map_err(|e| from_diesel(e, Access::Read))?;
    let mut applied = Vec::new();
    let mut pending = Vec::new();
    for name in migration_versions() {
        let version = name.split('_').next().unwrap_or_default().replace('-', "");
        if applied_versions
            .iter()
            .any(|v| v.replace('-', "") == version)
        {
            applied.push(name);
        } else {
            pending.push(name);
        }
    }
    Ok(Status {
        applied,
        pending,
        table: table.into_iter().next().map(|t| TableInfo {
            estimated_rows: t.estimated_rows.unwrap_or(-1),
            total_bytes: t.total_bytes.unwrap_or(0),
            id_type: t.id_type.unwrap_or_default(),
            has_extra: t.has_extra,
            dialect: if t.has_event_data {
                grafi_events::Dialect::V0_0_36
            } else {
                grafi_events::Dialect::V0_0_24
            },
        }),
    })
}

/// Applies the pending migrations on the database `conninfo` names; returns the versions
/// applied. Each waits at most `lock_timeout` for its lock (`None`: as long as it takes),
/// then fails and rolls back, leaving the table as it was.
pub async fn run_pending_migrations(
    conninfo: &str,
    lock_timeout: Option<Duration>,
) -> Result<Vec<String>, StoreError> {
    let conn = connect(conninfo).await?;
    with_harness(conn, lock_timeout, None, |harness| {
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
    })
    .await
    .map(|(_, applied)| applied)
}

/// Reverts the last applied migration on the database `conninfo` names; returns its version.
pub async fn revert_last_migration(
    conninfo: &str,
    lock_timeout: Option<Duration>,
) -> Result<Option<String>, StoreError> {
    let conn = connect(conninfo).await?;
    with_harness(conn, lock_timeout, None, |harness| {
        if harness.applied_migrations()?.is_empty() {
            return Ok(None);
        }
        harness
            .revert_last_migration(MIGRATIONS)
            .map(|v| Some(v.to_string()))
    })
    .await
    .map(|(_, reverted)| reverted)
}
