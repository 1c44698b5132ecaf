//! [`DieselEventStore`]: the `EventStore` over PostgreSQL.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::PoolError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use grafi_events::{Dialect, Event, EventRegistry};
use grafi_store_core::{
    AuditRecord, Cursor, Erasure, ErasureReport, EventPage, EventStore, Filter, PoolStatus,
    PositionPage, PurgeReport, ReadStream, RecordOutcome, RunMode, StoreError, Wakeup,
};
use tracing::Instrument;

use crate::batch::{insert_pipelined, ChunkEncoder, Encoded};
use crate::config::{DieselStoreBuilder, DieselStoreConfig};
use crate::connect::Connect;
use crate::conninfo::ConnectionSettings;
use crate::copy::{CopyAttempt, CopyStats, CopyWriter, COPY_CHUNK_ROWS};
use crate::cursor;
use crate::error::{from_pool, Access};
use crate::layout::{Layout, Shape};
use crate::lifecycle::Written;
use crate::query::{
    AssistantRequestId, ByColumnQuery, ConversationId, EventByIdQuery, IdRangeQuery, TopicQuery,
};
use crate::row::RowTuple;

/// The PostgreSQL event store: grafi's `events` table in grafi 0.0.24's or grafi 0.0.36's
/// layout (plus what `migrations/` adds), diesel-async connections pooled by bb8.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct DieselEventStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool<AsyncPgConnection>,
    /// `None` when `COPY` is turned off or the table's column types do not allow it.
    pub(crate) copy: Option<CopyWriter>,
    pub(crate) config: DieselStoreConfig,
    pub(crate) connect: Connect,
    pub(crate) layout: Layout,
    /// The hash key of the erased-id ledger, on a table that has one (`layout.lifecycle`).
    pub(crate) ledger_key: Option<Arc<[u8; 32]>>,
    /// Set by `close`: every later call is refused.
    pub(crate) closed: std::sync::atomic::AtomicBool,
    /// Sends the `NOTIFY` after writes (started by the first write that records something).
    pub(crate) notifier: std::sync::OnceLock<crate::listen::Notifier>,
}

impl Inner {
    /// A pool checkout failure, with the classified cause of the last failed connect.
    pub(crate) fn pool_error(&self, error: bb8::RunError<PoolError>) -> StoreError {
        let timeout = self.config.connection_timeout;
        // bb8 retries a failing connect until the checkout's timeout: a failure within twice
        // that long belongs to this checkout.
        from_pool(
            error,
            timeout,
            self.connect.take_last_failure(timeout.saturating_mul(2)),
        )
    }
}

impl std::fmt::Debug for DieselEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselEventStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.state())
            .finish()
    }
}

fn decode_all(rows: Vec<RowTuple>, shape: Shape, registry: &EventRegistry) -> Vec<Arc<Event>> {
    crate::read::decode(rows, shape, registry)
        .into_iter()
        .map(|(_, event)| event)
        .collect()
}

/// The events whose indexed column `$column` (a [`crate::query::ByColumn`]) equals `$value`,
/// in recording order: rows are decoded as they arrive and sorted by id at the end.
macro_rules! events_where {
    ($store:expr, $op:literal, $column:ty, $value:expr) => {{
        let value: &str = $value;
        let span = tracing::info_span!($op, value = %shorten(value), rows = tracing::field::Empty);
        async {
            let registry = &$store.inner.config.registry;
            let layout = $store.inner.layout;
            let arriving = with_retries!($store, $op, Access::Read, |conn| async move {
                let rows = ByColumnQuery::<$column> {
                    layout,
                    value,
                    column: PhantomData,
                }
                .load_stream::<RowTuple>(conn)
                .await?;
                crate::read::receive(rows, layout.shape, registry).await
            });
            let arriving = $store.explain_denied(arriving, "SELECT").await?;
            let events = arriving.finish(layout.shape, registry).await?;
            tracing::Span::current().record("rows", events.len());
            Ok(events)
        }
        .instrument(span)
        .await
    }};
}

impl DieselEventStore {
    /// A builder with the defaults (see [`DieselStoreConfig`]).
    pub fn builder(database_url: impl Into<String>) -> DieselStoreBuilder {
        DieselStoreBuilder::new(database_url)
    }

    /// The connection settings in use (shown without the password).
    pub fn connection(&self) -> &ConnectionSettings {
        self.inner.connect.settings()
    }

    /// Whether the table has everything the migrations add (otherwise it is grafi's own
    /// layout, served as it is, and `grafi-store migrate run` completes it).
    pub fn table_is_migrated(&self) -> bool {
        self.inner.layout.is_complete()
    }

    /// The grafi dialect of the table's documents, found from its columns when connecting:
    /// grafi 0.0.24's layout (`event_context`, `data`) or grafi 0.0.36's (`event_data`). An
    /// event of the other dialect is refused ([`InvalidReason::WrongDialect`]).
    ///
    /// [`InvalidReason::WrongDialect`]: grafi_store_core::InvalidReason::WrongDialect
    pub fn dialect(&self) -> Dialect {
        self.inner.layout.shape.dialect()
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

    /// Rows → events. Decoding is CPU work (JSON parsing) done after the query finished, so
    /// large results are split: half is decoded on tokio's blocking pool while this task
    /// decodes the other half, using a second core instead of leaving it idle.
    pub(crate) async fn decode_rows(
        &self,
        mut rows: Vec<RowTuple>,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        const PARALLEL_FROM: usize = 32;
        let registry = Arc::clone(&self.inner.config.registry);
        let shape = self.inner.layout.shape;
        if rows.len() < PARALLEL_FROM {
            return Ok(decode_all(rows, shape, &registry));
        }
        let second = rows.split_off(rows.len() / 2);
        let other_registry = Arc::clone(&registry);
        let second =
            tokio::task::spawn_blocking(move || decode_all(second, shape, &other_registry));
        let mut events = decode_all(rows, shape, &registry);
        match second.await {
            Ok(rest) => events.extend(rest),
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

/// A batch of `total` events of which `recorded` were new.
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

impl DieselEventStore {
    /// A batch that failed on an error blaming one row's values becomes `InvalidEvent` for
    /// that row (see [`crate::refused`]); any other error is returned as it is.
    async fn pin_refused_row(
        &self,
        error: StoreError,
        encoded: &std::sync::Mutex<Encoded>,
        deadline: tokio::time::Instant,
    ) -> StoreError {
        if !crate::refused::sqlstate(&error).is_some_and(|s| crate::refused::blames_a_row(&s)) {
            return error;
        }
        let chunks = {
            let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut guard.chunks)
        };
        // Within the call's own deadline: finding the row is part of the call.
        let probe = async {
            let pooled = self.inner.pool.get().await.ok()?;
            let mut checkout = crate::retry::Checkout {
                pooled,
                clean: false,
            };
            let found = crate::refused::find(&mut checkout.pooled, &chunks).await;
            checkout.clean = true;
            found
        };
        match tokio::time::timeout_at(deadline, probe).await {
            Ok(Some(invalid)) => invalid,
            _ => error,
        }
    }

    /// Wakes subscriptions (of every process on this database) after a write committed.
    pub(crate) fn announce_write(&self) {
        if !self.inner.config.notify {
            return;
        }
        self.inner
            .notifier
            .get_or_init(|| crate::listen::Notifier::spawn(Arc::downgrade(&self.inner)))
            .wake();
    }

    /// Refuses `operation` once the store is closed.
    pub(crate) fn ensure_open(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed { operation });
        }
        Ok(())
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
            erased = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = async {
            self.ensure_open("record_events")?;
            self.check_ledger_readable().await?;
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
                ChunkEncoder::new(events, config.limits, chunk_rows, config.chunk_bytes).for_table(
                    self.inner.layout,
                    Arc::clone(&config.registry),
                    self.inner.ledger_key.clone(),
                );
            let first = encoder.next();
            if let Some(invalid) = encoder.take_invalid() {
                return Err(invalid);
            }
            // Several rows in one statement would need the ledger check after the insert, in a
            // transaction: with a ledger, only a single row is written without one.
            let ledger = self.inner.ledger_key.is_some();
            let mut single = encoder.is_done() && (!ledger || total == 1);
            let encoded = std::sync::Mutex::new(Encoded {
                chunks: first.into_iter().collect(),
                encoder,
            });
            let encoded = &encoded;
            let mut copy_outcome_unknown = false;
            if let Some(copy) = copy {
                match tokio::time::timeout_at(deadline, copy.write(encoded)).await {
                    Ok(CopyAttempt::Recorded(written)) => return Ok(written.outcome(total)),
                    Ok(CopyAttempt::Invalid(invalid)) => return Err(invalid),
                    Ok(CopyAttempt::Fallback {
                        reason,
                        outcome_unknown,
                    }) => {
                        tracing::debug!(%reason, outcome_unknown, "COPY fell back to INSERT");
                        copy_outcome_unknown = outcome_unknown;
                        let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                        guard.regroup(config.chunk_rows, config.chunk_bytes);
                        single = guard.encoder.is_done()
                            && guard.chunks.len() == 1
                            && (!ledger || total == 1);
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
                            let (statement, hash) = {
                                let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                                let chunk = &guard.chunks[0];
                                let hash = chunk.id_hash.first().cloned();
                                let statement = match chunk.single_row() {
                                    Some(row) => row.execute(&mut *conn),
                                    None => chunk.execute(&mut *conn),
                                };
                                (statement, hash)
                            };
                            let inserted = statement.await?;
                            match hash {
                                // Nothing written: a duplicate, or an erased id.
                                Some(hash) if inserted == 0 => {
                                    let erased =
                                        crate::lifecycle::is_erased(&mut *conn, &hash).await?;
                                    Ok(Written {
                                        inserted,
                                        retracted: 0,
                                        erased: usize::from(erased),
                                    })
                                }
                                _ => Ok(Written::inserted(inserted)),
                            }
                        } else {
                            conn.transaction(async |conn| {
                                insert_pipelined(conn, encoded, ledger).await
                            })
                            .await
                        }
                    }
                }
            );
            let result = self.explain_denied(result, "INSERT").await;
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
            match (invalid, result) {
                (Some(invalid), _) => Err(invalid),
                (None, Ok(written)) => Ok(written.outcome(total)),
                (None, Err(error)) => Err(self.pin_refused_row(error, encoded, deadline).await),
            }
        }
        .instrument(span.clone())
        .await;
        record_span(&span, started, &result);
        if result.as_ref().is_ok_and(|o| o.recorded > 0) {
            self.announce_write();
        }
        result
    }

    async fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        self.read_positions_page(after, filter, limit).await
    }

    async fn erase(&self, erasure: &Erasure, mode: RunMode) -> Result<ErasureReport, StoreError> {
        self.erase_impl(erasure, mode).await
    }

    async fn subject_events(&self, erasure: &Erasure) -> Result<Vec<Arc<Event>>, StoreError> {
        self.subject_events_impl(erasure).await
    }

    async fn purge(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        mode: RunMode,
    ) -> Result<PurgeReport, StoreError> {
        self.purge_impl(before, mode).await
    }

    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit_trail_impl().await
    }

    async fn end_cursor(&self) -> Result<Cursor, StoreError> {
        self.horizon_end_cursor().await
    }

    async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        self.start_listening()
    }

    fn stream_conversation_events<'a>(&'a self, conversation_id: &'a str) -> ReadStream<'a> {
        self.stream_where::<ConversationId>("stream_conversation_events", conversation_id)
    }

    fn stream_agent_events<'a>(&'a self, assistant_request_id: &'a str) -> ReadStream<'a> {
        self.stream_where::<AssistantRequestId>("stream_agent_events", assistant_request_id)
    }

    async fn clear_events(&self) -> Result<(), StoreError> {
        let span = tracing::info_span!("clear_events");
        async {
            let deleted = with_retries!(self, "clear_events", Access::Write, |conn| {
                diesel::sql_query("DELETE FROM events").execute(conn)
            });
            self.explain_denied(deleted, "DELETE")
                .await
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
            let layout = self.inner.layout;
            let arriving = with_retries!(self, "get_events", Access::Read, |conn| async move {
                let rows = IdRangeQuery {
                    layout,
                    after: None,
                    limit: None,
                }
                .load_stream::<RowTuple>(conn)
                .await?;
                crate::read::receive(rows, layout.shape, registry).await
            });
            let arriving = self.explain_denied(arriving, "SELECT").await?;
            let events = arriving.finish(layout.shape, registry).await?;
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
            self.ensure_open("get_events_page")?;
            let after_id = after.map(cursor::id_after);
            if limit == 0 {
                return Ok(EventPage::new(Vec::new(), after));
            }
            // One extra row says whether there is a next page.
            let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
            let layout = self.inner.layout;
            let rows = with_retries!(self, "get_events_page", Access::Read, |conn| {
                IdRangeQuery {
                    layout,
                    after: after_id,
                    limit: Some(fetch),
                }
                .load::<RowTuple>(conn)
            });
            let rows: Vec<RowTuple> = self.explain_denied(rows, "SELECT").await?;
            let more = rows.len() > limit;
            let mut rows = rows;
            rows.truncate(limit);
            let next = if more {
                rows.last().map(|r| cursor::of_id(r.0))
            } else {
                None
            };
            tracing::Span::current().record("rows", rows.len());
            Ok(EventPage::new(self.decode_rows(rows).await?, next))
        }
        .instrument(span)
        .await
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        let span = tracing::info_span!("get_event", event_id = %shorten(event_id));
        async {
            let layout = self.inner.layout;
            let rows = with_retries!(self, "get_event", Access::Read, |conn| {
                EventByIdQuery { layout, event_id }.load::<RowTuple>(conn)
            });
            let rows: Vec<RowTuple> = self.explain_denied(rows, "SELECT").await?;
            Ok(self.decode_rows(rows).await?.into_iter().next())
        }
        .instrument(span)
        .await
    }

    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        events_where!(
            self,
            "get_agent_events",
            AssistantRequestId,
            assistant_request_id
        )
    }

    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        events_where!(
            self,
            "get_conversation_events",
            ConversationId,
            conversation_id
        )
    }

    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let span = tracing::info_span!("get_topic_events", topic_name = %shorten(topic_name), offsets = offsets.len(), rows = tracing::field::Empty);
        async {
            self.ensure_open("get_topic_events")?;
            if offsets.is_empty() {
                return Ok(Vec::new());
            }
            let layout = self.inner.layout;
            let rows = with_retries!(self, "get_topic_events", Access::Read, |conn| {
                TopicQuery {
                    layout,
                    topic_name,
                    offsets,
                }
                .load::<RowTuple>(conn)
            });
            let rows: Vec<RowTuple> = self.explain_denied(rows, "SELECT").await?;
            tracing::Span::current().record("rows", rows.len());
            self.decode_rows(rows).await
        }
        .instrument(span)
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ensure_open("ping")?;
        let inner = &self.inner;
        let attempt = async {
            let pooled = inner.pool.get().await.map_err(|e| inner.pool_error(e))?;
            let mut checkout = crate::retry::Checkout {
                pooled,
                clean: false,
            };
            let conn: &mut AsyncPgConnection = &mut checkout.pooled;
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .await
                .map_err(|e| crate::error::from_diesel(e, Access::Read))?;
            checkout.clean = true;
            Ok(())
        };
        tokio::time::timeout(inner.config.call_timeout, attempt)
            .await
            .unwrap_or(Err(StoreError::Timeout {
                operation: "ping",
                after: inner.config.call_timeout,
            }))
    }

    fn table_dialect(&self) -> Option<grafi_events::Dialect> {
        Some(self.dialect())
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        let state = self.inner.pool.state();
        Some(PoolStatus::new(
            state.connections,
            state.idle_connections,
            self.inner.config.pool_size,
        ))
    }

    /// Refuses every later call (on every clone), waits up to the call deadline for calls in
    /// flight to give their connections back, then closes the idle connections. With
    /// `min_idle` set, the pool opens that many again, idle, until the store is dropped.
    async fn close(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        let deadline = tokio::time::Instant::now() + inner.config.call_timeout;
        loop {
            let state = inner.pool.state();
            if state.connections == state.idle_connections
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Each idle connection, taken and marked broken, is dropped by the pool.
        for _ in 0..inner.pool.state().idle_connections {
            let taken =
                tokio::time::timeout(std::time::Duration::from_millis(50), inner.pool.get()).await;
            match taken {
                Ok(Ok(pooled)) => drop(crate::retry::Checkout {
                    pooled,
                    clean: false,
                }),
                _ => break,
            }
        }
        if let Some(copy) = &inner.copy {
            copy.close_idle().await;
        }
        Ok(())
    }
}

/// Ids and names in spans, cut so nobody logs a megabyte by accident.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((cut, _)) => &s[..cut],
        None => s,
    }
}
