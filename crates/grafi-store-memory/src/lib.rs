//! # grafi-store-memory
//!
//! The in-memory [`EventStore`]: zero setup, for development, tests and the CLI demo.
//!
//! Unlike grafi's `EventStoreInMemory` (a list scanned on every read), events are indexed by
//! id, conversation, assistant request and topic offset: `get_event` is a hash lookup and
//! the per-conversation, per-request and per-topic reads cost O(events returned), whatever
//! the store's size. Reads share the stored events (`Arc<Event>`) instead of copying them.
//! The store is a cheap handle: clones share the same events.
//!
//! Architecture invariant: this crate depends on no database crate.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
//! use grafi_store_core::EventStore;
//! use grafi_store_memory::MemoryEventStore;
//!
//! let store = MemoryEventStore::new();
//! let ctx = InvokeContext::new("conv-1", "req-1");
//! let event = Event::assistant_invoke(ctx, ComponentInfo::new("Concierge", "ReActAssistant"), &[Message::user("Hi")]);
//! store.record_event(event).await.unwrap();
//! assert_eq!(store.get_conversation_events("conv-1").await.unwrap().len(), 1);
//! # }) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod id_index;
mod index;
mod lifecycle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use grafi_events::Event;
use grafi_store_core::lifecycle::select_erased;
use grafi_store_core::{
    validate, AuditRecord, Cursor, Erasure, ErasureReport, EventPage, EventStore, Filter, Limits,
    PositionPage, PurgeReport, RecordOutcome, RunMode, StoreError, Wakeup,
};
use parking_lot::RwLock;
use tokio::sync::watch;

use index::Index;

/// The in-memory event store. Clones share the same events.
#[derive(Clone)]
pub struct MemoryEventStore {
    index: Arc<RwLock<Index>>,
    limits: Limits,
    /// Set by [`EventStore::close`], for every clone.
    closed: Arc<AtomicBool>,
    /// Bumped after every write (and on close): what subscriptions wait on. A `watch`
    /// remembers what each receiver has seen, so a write between a subscriber's read and its
    /// wait still wakes it.
    changes: Arc<watch::Sender<u64>>,
    /// The secret of this store's keyed hashes (random per store), and its audit trail.
    lifecycle: Arc<lifecycle::Lifecycle>,
}

/// A subscription's wake-up: the store's change counter.
struct Changes(watch::Receiver<u64>);

#[async_trait]
impl Wakeup for Changes {
    async fn wait(&mut self) -> Result<(), StoreError> {
        // The sender lives as long as any clone of the store; if it is gone, nothing can change.
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

impl std::fmt::Debug for MemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEventStore")
            .field("events", &self.len())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::with_limits(Limits::default())
    }
}

impl MemoryEventStore {
    /// An empty store with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with custom limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            index: Arc::default(),
            limits,
            closed: Arc::default(),
            changes: Arc::new(watch::channel(0).0),
            lifecycle: Arc::default(),
        }
    }

    fn changed(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Number of stored events.
    pub fn len(&self) -> usize {
        self.index.read().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses `operation` once the store is closed.
    fn ensure_open(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed { operation });
        }
        Ok(())
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
        self.ensure_open("record_events")?;
        // Validate everything before taking the lock: an invalid event leaves the store as it was.
        validate::check_all(&events, &self.limits)?;
        if events.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let outcome = self.index.write().insert_all(events, self.lifecycle.key());
        if outcome.recorded > 0 {
            self.changed();
        }
        Ok(outcome)
    }

    async fn clear_events(&self) -> Result<(), StoreError> {
        self.ensure_open("clear_events")?;
        self.index.write().clear();
        Ok(())
    }

    async fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        self.ensure_open("read_positions")?;
        Ok(self.index.read().read_positions(after, filter, limit))
    }

    async fn end_cursor(&self) -> Result<Cursor, StoreError> {
        self.ensure_open("end_cursor")?;
        Ok(self.index.read().end_cursor())
    }

    async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        self.ensure_open("subscribe")?;
        Ok(Box::new(Changes(self.changes.subscribe())))
    }

    async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open("get_events")?;
        Ok(self.index.read().all())
    }

    async fn get_events_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        self.ensure_open("get_events_page")?;
        Ok(self.index.read().page(after, limit))
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        self.ensure_open("get_event")?;
        Ok(self.index.read().by_id(event_id))
    }

    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open("get_agent_events")?;
        Ok(self.index.read().by_request(assistant_request_id))
    }

    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open("get_conversation_events")?;
        Ok(self.index.read().by_conversation(conversation_id))
    }

    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open("get_topic_events")?;
        Ok(self.index.read().by_topic(topic_name, offsets))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ensure_open("ping")
    }

    async fn erase(&self, erasure: &Erasure, mode: RunMode) -> Result<ErasureReport, StoreError> {
        self.ensure_open(erasure.action().as_str())?;
        erasure.check()?;
        Ok(self.lifecycle.erase(&self.index, erasure, mode))
    }

    async fn subject_events(&self, erasure: &Erasure) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open(erasure.action().as_str())?;
        erasure.check()?;
        let index = self.index.read();
        let events = index.events();
        let selected = select_erased(erasure, events.iter().map(|e| &**e));
        Ok(selected
            .into_iter()
            .map(|i| Arc::clone(&events[i]))
            .collect())
    }

    async fn purge(&self, before: DateTime<Utc>, mode: RunMode) -> Result<PurgeReport, StoreError> {
        self.ensure_open("purge")?;
        Ok(self.lifecycle.purge(&self.index, before, mode))
    }

    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.ensure_open("audit_trail")?;
        Ok(self.lifecycle.trail())
    }

    /// Refuses every later call, on every clone; the events are dropped with the last clone.
    async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        // Wake subscriptions, so that they end with `Closed` instead of waiting forever.
        self.changed();
        Ok(())
    }
}

/// The README's usage snippet, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn close_refuses_every_later_call_on_every_clone() {
        let store = MemoryEventStore::new();
        let clone = store.clone();
        store.ping().await.unwrap();
        assert_eq!(store.pool_status(), None);
        store.close().await.unwrap();
        assert!(matches!(
            clone.get_events().await,
            Err(StoreError::Closed {
                operation: "get_events"
            })
        ));
        assert!(matches!(clone.ping().await, Err(StoreError::Closed { .. })));
        store.close().await.unwrap();
    }
}
