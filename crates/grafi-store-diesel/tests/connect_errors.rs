//! What a refused connection looks like: `StoreError::Denied` with the right kind, never
//! retryable, the driver's error (and its SQLSTATE) kept as the source, and never the password
//! in the message. A server that is not there at all stays `Unavailable` (retryable).
//!
//! Authentication and privileges are tested on PRIVATE instances (`common/private_pg.rs`) whose
//! `pg_hba.conf` asks `alice` for a SCRAM password and rejects `mallory`; the unknown database
//! is asked of the shared server (it only tries to connect; nothing is created).
//!
//! Where the refusal comes from the server at connect (28P01, 28000, 3D000, 42501), the source
//! chain must hold the `tokio_postgres::Error` with that SQLSTATE. A privilege missing for an
//! operation on an open connection only needs `Denied { Permission }` with a source (diesel
//! does not keep the SQLSTATE).

#[path = "common/auth.rs"]
mod auth;
mod common;
#[path = "common/private_pg.rs"]
mod private_pg;

use std::time::{Duration, Instant};

use auth::{
    assert_connect_denied, assert_denied, assert_op_denied, assert_right_password_connects,
    connect_err, connect_without_migrations, create_locked_db, create_password_roles, create_table,
    everything_printed, password_setup, start, url, ALICE_PASSWORD, WRONG_PASSWORD,
};
use grafi_store_core::conformance::simple_events;
use grafi_store_core::{DeniedKind, EventStore, StoreError};
use grafi_store_diesel::DieselEventStore;
use private_pg::{free_port, PgInstance};
use tokio_postgres::error::SqlState;

/// A private instance where `alice` logs in with a SCRAM password (and owns `alice_db`),
/// `mallory` matches a `reject` line, and `postgres` keeps initdb's trust.
async fn auth_instance() -> PgInstance {
    let pg = start(password_setup()).await;
    create_password_roles(&pg).await;
    pg
}

fn key_value(pg: &PgInstance, user: &str, password: &str, db: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname={db} sslmode=disable",
        pg.port
    )
}

/// A wrong password (SCRAM): `Denied { Authentication }` with 28P01, in both conninfo
/// spellings. The right password on the same instance connects, so it is the password that
/// was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_denied_authentication() {
    common::init_tracing();
    let pg = auth_instance().await;
    assert_right_password_connects(&pg).await;

    for (what, conninfo) in [
        (
            "wrong password (URL)",
            url(&pg, "alice", Some(WRONG_PASSWORD), "alice_db"),
        ),
        (
            "wrong password (key=value)",
            key_value(&pg, "alice", WRONG_PASSWORD, "alice_db"),
        ),
    ] {
        assert_connect_denied(
            &conninfo,
            DeniedKind::Authentication,
            Some(&SqlState::INVALID_PASSWORD),
            what,
        )
        .await;
    }
    // No password at all where one is required: also an authentication failure (libpq:
    // "no password supplied"), never a retryable one.
    let err = connect_err(
        &url(&pg, "alice", None, "alice_db"),
        "no password (SCRAM required)",
    )
    .await;
    assert!(
        matches!(
            err,
            StoreError::Denied {
                kind: DeniedKind::Authentication,
                ..
            }
        ),
        "no password: expected Denied {{ Authentication }}, got {err:?}"
    );
    assert!(!err.is_retryable(), "no password: {err:?}");
}

/// A `pg_hba.conf` line that rejects the role: `Denied { Authentication }` with 28000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hba_reject_is_denied_authentication() {
    common::init_tracing();
    let pg = auth_instance().await;
    assert_connect_denied(
        &url(&pg, "mallory", None, "postgres"),
        DeniedKind::Authentication,
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "hba reject",
    )
    .await;
}

/// A database that does not exist (on the shared server: only a connection attempt):
/// `Denied { UnknownDatabase }` with 3D000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_is_denied() {
    common::init_tracing();
    let name = format!("grafi_missing_{}", uuid::Uuid::new_v4().simple());
    let conninfo = common::with_database(&common::admin_url(), &name);
    let err = assert_connect_denied(
        &conninfo,
        DeniedKind::UnknownDatabase,
        Some(&SqlState::INVALID_CATALOG_NAME),
        "unknown database",
    )
    .await;
    assert!(
        err.to_string().contains(&name),
        "the message names the missing database: {err}"
    );
}

/// `CONNECT` revoked on the database: the server refuses the connection with 42501,
/// `Denied { Permission }` with the SQLSTATE in the source chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_connect_is_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    create_locked_db(&pg).await;
    assert_connect_denied(
        &url(&pg, "alice", Some(ALICE_PASSWORD), "locked_db"),
        DeniedKind::Permission,
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "CONNECT revoked",
    )
    .await;
}

/// A role that may read the table but not write it: it connects and reads; recording is
/// `Denied { Permission }` (not retryable, with a source), and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_role_recording_is_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    // The table, created by its owner; alice may only read it.
    create_table(&pg, 0).await;
    pg.sql("GRANT SELECT ON events, __diesel_schema_migrations TO alice")
        .await;
    let store = connect_without_migrations(&url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"))
        .await
        .unwrap_or_else(|e| panic!("a role with SELECT connects: {e:?}"));
    store
        .get_events()
        .await
        .unwrap_or_else(|e| panic!("a role with SELECT reads: {e:?}"));
    assert_op_denied(
        store.record_events(simple_events("perm", "r", 3)),
        DeniedKind::Permission,
        "INSERT not granted",
    )
    .await;
    assert_eq!(pg.scalar("SELECT count(*) FROM events").await, "0");
}

/// A role with no privilege at all on an existing table: connecting (which checks the table)
/// is `Denied { Permission }` — the table is there, the role may not read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_without_table_privileges_is_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    create_table(&pg, 0).await;
    let err = match connect_without_migrations(&url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"))
        .await
    {
        Err(e) => e,
        Ok(store) => match store.get_events().await {
            Err(e) => e,
            Ok(events) => panic!("alice read {} events without SELECT", events.len()),
        },
    };
    eprintln!("no table privileges: {err}");
    assert_denied(&err, DeniedKind::Permission, None, "no privilege on events");
}

/// A role that may not create tables where the migrations must (PostgreSQL 15: nobody but the
/// database owner creates in `public`): connecting with migrations on is
/// `Denied { Permission }`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_without_create_privilege_are_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    assert_connect_denied(
        &url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"),
        DeniedKind::Permission,
        None,
        "migrations without CREATE",
    )
    .await;
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'events'")
            .await,
        "0"
    );
}

/// Nobody listening: a transient condition, `Unavailable` and retryable, never `Denied`; the
/// password in the URL is not printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_port_stays_retryable() {
    common::init_tracing();
    let port = free_port();
    let conninfo = format!("postgres://postgres:{WRONG_PASSWORD}@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    let result = DieselEventStore::builder(conninfo)
        .pool_size(1)
        .connection_timeout(Duration::from_secs(2))
        .max_retries(1)
        .retry_backoff(Duration::from_millis(50))
        .connect()
        .await;
    let elapsed = started.elapsed();
    let err = match result {
        Ok(_) => panic!("connected to port {port}, where nobody listens"),
        Err(e) => e,
    };
    eprintln!("unreachable: {err} (in {elapsed:?})");
    assert!(
        matches!(err, StoreError::Unavailable { .. }),
        "expected Unavailable, got {err:?}"
    );
    assert!(err.is_retryable(), "{err:?} must be retryable");
    let printed = everything_printed(&err);
    assert!(
        !printed.contains(WRONG_PASSWORD),
        "the password is printed:\n{printed}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "took {elapsed:?} to give up"
    );
}
