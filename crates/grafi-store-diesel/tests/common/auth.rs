//! Password roles on a private instance (`common/private_pg.rs`) and what a refusal must look
//! like: `StoreError::Denied` with the right kind, never retryable, the driver's error (and its
//! SQLSTATE, where the server refused a connect) kept as the source, and never a password in
//! anything printed. Shared by `connect_errors.rs` (English) and `translated_messages.rs`
//! (German), which `#[path]`-include it next to `private_pg`.
#![allow(dead_code)]

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use grafi_store_core::conformance::simple_events;
use grafi_store_core::{DeniedKind, EventStore, StoreError};
use grafi_store_diesel::{DieselEventStore, DieselStoreBuilder};
use tokio_postgres::error::SqlState;

use crate::private_pg::{PgInstance, PgSetup};

/// alice's real password, and the wrong one the tests try (both must never be printed).
pub const ALICE_PASSWORD: &str = "Alice-real-pw-7f3c9a";
pub const WRONG_PASSWORD: &str = "Not-alice-pw-b41d2e";

pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// A refusal is final: it must come back at once, not after a retry loop.
pub const FAIL_FAST: Duration = Duration::from_secs(5);

/// A private instance where `alice` logs in with a SCRAM password, `mallory` matches a
/// `reject` line, and `postgres` keeps initdb's trust (the roles: [`create_password_roles`]).
pub fn password_setup() -> PgSetup {
    PgInstance::setup()
        .setting("password_encryption", "'scram-sha-256'")
        .hba("host all alice 127.0.0.1/32 scram-sha-256")
        .hba("host all mallory 127.0.0.1/32 reject")
}

/// Starts `setup` (initdb and pg_ctl block: off the runtime's threads).
pub async fn start(setup: PgSetup) -> PgInstance {
    tokio::task::spawn_blocking(move || setup.start())
        .await
        .unwrap()
}

/// The roles of [`password_setup`]: `alice` (with [`ALICE_PASSWORD`], owning `alice_db`) and
/// `mallory`.
pub async fn create_password_roles(pg: &PgInstance) {
    pg.sql(&format!(
        "CREATE ROLE alice LOGIN PASSWORD '{ALICE_PASSWORD}'; CREATE ROLE mallory LOGIN;"
    ))
    .await;
    // On its own: CREATE DATABASE cannot run in the implicit transaction of a batch.
    pg.sql("CREATE DATABASE alice_db OWNER alice").await;
}

/// `locked_db`, with `CONNECT` revoked from PUBLIC (only the superuser gets in).
pub async fn create_locked_db(pg: &PgInstance) {
    pg.sql("CREATE DATABASE locked_db").await;
    pg.sql("REVOKE CONNECT ON DATABASE locked_db FROM PUBLIC")
        .await;
}

pub fn url(pg: &PgInstance, user: &str, password: Option<&str>, db: &str) -> String {
    match password {
        Some(pw) => format!("postgres://{user}:{pw}@127.0.0.1:{}/{db}", pg.port),
        None => format!("postgres://{user}@127.0.0.1:{}/{db}", pg.port),
    }
}

/// The store as these tests configure it (a small pool, [`CONNECTION_TIMEOUT`]).
pub fn builder(conninfo: &str) -> DieselStoreBuilder {
    DieselEventStore::builder(conninfo)
        .pool_size(2)
        .connection_timeout(CONNECTION_TIMEOUT)
}

pub async fn connect(conninfo: &str) -> Result<DieselEventStore, StoreError> {
    builder(conninfo).connect().await
}

/// A role's store on a table created beforehand (no migrations: the role may not create).
pub async fn connect_without_migrations(conninfo: &str) -> Result<DieselEventStore, StoreError> {
    builder(conninfo).run_migrations(false).connect().await
}

/// The store's table, created by the superuser `postgres` through the store (migrations run),
/// holding `events` events.
pub async fn create_table(pg: &PgInstance, events: usize) {
    let owner = connect(&pg.url())
        .await
        .unwrap_or_else(|e| panic!("postgres creates the table: {e:?}"));
    if events > 0 {
        owner
            .record_events(simple_events("owner", "r", events))
            .await
            .expect("the owner records");
    }
}

/// alice with the right password connects to `alice_db` (the store creates its table there)
/// and records: so whatever is refused afterwards is refused for what the test changed (the
/// password), not for the set-up.
pub async fn assert_right_password_connects(pg: &PgInstance) {
    let store = connect(&url(pg, "alice", Some(ALICE_PASSWORD), "alice_db"))
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
}

/// Every error in the chain, `err` first.
pub fn chain(err: &StoreError) -> Vec<&(dyn Error + 'static)> {
    let mut out: Vec<&(dyn Error + 'static)> = vec![err];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e);
        next = e.source();
    }
    out
}

/// The (SQLSTATE, server message) of every `tokio_postgres::Error` in the chain.
pub fn server_errors(err: &StoreError) -> Vec<(SqlState, String)> {
    chain(err)
        .into_iter()
        .filter_map(|e| e.downcast_ref::<tokio_postgres::Error>())
        .filter_map(|e| e.as_db_error())
        .map(|db| (db.code().clone(), db.message().to_owned()))
        .collect()
}

/// The Display of every error in the chain and the Debug of the whole.
pub fn everything_printed(err: &StoreError) -> String {
    let mut text = format!("{err:?}\n");
    for e in chain(err) {
        text.push_str(&format!("{e}\n"));
    }
    text
}

/// Asserts `err` is `Denied { kind }`, not retryable, with a source (whose chain holds a
/// `tokio_postgres::Error` with `code`, when given), and nothing printed contains a password;
/// returns everything it prints.
pub fn assert_denied(
    err: &StoreError,
    kind: DeniedKind,
    code: Option<&SqlState>,
    what: &str,
) -> String {
    match err {
        StoreError::Denied { kind: got, .. } => {
            assert_eq!(*got, kind, "{what}: kind of {err:?}")
        }
        other => panic!("{what}: expected Denied {{ kind: {kind:?} }}, got {other:?}"),
    }
    assert!(!err.is_retryable(), "{what}: {err:?} must not be retryable");
    assert!(err.source().is_some(), "{what}: {err:?} has no source");
    let printed = everything_printed(err);
    if let Some(code) = code {
        let codes: Vec<SqlState> = server_errors(err).into_iter().map(|(c, _)| c).collect();
        assert!(
            codes.contains(code),
            "{what}: expected SQLSTATE {} in the source chain, found {:?}; chain: {printed}",
            code.code(),
            codes.iter().map(SqlState::code).collect::<Vec<_>>(),
        );
    }
    for pw in [ALICE_PASSWORD, WRONG_PASSWORD] {
        assert!(
            !printed.contains(pw),
            "{what}: a password is printed:\n{printed}"
        );
    }
    printed
}

/// `op` fails, and at once (a refusal must not go through a retry loop); returns its error.
pub async fn fails_fast<T: Debug>(
    op: impl Future<Output = Result<T, StoreError>>,
    what: &str,
) -> StoreError {
    let started = Instant::now();
    let result = op.await;
    let elapsed = started.elapsed();
    let err = match result {
        Ok(value) => panic!("{what}: succeeded ({value:?}), expected an error"),
        Err(e) => e,
    };
    eprintln!("{what}: {err} (in {elapsed:?}); source: {:?}", err.source());
    assert!(
        elapsed < FAIL_FAST,
        "{what}: took {elapsed:?} to fail ({err:?}): retried a refusal?"
    );
    err
}

/// Connecting with `conninfo` fails at once; returns the error.
pub async fn connect_err(conninfo: &str, what: &str) -> StoreError {
    fails_fast(connect(conninfo), what).await
}

/// Connecting with `conninfo` is refused at once as [`assert_denied`] describes; returns the
/// error.
pub async fn assert_connect_denied(
    conninfo: &str,
    kind: DeniedKind,
    code: Option<&SqlState>,
    what: &str,
) -> StoreError {
    let err = connect_err(conninfo, what).await;
    assert_denied(&err, kind, code, what);
    err
}

/// `op` (on an open store) is refused at once as `Denied { kind }` (a source, no password
/// printed: [`assert_denied`]; diesel does not keep the SQLSTATE); returns everything printed.
pub async fn assert_op_denied<T: Debug>(
    op: impl Future<Output = Result<T, StoreError>>,
    kind: DeniedKind,
    what: &str,
) -> String {
    let err = fails_fast(op, what).await;
    assert_denied(&err, kind, None, what)
}
