//! [`Metered`]: any store, its calls counted and timed through the `metrics` facade.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use grafi_events::Event;
use grafi_store_core::{
    AuditRecord, Cursor, Erasure, ErasureReport, EventPage, EventStore, Filter, PoolStatus,
    PositionPage, PurgeReport, ReadStream, RecordOutcome, RunMode, StoreError, Wakeup,
};

/// Wraps a store so that every call is measured with the [`metrics`] facade crate; a service
/// exports the figures with whatever recorder it installed (none installed: they cost almost
/// nothing and go nowhere). Stores opened by this crate with the `metrics` feature are wrapped
/// already. Labels: `backend` (`memory`, `postgres`) and `operation` (the trait method).
///
/// | metric | kind | labels | what |
/// |---|---|---|---|
/// | `grafi_store_calls_total` | counter | backend, operation, outcome (`ok`/`error`) | calls |
/// | `grafi_store_call_errors_total` | counter | backend, operation, kind (`invalid_event`, `unavailable`, `timeout`, `backend`, `denied`, `closed`, …), retryable | failed calls |
/// | `grafi_store_call_duration_seconds` | histogram | backend, operation | call latency |
/// | `grafi_store_events_recorded_total` | counter | backend | events newly stored |
/// | `grafi_store_events_duplicate_total` | counter | backend | events already stored |
/// | `grafi_store_events_erased_total` | counter | backend | events refused as erased |
/// | `grafi_store_events_read_total` | counter | backend, operation | events returned by reads |
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), grafi_store::StoreError> {
/// use std::sync::Arc;
/// use grafi_store::{EventStore, Metered, MemoryEventStore};
/// let store = Metered::new(Arc::new(MemoryEventStore::new()), "memory");
/// assert!(store.get_events().await?.is_empty());
/// # Ok(()) }
/// ```
pub struct Metered {
    inner: Arc<dyn EventStore>,
    backend: &'static str,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Metered {
    /// `inner`, measured under the label `backend`.
    pub fn new(inner: Arc<dyn EventStore>, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    fn observe<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, StoreError>,
    ) {
        let backend = self.backend;
        metrics::histogram!("grafi_store_call_duration_seconds", "backend" => backend, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("grafi_store_calls_total", "backend" => backend, "operation" => operation, "outcome" => outcome)
            .increment(1);
        if let Err(error) = result {
            metrics::counter!(
                "grafi_store_call_errors_total",
                "backend" => backend,
                "operation" => operation,
                "kind" => error_kind(error),
                "retryable" => if error.is_retryable() { "true" } else { "false" }
            )
            .increment(1);
        }
    }

    fn read(&self, operation: &'static str, count: usize) {
        metrics::counter!("grafi_store_events_read_total", "backend" => self.backend, "operation" => operation)
            .increment(count as u64);
    }
}

/// A stable label for an error's kind.
fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::InvalidEvent { .. } => "invalid_event",
        StoreError::Decode { .. } => "decode",
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Closed { .. } => "closed",
        StoreError::Timeout { .. } => "timeout",
        StoreError::Backend { .. } => "backend",
        StoreError::Denied { .. } => "denied",
        StoreError::Config(_) => "config",
        StoreError::InvalidArgument { .. } => "invalid_argument",
        StoreError::Unsupported { .. } => "unsupported",
        _ => "other",
    }
}

#[async_trait]
impl EventStore for Metered {
    async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
        let started = Instant::now();
        let result = self.inner.record_events(events).await;
        self.observe("record_events", started, &result);
        if let Ok(outcome) = &result {
            metrics::counter!("grafi_store_events_recorded_total", "backend" => self.backend)
                .increment(outcome.recorded as u64);
            metrics::counter!("grafi_store_events_duplicate_total", "backend" => self.backend)
                .increment(outcome.duplicates as u64);
            metrics::counter!("grafi_store_events_erased_total", "backend" => self.backend)
                .increment(outcome.erased as u64);
        }
        result
    }

    async fn clear_events(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.clear_events().await;
        self.observe("clear_events", started, &result);
        result
    }

    async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_events().await;
        self.observe("get_events", started, &result);
        if let Ok(events) = &result {
            self.read("get_events", events.len());
        }
        result
    }

    async fn get_events_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_events_page(after, limit).await;
        self.observe("get_events_page", started, &result);
        if let Ok(page) = &result {
            self.read("get_events_page", page.events.len());
        }
        result
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_event(event_id).await;
        self.observe("get_event", started, &result);
        if let Ok(found) = &result {
            self.read("get_event", usize::from(found.is_some()));
        }
        result
    }

    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_agent_events(assistant_request_id).await;
        self.observe("get_agent_events", started, &result);
        if let Ok(events) = &result {
            self.read("get_agent_events", events.len());
        }
        result
    }

    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_conversation_events(conversation_id).await;
        self.observe("get_conversation_events", started, &result);
        if let Ok(events) = &result {
            self.read("get_conversation_events", events.len());
        }
        result
    }

    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_topic_events(topic_name, offsets).await;
        self.observe("get_topic_events", started, &result);
        if let Ok(events) = &result {
            self.read("get_topic_events", events.len());
        }
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.ping().await;
        self.observe("ping", started, &result);
        result
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }

    fn table_dialect(&self) -> Option<grafi_events::Dialect> {
        self.inner.table_dialect()
    }

    /// Measured per page: `stream_events` and `subscribe` (the trait's, built on this) are
    /// measured page by page.
    async fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        let started = Instant::now();
        let result = self.inner.read_positions(after, filter, limit).await;
        self.observe("read_positions", started, &result);
        if let Ok(page) = &result {
            self.read("read_positions", page.events.len());
        }
        result
    }

    async fn erase(&self, erasure: &Erasure, mode: RunMode) -> Result<ErasureReport, StoreError> {
        let started = Instant::now();
        let result = self.inner.erase(erasure, mode).await;
        self.observe(erasure.action().as_str(), started, &result);
        result
    }

    async fn subject_events(&self, erasure: &Erasure) -> Result<Vec<Arc<Event>>, StoreError> {
        let started = Instant::now();
        let result = self.inner.subject_events(erasure).await;
        self.observe("subject_events", started, &result);
        if let Ok(events) = &result {
            self.read("subject_events", events.len());
        }
        result
    }

    async fn purge(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        mode: RunMode,
    ) -> Result<PurgeReport, StoreError> {
        let started = Instant::now();
        let result = self.inner.purge(before, mode).await;
        self.observe("purge", started, &result);
        result
    }

    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let started = Instant::now();
        let result = self.inner.audit_trail().await;
        self.observe("audit_trail", started, &result);
        result
    }

    async fn end_cursor(&self) -> Result<Cursor, StoreError> {
        let started = Instant::now();
        let result = self.inner.end_cursor().await;
        self.observe("end_cursor", started, &result);
        result
    }

    async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        self.inner.listen().await
    }

    /// The inner store's stream (bounded where the backend's is), not measured.
    fn stream_conversation_events<'a>(&'a self, conversation_id: &'a str) -> ReadStream<'a> {
        self.inner.stream_conversation_events(conversation_id)
    }

    /// The inner store's stream (bounded where the backend's is), not measured.
    fn stream_agent_events<'a>(&'a self, assistant_request_id: &'a str) -> ReadStream<'a> {
        self.inner.stream_agent_events(assistant_request_id)
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}
