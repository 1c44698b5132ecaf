//! TLS against REAL private PostgreSQL 15 instances (`common/private_pg.rs`): one with TLS on
//! (a certificate from `common/tls_certs.rs` whose only SubjectAltName is `localhost`), one
//! with TLS off. Every `sslmode` with the right CA, the wrong CA and no `sslrootcert`, on
//! `host=localhost` and `host=127.0.0.1`, in both conninfo spellings (URL and key=value).
//!
//! A mode that must connect records 100 events (one binary `COPY` on the COPY pool) and reads
//! them back (the diesel pool); then an admin connection checks `pg_stat_ssl.ssl` of EVERY
//! backend carrying the case's own `application_name`: at least two (the diesel pool has one
//! connection, so the other is the COPY pool's), all encrypted or all plain as the mode says.
//! A mode that must fail returns `Denied { kind: Tls }`, not retryable, with a source.
//!
//! Every case runs even when an earlier one fails; the test then lists every mismatch.

mod common;
#[path = "common/private_pg.rs"]
mod private_pg;
#[path = "common/tls_certs.rs"]
mod tls_certs;

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use grafi_store_core::conformance::simple_events;
use grafi_store_core::{DeniedKind, EventStore, StoreError};
use grafi_store_diesel::DieselEventStore;
use private_pg::{PgInstance, PgSetup};
use tls_certs::TestPki;

/// A failing mode must fail at once (no retry loop): well under the connection timeout.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
const FAIL_FAST: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Connects; every backend is unencrypted.
    Plain,
    /// Connects; every backend is encrypted.
    Tls,
    /// `Denied { kind: Tls }`, not retryable.
    DeniedTls,
}

#[derive(Clone, Copy, Debug)]
enum Root {
    /// No `sslrootcert`.
    Absent,
    /// The CA that signed the server certificate.
    Right,
    /// An unrelated CA.
    Wrong,
    /// `sslrootcert=system` (the platform's roots, which do not know the test CA).
    System,
}

#[derive(Clone, Copy, Debug)]
enum Form {
    Url,
    KeyValue,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    sslmode: &'static str,
    root: Root,
    host: &'static str,
    form: Form,
    expect: Expect,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sslmode={} sslrootcert={:?} host={} ({:?})",
            self.sslmode, self.root, self.host, self.form
        )
    }
}

const fn case(
    sslmode: &'static str,
    root: Root,
    host: &'static str,
    form: Form,
    expect: Expect,
) -> Case {
    Case {
        sslmode,
        root,
        host,
        form,
        expect,
    }
}

const LOCALHOST: &str = "localhost";
const LOOPBACK: &str = "127.0.0.1";

/// A name no other case (or test) uses, so `pg_stat_activity` shows only this store.
fn unique_app_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn conninfo(pg: &PgInstance, pki: &TestPki, case: &Case, app: Option<&str>) -> String {
    let root = match case.root {
        Root::Absent => None,
        Root::Right => Some(pki.ca_path().display().to_string()),
        Root::Wrong => Some(pki.wrong_ca_path().display().to_string()),
        Root::System => Some("system".to_owned()),
    };
    match case.form {
        Form::Url => {
            let mut url = format!(
                "postgres://postgres@{}:{}/postgres?sslmode={}",
                case.host, pg.port, case.sslmode
            );
            if let Some(root) = root {
                url.push_str(&format!("&sslrootcert={root}"));
            }
            if let Some(app) = app {
                url.push_str(&format!("&application_name={app}"));
            }
            url
        }
        Form::KeyValue => {
            let mut kv = format!(
                "host={} port={} user=postgres dbname=postgres sslmode={}",
                case.host, pg.port, case.sslmode
            );
            if let Some(root) = root {
                kv.push_str(&format!(" sslrootcert={root}"));
            }
            if let Some(app) = app {
                kv.push_str(&format!(" application_name={app}"));
            }
            kv
        }
    }
}

async fn connect(conninfo: &str) -> Result<DieselEventStore, StoreError> {
    DieselEventStore::builder(conninfo)
        .pool_size(1)
        .copy(Some(1), 1)
        .connection_timeout(CONNECTION_TIMEOUT)
        .connect()
        .await
}

/// Records 100 events (one COPY), reads them back, and checks every backend named `app`.
/// Returns how many backends it saw.
async fn use_store_and_check_backends(
    pg: &PgInstance,
    store: &DieselEventStore,
    app: &str,
    want_ssl: bool,
) -> Result<usize, String> {
    let events = simple_events(app, "tls-request", 100);
    let ids: HashSet<String> = events.iter().map(|e| e.event_id().to_owned()).collect();
    let before = store.copy_stats().copied;
    store
        .record_events(events)
        .await
        .map_err(|e| format!("record_events: {e} ({e:?})"))?;
    let copied = store.copy_stats().copied - before;
    if copied != 1 {
        return Err(format!(
            "the 100-event batch did not go through COPY (copied {copied}, stats {:?})",
            store.copy_stats()
        ));
    }
    let read = store
        .get_events()
        .await
        .map_err(|e| format!("get_events: {e} ({e:?})"))?;
    let found = read.iter().filter(|e| ids.contains(e.event_id())).count();
    if found != ids.len() {
        return Err(format!(
            "get_events returned {found} of the {} events",
            ids.len()
        ));
    }
    let backends = pg.backends_ssl(app).await;
    if backends.len() < 2 {
        return Err(format!(
            "expected at least 2 backends with application_name {app:?} (diesel pool + COPY \
             pool), saw {backends:?}"
        ));
    }
    let wrong: Vec<_> = backends
        .iter()
        .filter(|(_, ssl)| *ssl != want_ssl)
        .collect();
    if !wrong.is_empty() {
        return Err(format!(
            "expected every backend ssl={want_ssl}; (pid, ssl) of all of them: {backends:?}"
        ));
    }
    Ok(backends.len())
}

/// Runs one case; `Ok(what happened)` when it matched the expectation.
async fn run_case(pg: &PgInstance, pki: &TestPki, case: &Case) -> Result<String, String> {
    let app = unique_app_name("grafi-tls");
    let conninfo = conninfo(pg, pki, case, Some(&app));
    let started = Instant::now();
    let connected = connect(&conninfo).await;
    let elapsed = started.elapsed();
    match (case.expect, connected) {
        (Expect::Plain | Expect::Tls, Ok(store)) => {
            let want_ssl = case.expect == Expect::Tls;
            let n = use_store_and_check_backends(pg, &store, &app, want_ssl).await?;
            Ok(format!("connected, {n} backends all ssl={want_ssl}"))
        }
        (Expect::Plain | Expect::Tls, Err(e)) => Err(format!(
            "expected to connect ({:?}), got error after {elapsed:?}: {e} ({e:?})",
            case.expect
        )),
        (Expect::DeniedTls, Ok(store)) => {
            let seen = pg.backends_ssl(&app).await;
            drop(store);
            Err(format!(
                "expected Denied {{ kind: Tls }}, but it connected; backends (pid, ssl): {seen:?}"
            ))
        }
        (Expect::DeniedTls, Err(e)) => {
            let mut problems = Vec::new();
            match &e {
                StoreError::Denied {
                    kind: DeniedKind::Tls,
                    ..
                } => {}
                other => problems.push(format!("expected Denied {{ kind: Tls }}, got {other:?}")),
            }
            if e.is_retryable() {
                problems.push("is_retryable() is true".to_owned());
            }
            if std::error::Error::source(&e).is_none() {
                problems.push("source() is None".to_owned());
            }
            if elapsed > FAIL_FAST {
                problems.push(format!("took {elapsed:?} to fail (a retry loop?)"));
            }
            if problems.is_empty() {
                Ok(format!("denied in {elapsed:?}: {e}"))
            } else {
                Err(format!("{} — error was: {e}", problems.join("; ")))
            }
        }
    }
}

/// Runs every case in order and fails listing every mismatch.
async fn run_cases(pg: &PgInstance, pki: &TestPki, server: &str, cases: &[Case]) {
    let mut mismatches = Vec::new();
    for case in cases {
        match run_case(pg, pki, case).await {
            Ok(what) => eprintln!("[{server}] ok   {case} => {:?}: {what}", case.expect),
            Err(why) => {
                eprintln!("[{server}] FAIL {case} => {:?}: {why}", case.expect);
                mismatches.push(format!("{case}: expected {:?}: {why}", case.expect));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases on the {server} server did not behave as expected:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

async fn start(setup: PgSetup) -> PgInstance {
    tokio::task::spawn_blocking(move || setup.start())
        .await
        .unwrap()
}

async fn tls_server(pki: &TestPki) -> PgInstance {
    start(
        PgInstance::setup()
            .settings(TestPki::server_settings())
            .files(&pki.server_files()),
    )
    .await
}

/// libpq (`psql`) as the reference client: `Ok(ssl column)` or `Err(stderr)`.
fn psql_ssl(pg: &PgInstance, conninfo_tail: &str) -> Result<String, String> {
    let bin = std::env::var("GRAFI_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let out = std::process::Command::new(format!("{bin}/psql"))
        .arg(format!(
            "port={} user=postgres dbname=postgres connect_timeout=10 {conninfo_tail}",
            pg.port
        ))
        .args([
            "-XAtc",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .env("PGSSLROOTCERT", "/nonexistent/root.crt")
        .output()
        .expect("run psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The fixture itself, checked with libpq before the store is judged against it: the server
/// speaks TLS, its certificate chains to the test CA and names only `localhost`, and the
/// wrong CA does not verify it.
fn check_fixture_with_libpq(pg: &PgInstance, pki: &TestPki) {
    let ca = pki.ca_path().display();
    let wrong = pki.wrong_ca_path().display();
    assert_eq!(
        psql_ssl(
            pg,
            &format!("host=localhost sslmode=verify-full sslrootcert={ca}")
        ),
        Ok("t".to_owned()),
        "libpq verify-full on localhost with the test CA; server log:\n{}",
        pg.log_tail()
    );
    assert_eq!(
        psql_ssl(
            pg,
            &format!("host=127.0.0.1 sslmode=verify-ca sslrootcert={ca}")
        ),
        Ok("t".to_owned()),
        "libpq verify-ca on 127.0.0.1 with the test CA"
    );
    let mismatch = psql_ssl(
        pg,
        &format!("host=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
    );
    assert!(
        matches!(&mismatch, Err(e) if e.contains("does not match host name")),
        "libpq verify-full on 127.0.0.1 must fail on the host name: {mismatch:?}"
    );
    let wrong_ca = psql_ssl(
        pg,
        &format!("host=localhost sslmode=verify-ca sslrootcert={wrong}"),
    );
    assert!(
        matches!(&wrong_ca, Err(e) if e.contains("certificate verify failed")),
        "libpq verify-ca with the wrong CA must fail the chain: {wrong_ca:?}"
    );
    assert_eq!(
        psql_ssl(pg, "host=127.0.0.1 sslmode=disable"),
        Ok("f".to_owned()),
        "libpq sslmode=disable"
    );
}

/// The server offers TLS: every mode, every root, both host spellings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_every_sslmode() {
    use Expect::*;
    use Form::*;
    use Root::*;
    common::init_tracing();
    let pki = TestPki::new();
    let pg = tls_server(&pki).await;
    tokio::task::block_in_place(|| check_fixture_with_libpq(&pg, &pki));

    let cases = [
        // disable: never TLS, even though the server offers it.
        case("disable", Absent, LOOPBACK, Url, Plain),
        case("disable", Absent, LOCALHOST, KeyValue, Plain),
        // prefer: TLS whenever the server offers it.
        case("prefer", Absent, LOOPBACK, Url, Tls),
        case("prefer", Absent, LOCALHOST, KeyValue, Tls),
        // require without sslrootcert: TLS, certificate not verified (the client does not
        // know the test CA, and 127.0.0.1 is not the certificate's name).
        case("require", Absent, LOOPBACK, Url, Tls),
        case("require", Absent, LOCALHOST, KeyValue, Tls),
        // require with sslrootcert: the chain is verified (like verify-ca), not the name.
        case("require", Right, LOOPBACK, KeyValue, Tls),
        case("require", Wrong, LOCALHOST, Url, DeniedTls),
        case("require", Wrong, LOOPBACK, KeyValue, DeniedTls),
        // verify-ca: the chain, not the host name.
        case("verify-ca", Right, LOOPBACK, Url, Tls),
        case("verify-ca", Right, LOCALHOST, KeyValue, Tls),
        case("verify-ca", Wrong, LOCALHOST, Url, DeniedTls),
        case("verify-ca", Wrong, LOOPBACK, KeyValue, DeniedTls),
        case("verify-ca", Absent, LOOPBACK, Url, DeniedTls),
        // verify-full: chain and host name.
        case("verify-full", Right, LOCALHOST, Url, Tls),
        case("verify-full", Right, LOCALHOST, KeyValue, Tls),
        case("verify-full", Right, LOOPBACK, Url, DeniedTls),
        case("verify-full", Right, LOOPBACK, KeyValue, DeniedTls),
        case("verify-full", Wrong, LOCALHOST, Url, DeniedTls),
        case("verify-full", Absent, LOCALHOST, Url, DeniedTls),
        case("verify-full", System, LOCALHOST, KeyValue, DeniedTls),
    ];
    run_cases(&pg, &pki, "TLS", &cases).await;
}

/// The server does not offer TLS (`ssl = off`): only disable and prefer connect, in plain
/// text; every mode that requires TLS is denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_server_every_sslmode() {
    use Expect::*;
    use Form::*;
    use Root::*;
    common::init_tracing();
    let pki = TestPki::new();
    let pg = start(PgInstance::setup().setting("ssl", "off")).await;
    assert_eq!(pg.scalar("current_setting('ssl')").await, "off");

    let cases = [
        case("disable", Absent, LOOPBACK, Url, Plain),
        case("disable", Absent, LOCALHOST, KeyValue, Plain),
        case("prefer", Absent, LOOPBACK, Url, Plain),
        case("prefer", Absent, LOCALHOST, KeyValue, Plain),
        case("prefer", Right, LOCALHOST, Url, Plain),
        case("require", Absent, LOOPBACK, Url, DeniedTls),
        case("require", Absent, LOCALHOST, KeyValue, DeniedTls),
        case("require", Right, LOCALHOST, Url, DeniedTls),
        case("verify-ca", Right, LOOPBACK, Url, DeniedTls),
        case("verify-ca", Right, LOCALHOST, KeyValue, DeniedTls),
        case("verify-full", Right, LOCALHOST, Url, DeniedTls),
        case("verify-full", Right, LOCALHOST, KeyValue, DeniedTls),
    ];
    run_cases(&pg, &pki, "plain", &cases).await;
}

/// `application_name`: the one in the conninfo is what the server shows for every backend
/// (URL and key=value, over TLS and not), and without one every backend shows the default
/// `grafi-store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_name_from_conninfo_is_kept() {
    common::init_tracing();
    let pki = TestPki::new();
    let pg = tls_server(&pki).await;

    // No application_name: the default, on every backend (this store is the only client).
    let default_case = case("require", Root::Absent, LOOPBACK, Form::Url, Expect::Tls);
    let store = connect(&conninfo(&pg, &pki, &default_case, None))
        .await
        .expect("connect without application_name");
    let n = use_store_and_check_backends(&pg, &store, "grafi-store", true)
        .await
        .unwrap_or_else(|e| panic!("default application_name: {e}"));
    let names = pg
        .scalar(
            "SELECT coalesce(string_agg(DISTINCT application_name, ','), '') \
             FROM pg_stat_activity WHERE backend_type = 'client backend' \
             AND application_name <> 'grafi-test-admin'",
        )
        .await;
    assert_eq!(
        names, "grafi-store",
        "every client backend but the admin ones is the store's, named by default"
    );
    eprintln!("default application_name: {n} backends named grafi-store");
    drop(store);

    // Given: kept as is (each of these runs the full backend check under that name).
    for (form, sslmode, want) in [
        (Form::Url, "require", Expect::Tls),
        (Form::KeyValue, "require", Expect::Tls),
        (Form::Url, "disable", Expect::Plain),
        (Form::KeyValue, "disable", Expect::Plain),
    ] {
        let c = case(sslmode, Root::Absent, LOOPBACK, form, want);
        let outcome = run_case(&pg, &pki, &c).await;
        assert!(outcome.is_ok(), "{c}: {outcome:?}");
    }
}
