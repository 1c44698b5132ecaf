//! The embedded migrations (`/migrations`) and running them.
//!
//! Migrations run on one dedicated connection under a session advisory lock, so several
//! processes starting at once apply them once. diesel's harness is synchronous;
//! diesel-async's `AsyncMigrationHarness` bridges it with `block_in_place`, which needs tokio's
//! multi-thread runtime: on a current-thread runtime the store refuses with a configuration
//! error instead of panicking.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use grafi_store_core::StoreError;

use crate::error::{from_connection, from_diesel, Access};

/// The migrations in the repository's `migrations/` folder, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Key of the advisory lock held while migrating ("grafi-rs").
const LOCK_KEY: i64 = 0x6772_6166_692d_7273;

/// Names (versions) of the embedded migrations, oldest first.
pub fn migration_versions() -> Vec<String> {
    match MigrationSource::<Pg>::migrations(&MIGRATIONS) {
        Ok(list) => list.iter().map(|m| m.name().to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

fn ensure_multi_thread() -> Result<(), StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            Ok(())
        }
        _ => Err(StoreError::Config(
            "running migrations needs tokio's multi-thread runtime (diesel's migration harness \
             blocks); use #[tokio::main] / flavor = \"multi_thread\", or run them with \
             `cargo xtask migrate` and connect with run_migrations(false)"
                .into(),
        )),
    }
}

fn migration_error(e: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    match e.downcast::<diesel::result::Error>() {
        Ok(diesel_error) => match from_diesel(*diesel_error, Access::Write) {
            StoreError::Backend {
                message,
                retryable: false,
                source,
            } => StoreError::Backend {
                message: format!("migration failed: {message}"),
                retryable: false,
                source,
            },
            other => other,
        },
        Err(other) => StoreError::Config(format!("migration failed: {other}")),
    }
}

async fn lock(conn: &mut AsyncPgConnection, take: bool) -> Result<(), StoreError> {
    let sql = if take {
        format!("SELECT pg_advisory_lock({LOCK_KEY})")
    } else {
        format!("SELECT pg_advisory_unlock({LOCK_KEY})")
    };
    conn.batch_execute(&sql)
        .await
        .map_err(|e| from_diesel(e, Access::Write))
}

/// Applies the pending migrations on `conn`; returns the versions applied.
pub(crate) async fn run_pending(
    mut conn: AsyncPgConnection,
) -> Result<(AsyncPgConnection, Vec<String>), StoreError> {
    ensure_multi_thread()?;
    // Rewriting a big grafi table (id → bigint) can take longer than the store's
    // statement_timeout: migrations run without one.
    conn.batch_execute("SET statement_timeout = 0")
        .await
        .map_err(|e| from_diesel(e, Access::Write))?;
    lock(&mut conn, true).await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let result = harness
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(migration_error);
    let mut conn = harness.into_inner();
    lock(&mut conn, false).await?;
    result.map(|applied| (conn, applied))
}

/// Connects to `database_url` and applies the pending migrations; returns the versions applied.
pub async fn run_pending_migrations(database_url: &str) -> Result<Vec<String>, StoreError> {
    let conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(from_connection)?;
    run_pending(conn).await.map(|(_, applied)| applied)
}

/// Connects to `database_url` and reverts the last applied migration; returns its version.
pub async fn revert_last_migration(database_url: &str) -> Result<Option<String>, StoreError> {
    ensure_multi_thread()?;
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(from_connection)?;
    lock(&mut conn, true).await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness.applied_migrations().map_err(migration_error);
    let result = match applied {
        Ok(list) if list.is_empty() => Ok(None),
        Ok(_) => harness
            .revert_last_migration(MIGRATIONS)
            .map(|v| Some(v.to_string()))
            .map_err(migration_error),
        Err(e) => Err(e),
    };
    let mut conn = harness.into_inner();
    lock(&mut conn, false).await?;
    result
}
