//! [`DieselEventStore`]: the `EventStore` over PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use futures::FutureExt;
use grafi_events::{Event, EventRegistry};
use grafi_store_core::{EventPage, EventStore, RecordOutcome, StoreError};
use tracing::Instrument;

use crate::batch::{insert_pipelined, ChunkEncoder, Encoded};
use crate::config::{DieselStoreBuilder, DieselStoreConfig};
use crate::copy::{CopyAttempt, CopyStats, CopyWriter, COPY_CHUNK_ROWS, COPY_COLUMN_TYPES};
use crate::error::{from_connection, from_diesel, from_pool, redact_url, Access};
use crate::query::{EventByIdQuery, TopicQuery};
use crate::row::RowTuple;
use crate::schema::events;

/// Logs the pools' background failures (connects, health checks), which bb8 otherwise drops.
/// Messages name the host, never the password.
#[derive(Debug, Clone)]
pub(crate) struct LogErrorSink {
    url: Arc<str>,
}

impl<E: std::fmt::Display + 'static> bb8::ErrorSink<E> for LogErrorSink {
    fn sink(&self, error: E) {
        tracing::warn!(database = %self.url, error = %error, "database connection error");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<E>> {
        Box::new(self.clone())
    }
}

/// The PostgreSQL event store: grafi 0.0.24's `events` table (plus what `migrations/` adds),
/// diesel-async connections pooled by bb8.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct DieselEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<AsyncPgConnection>,
    /// `None` when `COPY` is turned off or the table's column types do not allow it.
    copy: Option<CopyWriter>,
    config: DieselStoreConfig,
}

impl std::fmt::Debug for DieselEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselEventStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.state())
            .finish()
    }
}

/// A checked-out connection that is thrown away, not returned to the pool, unless the call
/// that used it finished cleanly: a call cancelled by its deadline (e.g. during a network
/// partition) or a connection that reported itself lost leaves it in an unknown state.
///
/// This replaces a health-check round trip on every checkout (`test_on_check_out`), which
/// cost ~70 µs per call on loopback and more over a network.
struct Checkout<'a> {
    pooled: bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>,
    clean: bool,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if !self.clean {
            // `has_broken` (checked when bb8 takes the connection back) then reports it broken.
            let conn: &mut AsyncPgConnection = &mut self.pooled;
            <AsyncPgConnection as AsyncConnection>::TransactionManager::transaction_manager_status_mut(conn)
            .set_in_error();
        }
    }
}

/// Runs `$body` (an expression of type `impl Future<Output = QueryResult<T>>` using the
/// connection `$conn`) under the call's deadline, retrying transient failures with backoff.
///
/// A connection found dead (killed by `pg_terminate_backend`, a server restart) is discarded
/// and the call retried at once on another one, up to `pool_size` times beyond `max_retries`:
/// every idle connection may have died together, and finding that out costs no round trip.
macro_rules! with_retries {
    ($store:expr, $op:literal, $access:expr, |$conn:ident| $body:expr) => {{
        let deadline = tokio::time::Instant::now() + $store.inner.config.call_timeout;
        with_retries!($store, $op, $access, deadline, false, |$conn| $body)
    }};
    // `$deadline`: the call's; `$unknown`: whether an earlier attempt (a `COPY`) may have
    // committed.
    ($store:expr, $op:literal, $access:expr, $deadline:expr, $unknown:expr, |$conn:ident| $body:expr) => {{
        let inner: &Inner = &$store.inner;
        let deadline: tokio::time::Instant = $deadline;
        let mut attempt: u32 = 0;
        let mut dead_connections: u32 = 0;
        // Once an attempt of a write may have committed, every later failure of the call must
        // say so: "not written" would be a lie the caller acts on.
        let mut earlier_unknown: bool = $unknown;
        loop {
            let result = tokio::time::timeout_at(deadline, async {
                let pooled = inner
                    .pool
                    .get()
                    .await
                    .map_err(|e| (from_pool(e, inner.config.connection_timeout), false))?;
                let mut checkout = Checkout { pooled, clean: false };
                let outcome = {
                    let $conn: &mut AsyncPgConnection = &mut checkout.pooled;
                    $body.await.map_err(|e| from_diesel(e, $access))
                };
                let lost = matches!(outcome, Err(StoreError::Unavailable { .. }));
                checkout.clean = !lost;
                outcome.map_err(|e| (e, lost))
            })
            .await;
            let (error, lost) = match result {
                Ok(Ok(value)) => break Ok(value),
                Ok(Err(failure)) => failure,
                Err(_) => {
                    tracing::warn!(operation = $op, attempt, "deadline passed");
                    // A timeout already reports its outcome as unknown.
                    break Err(StoreError::Timeout {
                        operation: $op,
                        after: inner.config.call_timeout,
                    });
                }
            };
            earlier_unknown |= error.outcome_unknown();
            let error = with_earlier_outcome(error, earlier_unknown);
            if lost && dead_connections < inner.config.pool_size {
                dead_connections += 1;
                tracing::debug!(operation = $op, error = %error, "connection lost, retrying on another");
                continue;
            }
            if !error.is_retryable() || attempt >= inner.config.max_retries {
                tracing::debug!(operation = $op, attempt, error = %error, "failed");
                break Err(error);
            }
            let backoff = backoff(inner.config.retry_backoff, attempt);
            if tokio::time::Instant::now() + backoff >= deadline {
                break Err(error);
            }
            tracing::warn!(operation = $op, attempt, error = %error, ?backoff, "transient failure, retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }};
}

fn decode_all(
    rows: Vec<RowTuple>,
    registry: &EventRegistry,
) -> Result<Vec<Arc<Event>>, StoreError> {
    match crate::read::decode(rows, registry) {
        Ok(decoded) => Ok(decoded.into_iter().map(|(_, event)| event).collect()),
        Err(source) => Err(StoreError::Decode { source }),
    }
}

/// `error`, marked as of unknown outcome when an earlier attempt of the same call may have
/// committed.
fn with_earlier_outcome(error: StoreError, earlier_unknown: bool) -> StoreError {
    if !earlier_unknown || error.outcome_unknown() {
        return error;
    }
    match error {
        StoreError::Unavailable {
            message, source, ..
        } => StoreError::Unavailable {
            message: format!("{message} (an earlier attempt may have committed)"),
            outcome_unknown: true,
            source,
        },
        other => StoreError::Unavailable {
            message: format!("an earlier attempt may have committed; then: {other}"),
            outcome_unknown: true,
            source: Some(Box::new(other)),
        },
    }
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(2);
    base.saturating_mul(1u32 << attempt.min(16)).min(CAP)
}

/// The events whose indexed column `$column` equals the variable of the same name, in
/// recording order. A macro rather than a function so that each read keeps its own statically
/// typed (hence prepared and cached) diesel query.
macro_rules! events_where {
    ($store:expr, $op:literal, $column:ident) => {{
        let span = tracing::info_span!($op, $column = %shorten($column), rows = tracing::field::Empty);
        async {
            let registry = &$store.inner.config.registry;
            // No `ORDER BY id`: over the column's index it adds a sort that holds every row
            // back until the last is read (and detoasted, and its JSONB printed); without it
            // the server sends rows as it reads them, and they are decoded as they arrive.
            let arriving = with_retries!($store, $op, Access::Read, |conn| async move {
                let rows = events::table
                    .select(row_columns!())
                    .filter(events::$column.eq($column))
                    .load_stream::<RowTuple>(conn)
                    .await?;
                crate::read::receive(rows, registry).await
            })?;
            let events = arriving.finish(registry).await?;
            tracing::Span::current().record("rows", events.len());
            Ok(events)
        }
        .instrument(span)
        .await
    }};
}

/// The select list of every read, JSON columns as text.
macro_rules! row_columns {
    () => {
        (
            events::id,
            events::event_id,
            events::assistant_request_id,
            events::event_type,
            events::event_context.cast::<Text>(),
            events::data.cast::<Text>(),
            events::timestamp,
            events::extra.cast::<Nullable<Text>>(),
        )
    };
}

impl DieselEventStore {
    /// A builder with the defaults of [`DieselStoreConfig::new`].
    pub fn builder(database_url: impl Into<String>) -> DieselStoreBuilder {
        DieselStoreBuilder::new(database_url)
    }

    /// Opens the pool, applies pending migrations (unless `run_migrations` is off) and checks
    /// that the table has the columns this store needs.
    pub async fn connect(config: DieselStoreConfig) -> Result<Self, StoreError> {
        config.check()?;
        let url: Arc<str> = redact_url(&config.database_url).into();
        let span = tracing::info_span!("grafi_store_connect", database = %url);
        async move {
            let statement_timeout = config.statement_timeout;
            let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
            manager_config.custom_setup = Box::new(move |url: &str| {
                let url = url.to_owned();
                async move {
                    // Connect through tokio-postgres directly: `AsyncPgConnection::establish`
                    // keeps only "error connecting to server" and drops the cause ("Connection
                    // refused", "password authentication failed"), which operators need.
                    // tokio-postgres never puts the password in its messages.
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .map_err(|e| diesel::ConnectionError::BadConnection(error_chain(&e)))?;
                    let mut conn =
                        AsyncPgConnection::try_from_client_and_connection(client, connection)
                            .await?;
                    conn.batch_execute(&session_setup(statement_timeout))
                        .await
                        .map_err(|e| {
                            diesel::ConnectionError::BadConnection(format!(
                                "session setup failed: {e}"
                            ))
                        })?;
                    Ok(conn)
                }
                .boxed()
            });
            // Used by bb8's reaper and by `Pool::dedicated_connection`, not on every checkout:
            // connections whose call was abandoned are discarded by `Checkout` instead.
            let check_timeout = config.connection_timeout.min(Duration::from_secs(2));
            manager_config.recycling_method =
                RecyclingMethod::CustomFunction(Box::new(move |conn: &mut AsyncPgConnection| {
                    async move {
                        match tokio::time::timeout(check_timeout, conn.batch_execute("SELECT 1"))
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => Err(diesel::result::Error::BrokenTransactionManager),
                        }
                    }
                    .boxed()
                }));
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                config.database_url.clone(),
                manager_config,
            );
            let pool = Pool::builder()
                .max_size(config.pool_size)
                .min_idle(config.min_idle)
                .connection_timeout(config.connection_timeout)
                .test_on_check_out(false)
                .error_sink(Box::new(LogErrorSink { url: url.clone() }))
                .build_unchecked(manager);
            let copy_columns = prepare(&pool, &config).await?;
            let copy = match (config.copy_min_events, copy_columns) {
                (None, _) => None,
                (Some(_), _) if config.copy_pool_size == 0 => None,
                (Some(_), Err(why)) => {
                    tracing::info!(%why, "large batches will be written with INSERT, not COPY");
                    None
                }
                (Some(_), Ok(())) => Some(CopyWriter::new(
                    config.database_url.clone(),
                    session_setup(config.statement_timeout),
                    config.copy_pool_size,
                    config.connection_timeout,
                    LogErrorSink { url: url.clone() },
                )),
            };
            let store = Self {
                inner: Arc::new(Inner { pool, copy, config }),
            };
            tracing::info!(copy = store.inner.copy.is_some(), "event store ready");
            Ok(store)
        }
        .instrument(span)
        .await
    }

    /// The configuration in use.
    pub fn config(&self) -> &DieselStoreConfig {
        &self.inner.config
    }

    /// How many batches `COPY` wrote and how many fell back to `INSERT` (zeros when `COPY` is
    /// off; see [`DieselEventStore::uses_copy`]).
    ///
    /// ```no_run
    /// # fn check(store: &grafi_store_diesel::DieselEventStore) {
    /// let stats = store.copy_stats();
    /// if stats.fallbacks > stats.copied {
    ///     // Most batches hold ids already stored: COPY costs more than it saves here;
    ///     // connect with `.copy(None, 0)`.
    ///     eprintln!("COPY fell back {} times of {}", stats.fallbacks, stats.copied + stats.fallbacks);
    /// }
    /// # }
    /// ```
    pub fn copy_stats(&self) -> CopyStats {
        self.inner
            .copy
            .as_ref()
            .map_or_else(CopyStats::default, CopyWriter::stats)
    }

    /// Whether large batches are tried as `COPY`: configured so, and the table's column types
    /// allow it.
    pub fn uses_copy(&self) -> bool {
        self.inner.copy.is_some()
    }

    /// The pool (for health checks and metrics).
    pub fn pool(&self) -> &Pool<AsyncPgConnection> {
        &self.inner.pool
    }

    /// Rows → events. Decoding is CPU work (JSON parsing) done after the query finished, so
    /// large results are split: half is decoded on tokio's blocking pool while this task
    /// decodes the other half, using a second core instead of leaving it idle.
    async fn decode_rows(&self, mut rows: Vec<RowTuple>) -> Result<Vec<Arc<Event>>, StoreError> {
        const PARALLEL_FROM: usize = 32;
        let registry = Arc::clone(&self.inner.config.registry);
        if rows.len() < PARALLEL_FROM {
            return decode_all(rows, &registry);
        }
        let second = rows.split_off(rows.len() / 2);
        let other_registry = Arc::clone(&registry);
        let second = tokio::task::spawn_blocking(move || decode_all(second, &other_registry));
        let mut events = decode_all(rows, &registry)?;
        match second.await {
            Ok(rest) => events.extend(rest?),
            Err(join) => {
                return Err(StoreError::Backend {
                    message: format!("decoding task failed: {join}"),
                    retryable: false,
                    source: None,
                })
            }
        }
        Ok(events)
    }
}

/// Migrations (if enabled) on a dedicated connection, then a schema check. Returns whether the
/// column types allow binary `COPY` (and if not, why).
async fn prepare(
    pool: &Pool<AsyncPgConnection>,
    config: &DieselStoreConfig,
) -> Result<Result<(), String>, StoreError> {
    let mut conn = tokio::time::timeout(config.connection_timeout, pool.dedicated_connection())
        .await
        .map_err(|_| StoreError::Unavailable {
            message: format!("could not connect within {:?}", config.connection_timeout),
            outcome_unknown: false,
            source: None,
        })?
        .map_err(|e| match e {
            PoolError::ConnectionError(e) => from_connection(e),
            PoolError::QueryError(e) => from_diesel(e, Access::Read),
        })?;
    if config.run_migrations {
        let (back, applied) = crate::migrate::run_pending(conn).await?;
        conn = back;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    }
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
    }
    // One look at the table answers both questions: is it migrated, and can COPY write it.
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT column_name::text AS column_name, data_type::text AS data_type \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'events'",
    )
    .load(&mut conn)
    .await
    .map_err(|e| from_diesel(e, Access::Read))?;
    let type_of = |name: &str| {
        columns
            .iter()
            .find(|c| c.column_name == name)
            .map(|c| c.data_type.as_str())
    };
    const NEEDED: [&str; 9] = [
        "id",
        "event_id",
        "conversation_id",
        "assistant_request_id",
        "event_type",
        "event_context",
        "data",
        "timestamp",
        "extra",
    ];
    if NEEDED.iter().any(|name| type_of(name).is_none()) {
        return Err(StoreError::Config(
            "table `events` is missing or not migrated (run `cargo xtask migrate` or connect \
             with run_migrations enabled)"
                .into(),
        ));
    }
    // Whether the columns have the types [`COPY_COLUMN_TYPES`] allows.
    for (name, allowed) in COPY_COLUMN_TYPES {
        let found = type_of(name).unwrap_or_default();
        if !allowed.contains(&found) {
            return Ok(Err(format!(
                "column `{name}` is `{found}`, COPY is encoded for {allowed:?}"
            )));
        }
    }
    Ok(Ok(()))
}

/// The session settings of every connection, both pools.
fn session_setup(statement_timeout: Option<Duration>) -> String {
    let mut setup =
        String::from("SET application_name = 'grafi-store-diesel'; SET TIME ZONE 'UTC';");
    if let Some(t) = statement_timeout {
        setup.push_str(&format!(" SET statement_timeout = {};", t.as_millis()));
    }
    setup
}

/// A batch of `total` events of which `recorded` were new.
fn outcome(total: usize, recorded: usize) -> RecordOutcome {
    RecordOutcome {
        recorded,
        duplicates: total - recorded.min(total),
    }
}

fn record_span(
    span: &tracing::Span,
    started: Instant,
    outcome: &Result<RecordOutcome, StoreError>,
) {
    span.record("elapsed_ms", started.elapsed().as_millis() as u64);
    if let Ok(o) = outcome {
        span.record("recorded", o.recorded);
        span.record("duplicates", o.duplicates);
    }
}

#[async_trait]
impl EventStore for DieselEventStore {
    async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
        let span = tracing::info_span!(
            "record_events",
            count = events.len(),
            recorded = tracing::field::Empty,
            duplicates = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = async {
            if events.is_empty() {
                return Ok(RecordOutcome::default());
            }
            let total = events.len();
            let config = &self.inner.config;
            let deadline = tokio::time::Instant::now() + config.call_timeout;
            let copy = self
                .inner
                .copy
                .as_ref()
                .filter(|_| config.copy_min_events.is_some_and(|min| total >= min));
            // A `COPY` is sent in small messages; the INSERT fallback reuses them as statements.
            let chunk_rows = match copy {
                Some(_) => COPY_CHUNK_ROWS,
                None => config.chunk_rows,
            };
            // The encoder checks each event (`validate::check`) as it encodes it; the first
            // chunk is checked whole before anything is sent.
            let mut encoder =
                ChunkEncoder::new(events, config.limits, chunk_rows, config.chunk_bytes);
            let first = encoder.next();
            if let Some(invalid) = encoder.take_invalid() {
                return Err(invalid);
            }
            let mut single = encoder.is_done();
            let encoded = std::sync::Mutex::new(Encoded {
                chunks: first.into_iter().collect(),
                encoder,
            });
            let encoded = &encoded;
            let mut copy_outcome_unknown = false;
            if let Some(copy) = copy {
                match tokio::time::timeout_at(deadline, copy.write(encoded)).await {
                    Ok(CopyAttempt::Recorded(recorded)) => return Ok(outcome(total, recorded)),
                    Ok(CopyAttempt::Invalid(invalid)) => return Err(invalid),
                    Ok(CopyAttempt::Fallback {
                        reason,
                        outcome_unknown,
                    }) => {
                        tracing::debug!(%reason, outcome_unknown, "COPY fell back to INSERT");
                        copy_outcome_unknown = outcome_unknown;
                        let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                        guard.regroup(config.chunk_rows, config.chunk_bytes);
                        single = guard.encoder.is_done() && guard.chunks.len() == 1;
                    }
                    Err(_) => {
                        tracing::warn!(operation = "record_events", "deadline passed during COPY");
                        // As on the INSERT path: a batch holding an invalid event says so.
                        let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                        guard.encoder.check_rest();
                        if let Some(invalid) = guard.encoder.take_invalid() {
                            return Err(invalid);
                        }
                        return Err(StoreError::Timeout {
                            operation: "record_events",
                            after: config.call_timeout,
                        });
                    }
                }
            }
            let result = with_retries!(
                self,
                "record_events",
                Access::Write,
                deadline,
                copy_outcome_unknown,
                |conn| {
                    async {
                        if single {
                            // One statement is atomic on its own: skipping BEGIN/COMMIT saves two
                            // round trips, which is most of a single event's latency.
                            // One event: a plain `VALUES` row, cheaper for the server.
                            let statement = {
                                let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                                let chunk = &guard.chunks[0];
                                match chunk.single_row() {
                                    Some(row) => row.execute(&mut *conn),
                                    None => chunk.execute(&mut *conn),
                                }
                            };
                            statement.await
                        } else {
                            conn.transaction(async |conn| insert_pipelined(conn, encoded).await)
                                .await
                        }
                    }
                }
            );
            // An event that failed its checks rolled the transaction back: report the event.
            // If the call failed first for another reason, the events it never reached are
            // checked now, so an invalid batch is always reported as invalid.
            let invalid = {
                let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                if result.is_err() {
                    guard.encoder.check_rest();
                }
                guard.encoder.take_invalid()
            };
            match invalid {
                Some(invalid) => Err(invalid),
                None => result.map(|recorded| outcome(total, recorded)),
            }
        }
        .instrument(span.clone())
        .await;
        record_span(&span, started, &result);
        result
    }

    async fn clear_events(&self) -> Result<(), StoreError> {
        let span = tracing::info_span!("clear_events");
        async {
            with_retries!(self, "clear_events", Access::Write, |conn| {
                diesel::delete(events::table).execute(conn)
            })
            .map(|deleted| tracing::debug!(deleted, "cleared"))
        }
        .instrument(span)
        .await
    }

    async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
        let span = tracing::info_span!("get_events", rows = tracing::field::Empty);
        async {
            let registry = &self.inner.config.registry;
            // Rows stream when the plan walks the primary key (the usual plan for a table
            // written in id order); with any plan they are decoded as they arrive.
            let arriving = with_retries!(self, "get_events", Access::Read, |conn| async move {
                let rows = events::table
                    .select(row_columns!())
                    .order(events::id.asc())
                    .load_stream::<RowTuple>(conn)
                    .await?;
                crate::read::receive(rows, registry).await
            })?;
            let events = arriving.finish(registry).await?;
            tracing::Span::current().record("rows", events.len());
            Ok(events)
        }
        .instrument(span)
        .await
    }

    async fn get_events_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let span = tracing::info_span!(
            "get_events_page",
            ?after,
            limit,
            rows = tracing::field::Empty
        );
        async {
            // Cursors are ids; one beyond i64 can only be past the end.
            let after_id = match after {
                None => 0i64,
                Some(a) => match i64::try_from(a) {
                    Ok(a) => a,
                    Err(_) => return Ok(EventPage::default()),
                },
            };
            if limit == 0 {
                return Ok(EventPage {
                    events: Vec::new(),
                    next: after,
                });
            }
            // One extra row says whether there is a next page.
            let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
            let rows: Vec<RowTuple> =
                with_retries!(self, "get_events_page", Access::Read, |conn| {
                    events::table
                        .select(row_columns!())
                        .filter(events::id.gt(after_id))
                        .order(events::id.asc())
                        .limit(fetch)
                        .load::<RowTuple>(conn)
                })?;
            let more = rows.len() > limit;
            let mut rows = rows;
            rows.truncate(limit);
            let next = if more {
                rows.last().and_then(|r| u64::try_from(r.0).ok())
            } else {
                None
            };
            tracing::Span::current().record("rows", rows.len());
            Ok(EventPage {
                events: self.decode_rows(rows).await?,
                next,
            })
        }
        .instrument(span)
        .await
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        let span = tracing::info_span!("get_event", event_id = %shorten(event_id));
        async {
            let rows: Vec<RowTuple> = with_retries!(self, "get_event", Access::Read, |conn| {
                EventByIdQuery { event_id }.load::<RowTuple>(conn)
            })?;
            Ok(self.decode_rows(rows).await?.into_iter().next())
        }
        .instrument(span)
        .await
    }

    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        events_where!(self, "get_agent_events", assistant_request_id)
    }

    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        events_where!(self, "get_conversation_events", conversation_id)
    }

    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let span = tracing::info_span!("get_topic_events", topic_name = %shorten(topic_name), offsets = offsets.len(), rows = tracing::field::Empty);
        async {
            if offsets.is_empty() {
                return Ok(Vec::new());
            }
            let rows: Vec<RowTuple> =
                with_retries!(self, "get_topic_events", Access::Read, |conn| {
                    TopicQuery {
                        topic_name,
                        offsets,
                    }
                    .load::<RowTuple>(conn)
                })?;
            tracing::Span::current().record("rows", rows.len());
            self.decode_rows(rows).await
        }
        .instrument(span)
        .await
    }
}

/// An error and its causes, `outer: cause: root cause`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Ids and names in spans, cut so nobody logs a megabyte by accident.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((cut, _)) => &s[..cut],
        None => s,
    }
}
