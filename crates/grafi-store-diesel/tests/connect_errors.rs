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

mod common;
#[path = "common/private_pg.rs"]
mod private_pg;

use std::error::Error;
use std::time::{Duration, Instant};

use grafi_store_core::conformance::simple_events;
use grafi_store_core::{DeniedKind, EventStore, StoreError};
use grafi_store_diesel::DieselEventStore;
use private_pg::{free_port, PgInstance};
use tokio_postgres::error::SqlState;

/// alice's real password, and the wrong one the tests try (both must never be printed).
const ALICE_PASSWORD: &str = "Alice-real-pw-7f3c9a";
const WRONG_PASSWORD: &str = "Not-alice-pw-b41d2e";

const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// A refusal is final: it must come back at once, not after a retry loop.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// A private instance where `alice` logs in with a SCRAM password (and owns `alice_db`),
/// `mallory` matches a `reject` line, and `postgres` keeps initdb's trust.
async fn auth_instance() -> PgInstance {
    let pg = tokio::task::spawn_blocking(|| {
        PgInstance::setup()
            .setting("password_encryption", "'scram-sha-256'")
            .hba("host all alice 127.0.0.1/32 scram-sha-256")
            .hba("host all mallory 127.0.0.1/32 reject")
            .start()
    })
    .await
    .unwrap();
    pg.sql(&format!(
        "CREATE ROLE alice LOGIN PASSWORD '{ALICE_PASSWORD}'; CREATE ROLE mallory LOGIN;"
    ))
    .await;
    // On its own: CREATE DATABASE cannot run in the implicit transaction of a batch.
    pg.sql("CREATE DATABASE alice_db OWNER alice").await;
    pg
}

fn url(pg: &PgInstance, user: &str, password: Option<&str>, db: &str) -> String {
    match password {
        Some(pw) => format!("postgres://{user}:{pw}@127.0.0.1:{}/{db}", pg.port),
        None => format!("postgres://{user}@127.0.0.1:{}/{db}", pg.port),
    }
}

fn key_value(pg: &PgInstance, user: &str, password: &str, db: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname={db} sslmode=disable",
        pg.port
    )
}

async fn connect(conninfo: &str) -> Result<DieselEventStore, StoreError> {
    DieselEventStore::builder(conninfo)
        .pool_size(2)
        .connection_timeout(CONNECTION_TIMEOUT)
        .connect()
        .await
}

/// Every error in the chain, `err` first.
fn chain(err: &StoreError) -> Vec<&(dyn Error + 'static)> {
    let mut out: Vec<&(dyn Error + 'static)> = vec![err];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e);
        next = e.source();
    }
    out
}

/// The SQLSTATEs of every `tokio_postgres::Error` in the chain.
fn sqlstates(err: &StoreError) -> Vec<SqlState> {
    chain(err)
        .into_iter()
        .filter_map(|e| e.downcast_ref::<tokio_postgres::Error>())
        .filter_map(|e| e.code().cloned())
        .collect()
}

/// The Display of every error in the chain and the Debug of the whole.
fn everything_printed(err: &StoreError) -> String {
    let mut text = format!("{err:?}\n");
    for e in chain(err) {
        text.push_str(&format!("{e}\n"));
    }
    text
}

/// Asserts `err` is `Denied { kind }`, not retryable, with a source (whose chain holds a
/// `tokio_postgres::Error` with `code`, when given), and nothing printed contains a password.
fn assert_denied(err: &StoreError, kind: DeniedKind, code: Option<&SqlState>, what: &str) {
    match err {
        StoreError::Denied { kind: got, .. } => {
            assert_eq!(*got, kind, "{what}: kind of {err:?}")
        }
        other => panic!("{what}: expected Denied {{ kind: {kind:?} }}, got {other:?}"),
    }
    assert!(!err.is_retryable(), "{what}: {err:?} must not be retryable");
    assert!(err.source().is_some(), "{what}: {err:?} has no source");
    let codes = sqlstates(err);
    if let Some(code) = code {
        assert!(
            codes.contains(code),
            "{what}: expected SQLSTATE {} in the source chain, found {:?}; chain: {}",
            code.code(),
            codes.iter().map(SqlState::code).collect::<Vec<_>>(),
            everything_printed(err)
        );
    }
    let printed = everything_printed(err);
    for pw in [ALICE_PASSWORD, WRONG_PASSWORD] {
        assert!(
            !printed.contains(pw),
            "{what}: a password is printed:\n{printed}"
        );
    }
}

async fn connect_err(conninfo: &str, what: &str) -> StoreError {
    let started = Instant::now();
    let result = connect(conninfo).await;
    let elapsed = started.elapsed();
    let err = match result {
        Ok(_) => panic!("{what}: connected, expected an error"),
        Err(e) => e,
    };
    assert!(
        elapsed < FAIL_FAST,
        "{what}: took {elapsed:?} to fail ({err:?}): retried a refusal?"
    );
    eprintln!("{what}: {err} (in {elapsed:?})");
    err
}

/// A wrong password (SCRAM): `Denied { Authentication }` with 28P01, in both conninfo
/// spellings. The right password on the same instance connects, so it is the password that
/// was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_denied_authentication() {
    common::init_tracing();
    let pg = auth_instance().await;

    let store = connect(&url(&pg, "alice", Some(ALICE_PASSWORD), "alice_db"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "alice with the right password must connect: {e:?}; server log:\n{}",
                pg.log_tail()
            )
        });
    store
        .record_events(simple_events("auth", "ok", 3))
        .await
        .expect("alice records in her database");
    drop(store);

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
        let err = connect_err(&conninfo, what).await;
        assert_denied(
            &err,
            DeniedKind::Authentication,
            Some(&SqlState::INVALID_PASSWORD),
            what,
        );
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
    let err = connect_err(&url(&pg, "mallory", None, "postgres"), "hba reject").await;
    assert_denied(
        &err,
        DeniedKind::Authentication,
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "hba reject",
    );
}

/// A database that does not exist (on the shared server: only a connection attempt):
/// `Denied { UnknownDatabase }` with 3D000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_is_denied() {
    common::init_tracing();
    let name = format!("grafi_missing_{}", uuid::Uuid::new_v4().simple());
    let conninfo = common::with_database(&common::admin_url(), &name);
    let err = connect_err(&conninfo, "unknown database").await;
    assert_denied(
        &err,
        DeniedKind::UnknownDatabase,
        Some(&SqlState::INVALID_CATALOG_NAME),
        "unknown database",
    );
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
    pg.sql("CREATE DATABASE locked_db").await;
    pg.sql("REVOKE CONNECT ON DATABASE locked_db FROM PUBLIC")
        .await;
    let err = connect_err(
        &url(&pg, "alice", Some(ALICE_PASSWORD), "locked_db"),
        "CONNECT revoked",
    )
    .await;
    assert_denied(
        &err,
        DeniedKind::Permission,
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "CONNECT revoked",
    );
}

/// A role that may read the table but not write it: it connects and reads; recording is
/// `Denied { Permission }` (not retryable, with a source), and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_role_recording_is_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    // The table, created by its owner; alice may only read it.
    let owner = connect(&pg.url())
        .await
        .expect("postgres creates the table");
    drop(owner);
    pg.sql("GRANT SELECT ON events, __diesel_schema_migrations TO alice")
        .await;
    let store = DieselEventStore::builder(url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"))
        .pool_size(1)
        .run_migrations(false)
        .connection_timeout(CONNECTION_TIMEOUT)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("a role with SELECT connects: {e:?}"));
    store
        .get_events()
        .await
        .unwrap_or_else(|e| panic!("a role with SELECT reads: {e:?}"));
    let started = Instant::now();
    let err = match store.record_events(simple_events("perm", "r", 3)).await {
        Err(e) => e,
        Ok(outcome) => panic!("alice wrote without INSERT: {outcome:?}"),
    };
    eprintln!("read-only role: {err}");
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}: retried a refusal? {err:?}",
        started.elapsed()
    );
    assert_denied(&err, DeniedKind::Permission, None, "INSERT not granted");
    assert_eq!(pg.scalar("SELECT count(*) FROM events").await, "0");
}

/// A role with no privilege at all on an existing table: connecting (which checks the table)
/// is `Denied { Permission }` — the table is there, the role may not read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_without_table_privileges_is_denied_permission() {
    common::init_tracing();
    let pg = auth_instance().await;
    let owner = connect(&pg.url())
        .await
        .expect("postgres creates the table");
    drop(owner);
    let err = match DieselEventStore::builder(url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"))
        .pool_size(1)
        .run_migrations(false)
        .connection_timeout(CONNECTION_TIMEOUT)
        .connect()
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
    let err = connect_err(
        &url(&pg, "alice", Some(ALICE_PASSWORD), "postgres"),
        "migrations without CREATE",
    )
    .await;
    assert_denied(
        &err,
        DeniedKind::Permission,
        None,
        "migrations without CREATE",
    );
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
