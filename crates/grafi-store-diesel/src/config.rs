//! [`DieselStoreConfig`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grafi_events::{Dialect, EventRegistry};
use grafi_store_core::{Limits, StoreError};

use crate::conninfo::ConnectionSettings;

/// How a [`DieselEventStore`](crate::DieselEventStore) connects and behaves: set through
/// [`DieselEventStore::builder`](crate::DieselEventStore::builder), read back with
/// [`DieselEventStore::config`](crate::DieselEventStore::config) (fields are private so that adding one is not
/// a breaking change).
///
/// Defaults: 10 connections, 5 s to get a connection, a 30 s deadline on every call, a 20 s
/// server-side `statement_timeout`, 3 retries of transient failures with exponential backoff
/// from 50 ms (capped at 2 s, and always within the call's deadline), a missing table
/// created on connect (in grafi 0.0.24's layout unless [`DieselStoreBuilder::dialect`] names
/// another). See `docs/operations.md` for tuning.
#[derive(Clone)]
pub struct DieselStoreConfig {
    /// A libpq connection string: `postgres://user[:password]@host[:port]/database[?options]`
    /// or `host=… user=… dbname=…`; libpq's environment fills what it leaves out (see
    /// [`ConnectionSettings`]).
    pub(crate) database_url: String,
    /// Maximum connections in the pool.
    pub(crate) pool_size: u32,
    /// Connections kept open while idle (`None`: opened on demand).
    pub(crate) min_idle: Option<u32>,
    /// How long to wait for a connection from the pool (including opening a new one).
    pub(crate) connection_timeout: Duration,
    /// Client-side deadline on every store call, retries included. Neither bb8 nor
    /// diesel-async bounds a statement that is already running: without it, a network
    /// partition hangs a call forever.
    pub(crate) call_timeout: Duration,
    /// Server-side `statement_timeout` set on every connection (`None`: the server's default).
    /// Keep it below `call_timeout` so the server gives up first and says why.
    pub(crate) statement_timeout: Option<Duration>,
    /// Create the `events` table (all embedded migrations) when connecting finds none. An
    /// existing table is never altered on connect.
    pub(crate) run_migrations: bool,
    /// Retries of a transient failure (connection lost, pool timeout, serialization failure,
    /// deadlock). Every operation of the store is idempotent, so all are retried.
    pub(crate) max_retries: u32,
    /// First backoff between retries; doubles each time, capped at 2 s.
    pub(crate) retry_backoff: Duration,
    /// Per-event limits (shared validation).
    pub(crate) limits: Limits,
    /// Decodes stored rows; unknown types come back raw.
    pub(crate) registry: Arc<EventRegistry>,
    /// Rows per INSERT statement of `record_events` (all chunks of a call share one
    /// transaction).
    pub(crate) chunk_rows: usize,
    /// Bytes of payload per INSERT statement (far below PostgreSQL's 1 GB per value).
    pub(crate) chunk_bytes: usize,
    /// `record_events` calls of at least this many events are first tried as one binary
    /// `COPY` (`None`: never). A `COPY` cannot skip stored ids, so a batch holding one falls
    /// back to `INSERT … ON CONFLICT DO NOTHING`; see docs/operations.md.
    pub(crate) copy_min_events: Option<usize>,
    /// Connections of the separate pool that runs `COPY`s (opened on first use, on top of
    /// `pool_size`; 0 turns `COPY` off). A batch that finds them all busy uses `INSERT`.
    pub(crate) copy_pool_size: u32,
    /// The grafi dialect the caller named: the layout of a table connecting creates, and what
    /// an existing table must have (`None`: whatever it has; grafi 0.0.24's when creating).
    pub(crate) dialect: Option<Dialect>,
    /// The layout of a table connecting creates, when `dialect` does not name one; an
    /// existing table is served whatever its layout (`None`: grafi 0.0.24's).
    pub(crate) new_table_dialect: Option<Dialect>,
    /// How often a subscription reads again when no notification woke it: the longest it
    /// takes to see rows that writers without `NOTIFY` (a Python grafi service, plain SQL)
    /// insert, and to recover a notification lost while its listener reconnected.
    pub(crate) poll_interval: Duration,
    /// Send a `NOTIFY` after writes that record something, so subscriptions (of any
    /// process) see them at once rather than at their next poll.
    pub(crate) notify: bool,
}

/// Default for [`DieselStoreBuilder::copy`]'s `min_events` (measured, docs/performance.md).
const COPY_MIN_EVENTS: usize = 64;

impl DieselStoreConfig {
    /// The defaults for `database_url`.
    pub(crate) fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            pool_size: 10,
            min_idle: None,
            connection_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            statement_timeout: Some(Duration::from_secs(20)),
            run_migrations: true,
            max_retries: 3,
            retry_backoff: Duration::from_millis(50),
            limits: Limits::default(),
            registry: Arc::new(EventRegistry::default()),
            // Measured (docs/performance.md): with statements pipelined, 250 rows of 2 KB events
            // per statement beat 125 and 500 (the server starts sooner, the client keeps up).
            chunk_rows: 250,
            chunk_bytes: 16 * 1024 * 1024,
            copy_min_events: Some(COPY_MIN_EVENTS),
            copy_pool_size: 2,
            dialect: None,
            new_table_dialect: None,
            poll_interval: Duration::from_millis(500),
            notify: true,
        }
    }

    /// How often a subscription reads again without a notification.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// Whether writes send a `NOTIFY` to wake subscriptions.
    pub fn notify(&self) -> bool {
        self.notify
    }

    /// Maximum connections in the pool.
    pub fn pool_size(&self) -> u32 {
        self.pool_size
    }

    /// Connections kept open while idle (`None`: opened on demand).
    pub fn min_idle(&self) -> Option<u32> {
        self.min_idle
    }

    /// How long a call waits for a pooled connection.
    pub fn connection_timeout(&self) -> Duration {
        self.connection_timeout
    }

    /// The client-side deadline on every call, retries included.
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The server-side `statement_timeout` (`None`: the server's default).
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// Whether connecting may create a missing table.
    pub fn run_migrations(&self) -> bool {
        self.run_migrations
    }

    /// Retries of a transient failure, and the first backoff between them.
    pub fn retries(&self) -> (u32, Duration) {
        (self.max_retries, self.retry_backoff)
    }

    /// Per-event limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Rows and bytes per INSERT statement.
    pub fn chunk_size(&self) -> (usize, usize) {
        (self.chunk_rows, self.chunk_bytes)
    }

    /// The smallest batch tried as a `COPY` (`None`: never), and the `COPY` pool's size.
    pub fn copy(&self) -> (Option<usize>, u32) {
        (self.copy_min_events, self.copy_pool_size)
    }

    /// The grafi dialect named with [`DieselStoreBuilder::dialect`] (`None`: not named).
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if let Some(dialect) = self.dialect {
            crate::layout::Shape::of(dialect)?;
        }
        if self.pool_size == 0 {
            return Err(StoreError::Config("pool_size must be at least 1".into()));
        }
        if self.min_idle.is_some_and(|m| m > self.pool_size) {
            return Err(StoreError::Config(
                "min_idle must not exceed pool_size".into(),
            ));
        }
        if self.chunk_rows == 0 || self.chunk_bytes == 0 {
            return Err(StoreError::Config("chunk sizes must be positive".into()));
        }
        if self.call_timeout.is_zero() || self.connection_timeout.is_zero() {
            return Err(StoreError::Config("timeouts must be positive".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for DieselStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselStoreConfig")
            .field(
                "database_url",
                &ConnectionSettings::parse(&self.database_url).map_or_else(
                    |_| "<invalid connection string>".to_owned(),
                    |s| s.to_string(),
                ),
            )
            .field("pool_size", &self.pool_size)
            .field("min_idle", &self.min_idle)
            .field("connection_timeout", &self.connection_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("run_migrations", &self.run_migrations)
            .field("poll_interval", &self.poll_interval)
            .field("notify", &self.notify)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("limits", &self.limits)
            .field("chunk_rows", &self.chunk_rows)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("copy_min_events", &self.copy_min_events)
            .field("copy_pool_size", &self.copy_pool_size)
            .field("dialect", &self.dialect)
            .field("new_table_dialect", &self.new_table_dialect)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DieselEventStore`](crate::DieselEventStore).
///
/// ```no_run
/// # async fn demo() -> Result<(), grafi_store_core::StoreError> {
/// use std::time::Duration;
/// use grafi_store_diesel::DieselEventStore;
/// let store = DieselEventStore::builder("postgres://postgres@127.0.0.1:5432/postgres")
///     .pool_size(16)
///     .call_timeout(Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DieselStoreBuilder {
    config: DieselStoreConfig,
}

impl DieselStoreBuilder {
    pub(crate) fn new(database_url: impl Into<String>) -> Self {
        Self {
            config: DieselStoreConfig::new(database_url),
        }
    }

    /// Maximum connections in the pool.
    pub fn pool_size(mut self, size: u32) -> Self {
        self.config.pool_size = size;
        self
    }

    /// Connections kept open while idle.
    pub fn min_idle(mut self, min_idle: Option<u32>) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// How long to wait for a pooled connection.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.config.connection_timeout = timeout;
        self
    }

    /// Client-side deadline on every call.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// Server-side `statement_timeout` (`None`: the server's default).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.statement_timeout = timeout;
        self
    }

    /// How often a subscription reads again when no notification woke it (default 500 ms,
    /// at least 10 ms): the delay before it sees rows that writers without `NOTIFY` insert
    /// (a Python grafi service, plain SQL).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Whether writes that record something send a `NOTIFY` (a separate statement after the
    /// commit, on a pooled connection, coalesced; default: yes) so that subscriptions see them
    /// at once. Off, subscriptions see them at their next poll.
    pub fn notify(mut self, notify: bool) -> Self {
        self.config.notify = notify;
        self
    }

    /// Whether connecting may create a missing `events` table (default: yes). An existing
    /// table is never altered on connect, whatever this says: see `grafi-store migrate`.
    pub fn run_migrations(mut self, run: bool) -> Self {
        self.config.run_migrations = run;
        self
    }

    /// Retries of transient failures.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// First retry backoff.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.config.retry_backoff = backoff;
        self
    }

    /// Per-event limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// The registry that decodes rows (e.g. with user-defined event types).
    pub fn registry(mut self, registry: Arc<EventRegistry>) -> Self {
        self.config.registry = registry;
        self
    }

    /// Rows and bytes per INSERT statement.
    pub fn chunk_size(mut self, rows: usize, bytes: usize) -> Self {
        self.config.chunk_rows = rows;
        self.config.chunk_bytes = bytes;
        self
    }

    /// Batches of at least `min_events` events are first tried as one binary `COPY` on a
    /// separate pool of up to `pool_size` connections (`None` or a pool of 0: never).
    pub fn copy(mut self, min_events: Option<usize>, pool_size: u32) -> Self {
        self.config.copy_min_events = min_events;
        self.config.copy_pool_size = pool_size;
        self
    }

    /// The grafi dialect of the table: the layout connecting gives the `events` table when it
    /// creates it (grafi 0.0.36's exact DDL for [`Dialect::V0_0_36`], grafi 0.0.24's for
    /// [`Dialect::V0_0_24`]), and the one an existing table must have.
    ///
    /// Not named (the default), a table that exists is served in whichever layout it has, and
    /// a missing one is created in grafi 0.0.24's. Named, an existing table of the other layout
    /// is a [`StoreError::Config`] when connecting, never silently served: the caller's events
    /// are of the dialect they named, and the table's holds documents of its own.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.config.dialect = Some(dialect);
        self
    }

    /// The layout of a table connecting creates, without requiring it of a table that exists
    /// (which is served in whichever layout it has): for a tool that knows what it is about
    /// to write (`grafi-store import` names its file's dialect) but must not refuse a table
    /// that a service already uses. [`dialect`](Self::dialect), when named, wins.
    pub fn new_table_dialect(mut self, dialect: Dialect) -> Self {
        self.config.new_table_dialect = Some(dialect);
        self
    }

    /// The configuration built so far.
    pub fn config(&self) -> &DieselStoreConfig {
        &self.config
    }

    pub(crate) fn into_config(self) -> DieselStoreConfig {
        self.config
    }
}
