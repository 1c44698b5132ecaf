//! Opening a connection: the one place that knows the settings, the TLS connector and the
//! session set-up, used by the diesel pool, the `COPY` pool and migrations alike.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use grafi_store_core::{DeniedKind, StoreError};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::conninfo::ConnectionSettings;
use crate::tls::{connector, Connector};

/// The driver's half of a session, which someone must poll for the client to work.
type Session = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <Connector as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Everything needed to open a connection of the store. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connect {
    settings: Arc<ConnectionSettings>,
    tls: Connector,
    session_setup: Arc<str>,
    /// The last failure of a pooled connect, when it happened, with its source: bb8 and
    /// diesel-async keep only a message, and a caller needs the kind (and the SQLSTATE) of
    /// what went wrong. Cleared by the next successful connect.
    last_failure: Arc<Mutex<Option<(Instant, StoreError)>>>,
}

impl Connect {
    pub(crate) fn new(
        settings: ConnectionSettings,
        statement_timeout: Option<Duration>,
    ) -> Result<Self, StoreError> {
        let tls = connector(&settings)?;
        Ok(Self {
            settings: Arc::new(settings),
            tls,
            session_setup: session_setup(statement_timeout).into(),
            last_failure: Arc::default(),
        })
    }

    pub(crate) fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// A new session: the socket, TLS as `sslmode` says, authentication.
    pub(crate) async fn open(&self) -> Result<(Client, Session), StoreError> {
        self.settings
            .config()
            .connect(self.tls.clone())
            .await
            .map_err(|e| classify_connect_error(e, &self.settings))
    }

    /// A raw tokio-postgres client, its connection driven by a task of its own.
    pub(crate) async fn client(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.open().await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the socket fails; the client sees the failure.
            let _ = connection.await;
        });
        client
            .batch_execute(&self.session_setup)
            .await
            .map_err(|e| classify_connect_error(e, &self.settings))?;
        Ok(client)
    }

    /// A diesel-async connection with the session set up.
    pub(crate) async fn diesel(&self) -> Result<AsyncPgConnection, StoreError> {
        let (client, connection) = self.open().await?;
        let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|e| unavailable("cannot set up the connection", e))?;
        conn.batch_execute(&self.session_setup)
            .await
            .map_err(|e| unavailable("session set-up failed", e))?;
        Ok(conn)
    }

    /// For the pool: a diesel connection, or diesel's error type with the classified failure
    /// kept aside for [`Connect::take_last_failure`].
    pub(crate) async fn pooled(&self) -> Result<AsyncPgConnection, diesel::ConnectionError> {
        let result = self.diesel().await;
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(conn) => {
                *last = None;
                Ok(conn)
            }
            Err(failure) => {
                let message = failure.to_string();
                *last = Some((Instant::now(), failure));
                Err(diesel::ConnectionError::BadConnection(message))
            }
        }
    }

    /// The classified failure behind the last `BadConnection` the pool reported, if it
    /// happened within `window` (an older one says nothing about the call at hand).
    pub(crate) fn take_last_failure(&self, window: Duration) -> Option<StoreError> {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        match last.take() {
            Some((at, failure)) if at.elapsed() <= window => Some(failure),
            _ => None,
        }
    }
}

/// The session settings of every connection, both pools. `application_name` is not among
/// them: it goes in the startup message, from the connection string or `PGAPPNAME`.
fn session_setup(statement_timeout: Option<Duration>) -> String {
    let mut setup = String::from("SET TIME ZONE 'UTC';");
    if let Some(t) = statement_timeout {
        setup.push_str(&format!(" SET statement_timeout = {};", t.as_millis()));
    }
    setup
}

/// A failed connect, by what the caller can do about it. tokio-postgres never puts the
/// password in its messages; the server's SQLSTATE decides, not its (translated) text.
pub(crate) fn classify_connect_error(
    error: tokio_postgres::Error,
    settings: &ConnectionSettings,
) -> StoreError {
    let target = format!(
        "{} as {} (database {})",
        settings.endpoint(),
        settings.user(),
        settings.dbname().unwrap_or(settings.user())
    );
    let denied = |kind, advice: &str, error: tokio_postgres::Error| {
        let detail = error_chain(&error);
        StoreError::Denied {
            kind,
            message: format!("{target}: {detail}; {advice}"),
            source: Some(Box::new(error)),
        }
    };
    if let Some(code) = error.code() {
        return match code {
            c if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                denied(
                    DeniedKind::Authentication,
                    "check the user and password (connection string or PGPASSWORD) and the \
                     server's pg_hba.conf",
                    error,
                )
            }
            c if *c == SqlState::INVALID_CATALOG_NAME => denied(
                DeniedKind::UnknownDatabase,
                "create the database or fix its name",
                error,
            ),
            c if *c == SqlState::INSUFFICIENT_PRIVILEGE => denied(
                DeniedKind::Permission,
                "grant the role CONNECT on the database",
                error,
            ),
            _ => StoreError::Unavailable {
                // Too many connections, starting up, shutting down: may heal.
                message: format!("cannot connect to {target}: {}", error_chain(&error)),
                outcome_unknown: false,
                source: Some(Box::new(error)),
            },
        };
    }
    let text = error_chain(&error);
    // tokio-postgres' own fixed texts (not the server's), for its error kinds it does not expose.
    if text.starts_with("error performing TLS handshake") {
        let advice = match settings.ssl_mode() {
            mode if mode.allows_plain_text() => "check the server's TLS set-up".to_owned(),
            mode => format!(
                "sslmode={mode} accepts no plain text: check that the server offers TLS and that \
                 its certificate is issued by a root in sslrootcert{}",
                if mode == crate::SslMode::VerifyFull {
                    " for the host name connected to"
                } else {
                    ""
                }
            ),
        };
        return denied(DeniedKind::Tls, &advice, error);
    }
    if text.starts_with("invalid configuration") && !text.ends_with("password missing") {
        return StoreError::Config(format!("cannot connect to {target}: {text}"));
    }
    if text.starts_with("invalid configuration") || text.starts_with("authentication error") {
        return denied(
            DeniedKind::Authentication,
            "the server asks for credentials this connection does not have (set the password \
             in the connection string or PGPASSWORD)",
            error,
        );
    }
    StoreError::Unavailable {
        message: format!("cannot connect to {target}: {}", error_chain(&error)),
        outcome_unknown: false,
        source: Some(Box::new(error)),
    }
}

/// A connection that failed to set up, nothing written: retryable, the error kept as source.
pub(crate) fn unavailable(
    what: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Unavailable {
        message: format!("{what}: {error}"),
        outcome_unknown: false,
        source: Some(Box::new(error)),
    }
}

/// An error and its causes, `outer: cause: root cause`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Logs the pools' background failures (connects, health checks), which bb8 otherwise drops.
/// Messages name the server, never the password.
#[derive(Debug, Clone)]
pub(crate) struct LogErrorSink {
    pub(crate) database: Arc<str>,
}

impl<E: std::fmt::Display + 'static> bb8::ErrorSink<E> for LogErrorSink {
    fn sink(&self, error: E) {
        tracing::warn!(database = %self.database, error = %error, "database connection error");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<E>> {
        Box::new(self.clone())
    }
}
