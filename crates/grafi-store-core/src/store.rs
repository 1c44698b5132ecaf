//! The `EventStore` trait: grafi's event-store interface, with its contract written down.

use std::sync::Arc;

use async_trait::async_trait;
use grafi_events::{Dialect, Event};

use crate::error::StoreError;
use crate::lifecycle::{AuditRecord, Erasure, ErasureReport, PurgeReport, RunMode};
use crate::position::{Cursor, Filter, PositionPage};
use crate::stream::{self, EventStream, ReadStream, Wakeup};

/// What a call to [`EventStore::record_events`] did.
///
/// `#[non_exhaustive]`: later versions may count more (e.g. events refused because they were
/// erased); build one with [`RecordOutcome::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordOutcome {
    /// Events newly stored.
    pub recorded: usize,
    /// Events whose `event_id` was already stored (or appeared earlier in the same batch);
    /// nothing was written for them.
    pub duplicates: usize,
    /// Events whose `event_id` was erased ([`EventStore::erase`]): nothing was written for
    /// them, so replaying an old batch cannot bring back what was erased.
    pub erased: usize,
}

impl RecordOutcome {
    /// An outcome of `recorded` new events and `duplicates` already stored.
    ///
    /// ```
    /// let o = grafi_store_core::RecordOutcome::new(2, 1);
    /// assert_eq!((o.recorded, o.duplicates), (2, 1));
    /// ```
    pub fn new(recorded: usize, duplicates: usize) -> Self {
        Self {
            recorded,
            duplicates,
            erased: 0,
        }
    }

    /// The same outcome with `erased` events refused as erased.
    ///
    /// ```
    /// let o = grafi_store_core::RecordOutcome::new(2, 0).with_erased(3);
    /// assert_eq!(o.erased, 3);
    /// ```
    pub fn with_erased(mut self, erased: usize) -> Self {
        self.erased = erased;
        self
    }
}

impl std::ops::AddAssign for RecordOutcome {
    fn add_assign(&mut self, other: Self) {
        self.recorded += other.recorded;
        self.duplicates += other.duplicates;
        self.erased += other.erased;
    }
}

/// One page of [`EventStore::get_events_page`]; build one with [`EventPage::new`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EventPage {
    /// Events in recording order.
    pub events: Vec<Arc<Event>>,
    /// Cursor for the next page; `None` when this page reached the end. Opaque: pass it back
    /// to the same store, don't compute with it.
    pub next: Option<u64>,
}

impl EventPage {
    /// A page of `events`, continued after the cursor `next` (`None`: the last page).
    pub fn new(events: Vec<Arc<Event>>, next: Option<u64>) -> Self {
        Self { events, next }
    }
}

/// A snapshot of a backend's connection pool ([`EventStore::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Connections open, in use or idle.
    pub connections: u32,
    /// Open connections not in use.
    pub idle_connections: u32,
    /// The most connections the pool opens.
    pub max_connections: u32,
}

impl PoolStatus {
    /// A snapshot of `connections` open, `idle_connections` of them idle, of at most
    /// `max_connections`.
    pub fn new(connections: u32, idle_connections: u32, max_connections: u32) -> Self {
        Self {
            connections,
            idle_connections,
            max_connections,
        }
    }
}

/// An event store: grafi's `EventStore` interface.
///
/// # Contract
///
/// Every backend keeps it, and `grafi_store_core::conformance` checks it:
///
/// * **Recording order.** Every read returns events in the order they were recorded
///   (not by timestamp), except [`get_topic_events`](Self::get_topic_events), which orders
///   by offset, then recording order, as grafi does.
/// * **Idempotent on `event_id`.** Recording an id that is already stored writes nothing and
///   is counted in [`RecordOutcome::duplicates`]; the same holds for an id repeated inside
///   one batch (the first occurrence wins). *First write wins*: a later event with the same
///   id and a different payload is also a duplicate and never overwrites the stored one;
///   events are immutable facts. Retrying a failed or timed-out call is therefore always safe.
/// * **Atomic batches.** `record_events` stores all of its events or none: if any event is
///   invalid (see [`crate::validate`]), the call fails with [`StoreError::InvalidEvent`]
///   naming it, and nothing of that call is written.
/// * **Empty inputs are fine**: an empty batch records nothing, an empty offset list finds
///   nothing, an unknown id finds `None`.
/// * **Nothing is dropped.** A stored event whose type nobody registered, or that no longer
///   decodes, comes back as [`Event::Raw`] rather than vanishing or failing the read.
/// * **Erased means gone for good.** [`erase`](Self::erase) removes every event that names
///   the subject (see [`crate::lifecycle`]) and remembers their ids as keyed hashes; recording
///   one of those ids again writes nothing and is counted in [`RecordOutcome::erased`].
///   [`purge_before`](Self::purge_before) removes old events without remembering them.
///   Both leave an [`AuditRecord`].
///
/// Reads return `Arc<Event>` so that a backend holding events in memory shares them
/// instead of copying payloads.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn grafi_store_core::EventStore>) -> Result<(), grafi_store_core::StoreError> {
/// use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
/// let ctx = InvokeContext::new("conv-1", "req-1");
/// let event = Event::tool_invoke(ctx, ComponentInfo::new("search", "FunctionCallTool"), &[Message::user("hi")]);
/// let id = event.event_id().to_owned();
/// assert_eq!(store.record_event(event.clone()).await?.recorded, 1);
/// assert_eq!(store.record_event(event).await?.duplicates, 1);
/// assert!(store.get_event(&id).await?.is_some());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Records one event (idempotent on its id).
    async fn record_event(&self, event: Event) -> Result<RecordOutcome, StoreError> {
        self.record_events(vec![event]).await
    }

    /// Records a batch atomically (all or nothing), idempotent on each id.
    async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError>;

    /// Removes every event.
    async fn clear_events(&self) -> Result<(), StoreError>;

    /// Every event, in recording order. Prefer [`get_events_page`](Self::get_events_page)
    /// on big stores.
    async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError>;

    /// Up to `limit` events recorded after the cursor `after` (`None`: from the start), in
    /// recording order: the way to visit a big store without holding it in memory.
    async fn get_events_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, StoreError>;

    /// The event with this id.
    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError>;

    /// The events of one assistant request (top-level `assistant_request_id`).
    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The events of one conversation (`invoke_context.conversation_id`).
    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The `PublishToTopic` and `TopicEvent` records of `topic_name` at the given offsets,
    /// ordered by offset (grafi's `get_topic_events`).
    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError>;

    /// Whether the store can serve calls now, for health checks: a database backend makes
    /// one round trip on a pooled connection, within its call deadline and without retries
    /// (a health check must see a failure, not hide it).
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The backend's connection pool right now (`None`: it has none).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// The one grafi dialect this store holds, when it holds one only (a PostgreSQL table of
    /// grafi 0.0.24's or 0.0.36's layout refuses the other by name); `None` for a store that
    /// keeps either, as the in-memory one does. What a writer should build its events in.
    fn table_dialect(&self) -> Option<Dialect> {
        None
    }

    /// Up to `limit` events after `after` that pass `filter`, in position order, and only
    /// events whose position is final: no event recorded later, by any writer, can take a
    /// position before them. The one primitive of [`stream_events`](Self::stream_events) and
    /// [`subscribe`](Self::subscribe); the default says the backend has no positions.
    async fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        let _ = (after, filter, limit);
        Err(StoreError::Unsupported {
            operation: "read_positions",
            message: "this store keeps no positions".into(),
        })
    }

    /// The cursor just after the last event whose position is final now: where a
    /// subscription that wants new events only starts.
    async fn end_cursor(&self) -> Result<Cursor, StoreError> {
        Err(StoreError::Unsupported {
            operation: "end_cursor",
            message: "this store keeps no positions".into(),
        })
    }

    /// A wake-up for subscriptions: returns when events may have been recorded. The
    /// default says the backend cannot follow new events.
    async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        Err(StoreError::Unsupported {
            operation: "subscribe",
            message: "this store cannot follow new events".into(),
        })
    }

    /// Every event after `from`, in position order, each with the cursor that resumes after
    /// it; the stream ends once it has delivered every event final when it read its last page.
    /// Memory stays bounded (one page at a time, read when the consumer asks).
    ///
    /// ```
    /// # async fn demo(store: &dyn grafi_store_core::EventStore) -> Result<(), grafi_store_core::StoreError> {
    /// use futures::TryStreamExt;
    /// use grafi_store_core::Cursor;
    /// let mut events = store.stream_events(Cursor::start());
    /// let mut checkpoint = Cursor::start();
    /// while let Some(item) = events.try_next().await? {
    ///     println!("{}", item.event.event_id());
    ///     checkpoint = item.cursor; // resume here later: store.stream_events(checkpoint)
    /// }
    /// # Ok(()) }
    /// ```
    fn stream_events(&self, from: Cursor) -> EventStream<'_> {
        stream::finite(self, from)
    }

    /// Every event after `from` that passes `filter`, then each new one as it becomes final,
    /// forever: each exactly once, in position order, with the cursor that resumes after it.
    ///
    /// A retryable error (the database restarting, a lost connection) is delivered as an
    /// `Err` item and the subscription goes on from the last event delivered, so nothing is
    /// skipped or repeated; a permanent one ends it. Reading is pulled by the consumer: a slow
    /// consumer holds one page, never an unbounded backlog.
    fn subscribe(&self, from: Cursor, filter: Filter) -> EventStream<'_> {
        stream::follow(self, from, filter)
    }

    /// [`get_conversation_events`](Self::get_conversation_events) as a stream. The default
    /// reads the whole conversation first; a backend can read it in bounded pages.
    fn stream_conversation_events<'a>(&'a self, conversation_id: &'a str) -> ReadStream<'a> {
        stream::of_vec(self.get_conversation_events(conversation_id))
    }

    /// [`get_agent_events`](Self::get_agent_events) as a stream. The default reads the whole
    /// request first; a backend can read it in bounded pages.
    fn stream_agent_events<'a>(&'a self, assistant_request_id: &'a str) -> ReadStream<'a> {
        stream::of_vec(self.get_agent_events(assistant_request_id))
    }

    /// Removes every event that names `erasure`'s subject (a user's: with every conversation
    /// of theirs), adds their ids to the erased-id ledger and writes one [`AuditRecord`]; with
    /// [`RunMode::DryRun`], counts exactly what it would remove and changes nothing. The
    /// default says the backend cannot erase.
    async fn erase(&self, erasure: &Erasure, mode: RunMode) -> Result<ErasureReport, StoreError> {
        let _ = (erasure, mode);
        Err(StoreError::Unsupported {
            operation: erasure.action().as_str(),
            message: "this store cannot erase events".into(),
        })
    }

    /// Every stored event that [`erase`](Self::erase) of `erasure` would remove now, in
    /// recording order: for a user, everything the store holds about them (an access
    /// request). The default says the backend cannot select by subject.
    async fn subject_events(&self, erasure: &Erasure) -> Result<Vec<Arc<Event>>, StoreError> {
        Err(StoreError::Unsupported {
            operation: erasure.action().as_str(),
            message: "this store cannot select events by subject".into(),
        })
    }

    /// Removes every event whose timestamp is before `before` (retention) and writes one
    /// [`AuditRecord`]. Purged ids are not added to the ledger: recording such an event again
    /// stores it again. With [`RunMode::DryRun`], counts and changes nothing.
    async fn purge(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        mode: RunMode,
    ) -> Result<PurgeReport, StoreError> {
        let _ = (before, mode);
        Err(StoreError::Unsupported {
            operation: "purge",
            message: "this store cannot purge events".into(),
        })
    }

    /// Every erasure and purge done on this store, oldest first.
    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        Err(StoreError::Unsupported {
            operation: "audit_trail",
            message: "this store keeps no audit trail".into(),
        })
    }

    /// Erases a conversation: [`erase`](Self::erase) of [`Erasure::Conversation`].
    ///
    /// ```
    /// # async fn demo(store: &dyn grafi_store_core::EventStore) -> Result<(), grafi_store_core::StoreError> {
    /// let report = store.erase_conversation("conv-1").await?;
    /// println!("{} events erased", report.events);
    /// # Ok(()) }
    /// ```
    async fn erase_conversation(&self, conversation_id: &str) -> Result<ErasureReport, StoreError> {
        self.erase(
            &Erasure::Conversation(conversation_id.to_owned()),
            RunMode::Apply,
        )
        .await
    }

    /// Erases an assistant request: [`erase`](Self::erase) of [`Erasure::Request`].
    async fn erase_request(&self, assistant_request_id: &str) -> Result<ErasureReport, StoreError> {
        self.erase(
            &Erasure::Request(assistant_request_id.to_owned()),
            RunMode::Apply,
        )
        .await
    }

    /// Erases a user and their conversations: [`erase`](Self::erase) of [`Erasure::User`].
    async fn erase_user(&self, user_id: &str) -> Result<ErasureReport, StoreError> {
        self.erase(&Erasure::User(user_id.to_owned()), RunMode::Apply)
            .await
    }

    /// Removes the events recorded before `before`: [`purge`](Self::purge), applied.
    async fn purge_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<PurgeReport, StoreError> {
        self.purge(before, RunMode::Apply).await
    }

    /// Closes the store: every later call fails with [`StoreError::Closed`], calls already
    /// running finish (up to the call deadline), then connections are closed. Calling it
    /// again does nothing. Both grafi-rs backends do so; the default, for a backend that
    /// holds nothing, does nothing.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl<S: EventStore + ?Sized> EventStore for Arc<S> {
    async fn record_event(&self, event: Event) -> Result<RecordOutcome, StoreError> {
        (**self).record_event(event).await
    }
    async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
        (**self).record_events(events).await
    }
    async fn clear_events(&self) -> Result<(), StoreError> {
        (**self).clear_events().await
    }
    async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
        (**self).get_events().await
    }
    async fn get_events_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        (**self).get_events_page(after, limit).await
    }
    async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        (**self).get_event(event_id).await
    }
    async fn get_agent_events(
        &self,
        assistant_request_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        (**self).get_agent_events(assistant_request_id).await
    }
    async fn get_conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        (**self).get_conversation_events(conversation_id).await
    }
    async fn get_topic_events(
        &self,
        topic_name: &str,
        offsets: &[i64],
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        (**self).get_topic_events(topic_name, offsets).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    fn pool_status(&self) -> Option<PoolStatus> {
        (**self).pool_status()
    }
    fn table_dialect(&self) -> Option<Dialect> {
        (**self).table_dialect()
    }
    async fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        (**self).read_positions(after, filter, limit).await
    }
    async fn end_cursor(&self) -> Result<Cursor, StoreError> {
        (**self).end_cursor().await
    }
    async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        (**self).listen().await
    }
    fn stream_events(&self, from: Cursor) -> EventStream<'_> {
        (**self).stream_events(from)
    }
    fn subscribe(&self, from: Cursor, filter: Filter) -> EventStream<'_> {
        (**self).subscribe(from, filter)
    }
    fn stream_conversation_events<'a>(&'a self, conversation_id: &'a str) -> ReadStream<'a> {
        (**self).stream_conversation_events(conversation_id)
    }
    fn stream_agent_events<'a>(&'a self, assistant_request_id: &'a str) -> ReadStream<'a> {
        (**self).stream_agent_events(assistant_request_id)
    }
    async fn erase(&self, erasure: &Erasure, mode: RunMode) -> Result<ErasureReport, StoreError> {
        (**self).erase(erasure, mode).await
    }
    async fn purge(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        mode: RunMode,
    ) -> Result<PurgeReport, StoreError> {
        (**self).purge(before, mode).await
    }
    async fn subject_events(&self, erasure: &Erasure) -> Result<Vec<Arc<Event>>, StoreError> {
        (**self).subject_events(erasure).await
    }
    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        (**self).audit_trail().await
    }
    async fn close(&self) -> Result<(), StoreError> {
        (**self).close().await
    }
}
