//! Streams built on a backend's two primitives: [`EventStore::read_positions`] (one page of
//! final positions after a cursor) and [`EventStore::listen`] (a wake-up when events may
//! have been recorded).
//!
//! Why here and not in each backend: the exactly-once, in-order delivery of a subscription
//! depends only on those primitives being right, so the loop that turns pages into a stream
//! is written, reviewed and tested once. Memory stays bounded: a stream holds one page at a
//! time and reads the next only when the consumer asks for more.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use grafi_events::Event;

use crate::error::StoreError;
use crate::position::{Cursor, Filter, Positioned};
use crate::store::EventStore;

/// Events with their cursors, in position order.
pub type EventStream<'a> = BoxStream<'a, Result<Positioned, StoreError>>;

/// Events in recording order, without cursors.
pub type ReadStream<'a> = BoxStream<'a, Result<Arc<Event>, StoreError>>;

/// Events a stream or subscription reads per page.
pub const PAGE_EVENTS: usize = 500;

/// Tells a subscription when to read again.
#[async_trait]
pub trait Wakeup: Send {
    /// Returns when events may have been recorded since the last call: on a notification, or
    /// after the backend's polling interval at the latest (a wake-up may be spurious; it must
    /// never be missed for long). An error is the listener's; the subscription passes it on.
    async fn wait(&mut self) -> Result<(), StoreError>;
}

struct Reader<'a, S: ?Sized> {
    store: &'a S,
    after: Cursor,
    filter: Filter,
    buffer: VecDeque<Positioned>,
    /// The last page said nothing more was final: wait before reading again.
    caught_up: bool,
    /// A permanent error was delivered, or a finite stream reached its end.
    done: bool,
    /// `None`: a finite stream, which ends once caught up.
    wakeup: Option<Option<Box<dyn Wakeup>>>,
    /// Consecutive failures to start listening: the next attempt waits for a backoff.
    listen_failures: u32,
    /// Consecutive caught-up reads that found events stored but not final yet: the next read
    /// comes after a short backoff, not only on a wake-up.
    pending_reads: u32,
}

impl<S: EventStore + ?Sized> Reader<'_, S> {
    async fn next(&mut self) -> Option<Result<Positioned, StoreError>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            if let Some(wakeup) = &mut self.wakeup {
                // Listen before the first read: a notification sent between a read and the
                // start of listening would otherwise be lost.
                if wakeup.is_none() {
                    if self.listen_failures > 0 {
                        tokio::time::sleep(listen_backoff(self.listen_failures)).await;
                    }
                    match self.store.listen().await {
                        Ok(listener) => {
                            self.listen_failures = 0;
                            *wakeup = Some(listener);
                        }
                        Err(error) => {
                            self.listen_failures = self.listen_failures.saturating_add(1);
                            return Some(Err(self.fail(error)));
                        }
                    }
                }
                if self.caught_up {
                    if let Some(listener) = wakeup {
                        // Events waiting to become final end their wait when an older
                        // transaction ends, which nobody announces: look again soon.
                        let waited = match self.pending_reads {
                            0 => Ok(listener.wait().await),
                            n => tokio::time::timeout(pending_backoff(n), listener.wait()).await,
                        };
                        if let Ok(Err(error)) = waited {
                            return Some(Err(self.fail(error)));
                        }
                    }
                }
            } else if self.caught_up {
                self.done = true;
                return None;
            }
            match self
                .store
                .read_positions(&self.after, &self.filter, PAGE_EVENTS)
                .await
            {
                Ok(page) => {
                    self.after = page.end;
                    self.caught_up = !page.more;
                    self.pending_reads = match (page.more, page.pending) {
                        (false, true) => self.pending_reads.saturating_add(1),
                        _ => 0,
                    };
                    self.buffer.extend(page.events);
                }
                Err(error) => {
                    // Wait before retrying (a subscription), or stop (a finite stream).
                    self.caught_up = true;
                    return Some(Err(self.fail(error)));
                }
            }
        }
    }

    /// Passes `error` on; after a permanent one, or any error of a finite stream, the stream
    /// ends. A subscription resumes after a retryable one from the last delivered event.
    fn fail(&mut self, error: StoreError) -> StoreError {
        if self.wakeup.is_none() || !error.is_retryable() {
            self.done = true;
        }
        error
    }
}

/// 100 ms, doubling, at most 5 s: a backend that cannot listen for a while is not asked in a
/// busy loop.
fn listen_backoff(failures: u32) -> std::time::Duration {
    let millis = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    std::time::Duration::from_millis(millis.min(5_000))
}

/// 5 ms, doubling, at most 1 s: how long a subscription waits before reading again while
/// events are stored but not final yet.
fn pending_backoff(reads: u32) -> std::time::Duration {
    let millis = 5u64.saturating_mul(1 << reads.saturating_sub(1).min(8));
    std::time::Duration::from_millis(millis.min(1_000))
}

fn reader_stream<'a, S: EventStore + ?Sized>(
    store: &'a S,
    from: Cursor,
    filter: Filter,
    follow: bool,
) -> EventStream<'a> {
    let reader = Reader {
        store,
        after: from,
        filter,
        buffer: VecDeque::new(),
        caught_up: false,
        done: false,
        wakeup: follow.then_some(None),
        listen_failures: 0,
        pending_reads: 0,
    };
    stream::unfold(reader, |mut reader| async move {
        let item = reader.next().await?;
        Some((item, reader))
    })
    .boxed()
}

/// [`EventStore::stream_events`]'s default: pages of `read_positions` until caught up.
pub(crate) fn finite<S: EventStore + ?Sized>(store: &S, from: Cursor) -> EventStream<'_> {
    reader_stream(store, from, Filter::all(), false)
}

/// [`EventStore::subscribe`]'s default: pages of `read_positions`, then wake-ups, forever.
pub(crate) fn follow<S: EventStore + ?Sized>(
    store: &S,
    from: Cursor,
    filter: Filter,
) -> EventStream<'_> {
    reader_stream(store, from, filter, true)
}

/// A stream of the result of one `Vec` read: the default streaming form of the
/// conversation and request reads, for backends without a bounded one.
pub(crate) fn of_vec<'a, F>(read: F) -> ReadStream<'a>
where
    F: std::future::Future<Output = Result<Vec<Arc<Event>>, StoreError>> + Send + 'a,
{
    stream::once(read)
        .flat_map(|result| match result {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).left_stream(),
            Err(error) => stream::iter([Err(error)]).right_stream(),
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventPage, PositionPage, RecordOutcome};

    /// A store that cannot listen: every attempt fails, retryably.
    struct Deaf;

    #[async_trait]
    impl EventStore for Deaf {
        async fn record_events(&self, _: Vec<Event>) -> Result<RecordOutcome, StoreError> {
            unimplemented!()
        }
        async fn clear_events(&self) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
            unimplemented!()
        }
        async fn get_events_page(&self, _: Option<u64>, _: usize) -> Result<EventPage, StoreError> {
            unimplemented!()
        }
        async fn get_event(&self, _: &str) -> Result<Option<Arc<Event>>, StoreError> {
            unimplemented!()
        }
        async fn get_agent_events(&self, _: &str) -> Result<Vec<Arc<Event>>, StoreError> {
            unimplemented!()
        }
        async fn get_conversation_events(&self, _: &str) -> Result<Vec<Arc<Event>>, StoreError> {
            unimplemented!()
        }
        async fn get_topic_events(
            &self,
            _: &str,
            _: &[i64],
        ) -> Result<Vec<Arc<Event>>, StoreError> {
            unimplemented!()
        }
        async fn read_positions(
            &self,
            after: &Cursor,
            _: &Filter,
            _: usize,
        ) -> Result<PositionPage, StoreError> {
            Ok(PositionPage::new(Vec::new(), *after, false))
        }
        async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
            Err(StoreError::Unavailable {
                message: "no listener".into(),
                outcome_unknown: false,
                source: None,
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscription_backs_off_while_its_store_cannot_listen() {
        let store = Deaf;
        let mut subscription = store.subscribe(Cursor::start(), Filter::all());
        let started = tokio::time::Instant::now();
        for _ in 0..4 {
            let item = subscription.next().await.expect("the subscription goes on");
            assert!(matches!(item, Err(StoreError::Unavailable { .. })));
        }
        // No wait before the first attempt, then 100, 200 and 400 ms.
        assert_eq!(started.elapsed(), std::time::Duration::from_millis(700));
        assert_eq!(listen_backoff(30), std::time::Duration::from_secs(5));
    }
}
