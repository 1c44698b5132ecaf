//! What the store does when the server's messages are not in English (`lc_messages` German).
//!
//! Each test starts a PRIVATE instance (`common/private_pg.rs`) whose `lc_messages` is
//! `de_DE.UTF-8`. The machine need not have that locale installed: it is generated with
//! `localedef` into a temp dir (nothing of the system is touched) and the server finds it
//! through `LOCPATH` in its environment. Every test first proves that the server really answers
//! in German — otherwise it would prove nothing.
//!
//! * Refused connects are classified by SQLSTATE, so they are the same in any language.
//! * A statement refused for a missing privilege is `Denied { Permission }` (SQLSTATE 42501,
//!   explained by a `has_table_privilege` query on the failure path).
//! * A server-side statement timeout (57014) is a retryable `Backend` error in German as in
//!   English: statements are classified by SQLSTATE too, never by message text.
//!
//! The tests are skipped (with a message) only when `localedef` is not installed.

#[path = "common/auth.rs"]
mod auth;
mod common;
#[path = "common/private_pg.rs"]
mod private_pg;

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use auth::{
    assert_op_denied, assert_right_password_connects, builder, connect_without_migrations,
    create_locked_db, create_password_roles, create_table, password_setup, server_errors, start,
    url, ALICE_PASSWORD, FAIL_FAST, WRONG_PASSWORD,
};
use grafi_store_core::conformance::simple_events;
use grafi_store_core::{DeniedKind, EventStore, StoreError};
use private_pg::{PgInstance, PgSetup};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// The locale the server speaks in these tests, as named in `lc_messages` (and the name of the
/// directory `localedef` writes under `LOCPATH`).
const GERMAN: &str = "de_DE.UTF-8";

/// The store's server-side `statement_timeout` in the timeout test: short, so the lock wait
/// ends soon, yet long enough that no other statement of the store hits it on a busy machine.
const STATEMENT_TIMEOUT: Duration = Duration::from_millis(300);

/// `de_DE.UTF-8` generated into a temp dir the server user can read (removed on drop);
/// `None` (the test is skipped) only when `localedef` is not installed.
fn german_locale() -> Option<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("grafi-locale-")
        .tempdir()
        .expect("temp dir");
    // The server runs as `postgres` when the tests run as root: it must read the locale.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the locale dir");
    let target = dir.path().join(GERMAN);
    let out = match Command::new("localedef")
        .args(["-i", "de_DE", "-f", "UTF-8"])
        .arg(&target)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: `localedef` is not installed, so no German locale can be generated \
                 for the server (install glibc's locale tools, e.g. Debian's `locales`)"
            );
            return None;
        }
        Err(e) => panic!("cannot run localedef: {e}"),
    };
    assert!(
        out.status.success() && target.join("LC_MESSAGES").is_dir(),
        "localedef -i de_DE -f UTF-8 {} failed ({}): {}{}",
        target.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

/// `setup` with the server's messages in German (the locale found through `LOCPATH`).
fn speaking_german(setup: PgSetup, locale: &Path) -> PgSetup {
    setup
        .env("LOCPATH", locale.to_str().expect("UTF-8 temp path"))
        .setting("lc_messages", &format!("'{GERMAN}'"))
}

/// A superuser session (tokio-postgres, no TLS), its connection driven by a task of its own.
async fn admin_client(pg: &PgInstance) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.admin_url(), NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The server's own error (`SQLSTATE`, message) for `sql`, which must fail.
async fn server_error(client: &tokio_postgres::Client, sql: &str) -> (SqlState, String) {
    let err = match client.batch_execute(sql).await {
        Ok(()) => panic!("{sql:?} succeeded, expected an error"),
        Err(e) => e,
    };
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("{sql:?}: not a server error: {err:?}"));
    (db.code().clone(), db.message().to_owned())
}

/// Asserts the server answers in German (or, with `german == false`, in English), from
/// `lc_messages` and two messages of failing statements; returns those two messages.
async fn assert_language(pg: &PgInstance, german: bool) -> (String, String) {
    let client = admin_client(pg).await;
    let row = client.query_one("SHOW lc_messages", &[]).await.unwrap();
    let lc_messages: String = row.get(0);
    let (code, syntax) = server_error(&client, "SELEC 1").await;
    assert_eq!(code, SqlState::SYNTAX_ERROR, "{syntax}");
    let (code, missing) = server_error(&client, "SELECT * FROM gibt_es_nicht").await;
    assert_eq!(code, SqlState::UNDEFINED_TABLE, "{missing}");
    eprintln!("lc_messages = {lc_messages}: {syntax:?}, {missing:?}");
    if german {
        assert_eq!(lc_messages, GERMAN);
        // Without this, the rest of the test would prove nothing about translated messages.
        assert!(
            syntax.contains("Syntaxfehler") && missing.contains("existiert nicht"),
            "the server does not speak German (lc_messages = {lc_messages}): {syntax:?}, \
             {missing:?}; server log:\n{}",
            pg.log_tail()
        );
    } else {
        assert!(
            syntax.contains("syntax error") && missing.contains("does not exist"),
            "the server does not speak English: {syntax:?}, {missing:?}"
        );
    }
    (syntax, missing)
}

/// A private instance started from `setup` speaking German (the locale found through
/// `LOCPATH`), checked to really answer in German.
async fn start_german(setup: PgSetup, locale: &Path) -> PgInstance {
    let pg = start(speaking_german(setup, locale)).await;
    assert_language(&pg, true).await;
    pg
}

/// A refused connect under German: `Denied { kind }`, at once, with the server's error (its
/// SQLSTATE `code` and its GERMAN message, which must contain `german`) in the source chain.
async fn assert_connect_denied_in_german(
    conninfo: &str,
    kind: DeniedKind,
    code: SqlState,
    german: &str,
    what: &str,
) {
    let err = auth::assert_connect_denied(conninfo, kind, Some(&code), what).await;
    let message = server_errors(&err)
        .into_iter()
        .find(|(c, _)| *c == code)
        .map(|(_, m)| m)
        .expect("assert_denied found the SQLSTATE");
    // The point of the test: the server's text was German, and the kind is still right.
    assert!(
        message.contains(german),
        "{what}: the server's message {message:?} is not the German one (expected {german:?})"
    );
}

/// A statement `op` refused for a missing privilege under German: `Denied { Permission }` at
/// once, with the server's German refusal kept as the source.
async fn assert_permission_denied_in_german<T: Debug>(
    op: impl Future<Output = Result<T, StoreError>>,
    what: &str,
) {
    let printed = assert_op_denied(op, DeniedKind::Permission, what).await;
    assert!(
        printed.contains("keine Berechtigung"),
        "{what}: the server's refusal (kept as the source) was German: {printed}"
    );
}

/// Wrong password (28P01), a `pg_hba.conf` reject (28000), an unknown database (3D000) and a
/// revoked `CONNECT` (42501) on a German-speaking server: the same `Denied` kinds as in
/// English (tests/connect_errors.rs), since connect errors are classified by SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn german_connect_refusals_are_classified_by_sqlstate() {
    common::init_tracing();
    let Some(locale) = german_locale() else {
        return;
    };
    let pg = start_german(password_setup(), locale.path()).await;
    create_password_roles(&pg).await;
    create_locked_db(&pg).await;

    // The right password connects (and the store creates its table, in German): so it is the
    // password that is refused below, not the set-up.
    assert_right_password_connects(&pg).await;

    for (conninfo, kind, code, german, what) in [
        (
            url(&pg, "alice", Some(WRONG_PASSWORD), "alice_db"),
            DeniedKind::Authentication,
            SqlState::INVALID_PASSWORD,
            "Passwort-Authentifizierung",
            "wrong password",
        ),
        (
            url(&pg, "mallory", None, "postgres"),
            DeniedKind::Authentication,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "pg_hba.conf",
            "hba reject",
        ),
        (
            url(&pg, "alice", Some(ALICE_PASSWORD), "gibt_es_nicht_db"),
            DeniedKind::UnknownDatabase,
            SqlState::INVALID_CATALOG_NAME,
            "existiert nicht",
            "unknown database",
        ),
        (
            url(&pg, "alice", Some(ALICE_PASSWORD), "locked_db"),
            DeniedKind::Permission,
            SqlState::INSUFFICIENT_PRIVILEGE,
            "Berechtigung",
            "CONNECT revoked",
        ),
    ] {
        assert_connect_denied_in_german(&conninfo, kind, code, german, what).await;
    }
}

/// Statements a role may not run, on a German-speaking server: `clear_events` without DELETE
/// and `record_events` without INSERT are `Denied { Permission }` (the privilege is asked for
/// with `has_table_privilege`, the German text is not read), and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn german_missing_privileges_are_denied_permission() {
    common::init_tracing();
    let Some(locale) = german_locale() else {
        return;
    };
    // carol, like alice, logs in with a password (mallory's reject line stays unused here).
    let setup = password_setup().hba("host all carol 127.0.0.1/32 scram-sha-256");
    let pg = start_german(setup, locale.path()).await;

    // The table, created by the superuser through the store, with three events.
    create_table(&pg, 3).await;
    // alice may read and record but not delete; carol may only read.
    pg.sql(&format!(
        "CREATE ROLE alice LOGIN PASSWORD '{ALICE_PASSWORD}'; \
         CREATE ROLE carol LOGIN PASSWORD '{ALICE_PASSWORD}'; \
         GRANT SELECT, INSERT ON events TO alice; \
         GRANT SELECT ON grafi_rs_erased, grafi_rs_key TO alice; \
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO alice; \
         GRANT SELECT ON events TO carol; \
         GRANT SELECT ON __diesel_schema_migrations TO alice, carol;"
    ))
    .await;
    let count = || pg.scalar("SELECT count(*) FROM events");
    let role_store = |role: &str| {
        let conninfo = url(&pg, role, Some(ALICE_PASSWORD), "postgres");
        async move {
            connect_without_migrations(&conninfo)
                .await
                .unwrap_or_else(|e| panic!("the role connects: {e:?}"))
        }
    };

    let alice = role_store("alice").await;
    // What alice was granted works: the refusal below is about DELETE, nothing else.
    assert_eq!(alice.get_events().await.expect("alice reads").len(), 3);
    alice
        .record_events(simple_events("de", "alice", 2))
        .await
        .expect("alice records (INSERT and the sequence are granted)");
    assert_eq!(count().await, "5");
    assert_permission_denied_in_german(alice.clear_events(), "clear_events without DELETE").await;
    assert_eq!(count().await, "5", "the rows are still there");

    let carol = role_store("carol").await;
    assert_eq!(carol.get_events().await.expect("carol reads").len(), 5);
    assert_permission_denied_in_german(
        carol.record_events(simple_events("de", "carol", 3)),
        "record_events without INSERT",
    )
    .await;
    assert_eq!(count().await, "5", "nothing was written");
}

/// A server-side statement timeout: `get_events` waits for a lock another session holds until
/// the store's `statement_timeout` ([`STATEMENT_TIMEOUT`]) cancels it. Returns the store's error and the
/// server's own message for the same cancellation (seen by a plain session, with its SQLSTATE
/// checked to be 57014, so it is known to be a statement timeout whatever the language).
async fn statement_timeout_error(pg: &PgInstance) -> (StoreError, String) {
    create_table(pg, 3).await;
    let store = builder(&pg.url())
        .run_migrations(false)
        .statement_timeout(Some(STATEMENT_TIMEOUT))
        .max_retries(0)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("the store connects: {e:?}"));
    assert_eq!(store.get_events().await.expect("reads").len(), 3);

    let holder = admin_client(pg).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");

    // The server's own words for this cancellation, from a plain session.
    let plain = admin_client(pg).await;
    plain
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            STATEMENT_TIMEOUT.as_millis()
        ))
        .await
        .unwrap();
    let (code, server_message) = server_error(&plain, "SELECT count(*) FROM events").await;
    assert_eq!(
        code,
        SqlState::QUERY_CANCELED,
        "not a statement timeout: {server_message}"
    );

    let started = Instant::now();
    let result = store.get_events().await;
    let elapsed = started.elapsed();
    holder.batch_execute("ROLLBACK").await.expect("unlock");
    let err = match result {
        Err(e) => e,
        Ok(events) => panic!("read {} events through an exclusive lock", events.len()),
    };
    eprintln!("statement timeout: {err:?} (in {elapsed:?}); the server said {server_message:?}");
    // The server cancelled it (after STATEMENT_TIMEOUT), not the store's 30 s call deadline.
    assert!(elapsed < FAIL_FAST, "took {elapsed:?}: {err:?}");
    // Once the lock is gone the same store reads again: the failure was the timeout.
    assert_eq!(store.get_events().await.expect("reads again").len(), 3);
    (err, server_message)
}

/// A server-side statement timeout is classified by its SQLSTATE (57014), not its text: the
/// same retryable `Backend` error from a German server as from an English one, with the
/// server's own (translated) message passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_retryable_in_any_language() {
    common::init_tracing();
    let Some(locale) = german_locale() else {
        return;
    };
    let german = start_german(PgInstance::setup(), locale.path()).await;
    let english = start(PgInstance::setup()).await;
    assert_language(&english, false).await;

    for (pg, language, expected_text) in [
        (&german, "German", "Zeitüberschreitung"),
        (
            &english,
            "English",
            "canceling statement due to statement timeout",
        ),
    ] {
        let (err, server_message) = statement_timeout_error(pg).await;
        assert!(
            server_message.contains(expected_text),
            "{language}: the server's timeout message is {server_message:?}"
        );
        match &err {
            StoreError::Backend {
                message,
                retryable: true,
                ..
            } => assert!(
                message.contains(&server_message) && message.contains("57014"),
                "{language}: {message}"
            ),
            other => panic!(
                "{language} statement timeout: expected Backend {{ retryable: true }}, got {other:?}"
            ),
        }
        assert!(err.is_retryable(), "{err:?}");
        assert!(!err.outcome_unknown(), "{err:?}");
    }
}
