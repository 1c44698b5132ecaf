//! What the commands' unit tests share: a store holding the real grafi corpus.

use std::sync::Arc;

use grafi_events::Event;
use grafi_store::{EventStore, MemoryEventStore};
use grafi_store_core::conformance::grafi_corpus;

/// An in-memory store holding the grafi 0.0.24 corpus (211 events).
pub(crate) async fn corpus_store() -> MemoryEventStore {
    let store = MemoryEventStore::new();
    store.record_events(grafi_corpus()).await.unwrap();
    store
}

/// The events' ids, in order.
pub(crate) fn ids(events: &[Arc<Event>]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}

/// `impl EventStore for $store { … }` where `$store` has a field `inner: MemoryEventStore`:
/// the calls given, plus the reads the commands' test stores never change, forwarded to
/// `inner`, so that each store writes only what it changes.
macro_rules! store_over_inner {
    ($store:ty { $($calls:tt)* }) => {
        #[async_trait::async_trait]
        impl grafi_store::EventStore for $store {
            $($calls)*

            async fn clear_events(&self) -> Result<(), grafi_store::StoreError> {
                self.inner.clear_events().await
            }
            async fn get_events(
                &self,
            ) -> Result<Vec<std::sync::Arc<grafi_events::Event>>, grafi_store::StoreError> {
                self.inner.get_events().await
            }
            async fn get_event(
                &self,
                id: &str,
            ) -> Result<Option<std::sync::Arc<grafi_events::Event>>, grafi_store::StoreError> {
                self.inner.get_event(id).await
            }
            async fn get_agent_events(
                &self,
                id: &str,
            ) -> Result<Vec<std::sync::Arc<grafi_events::Event>>, grafi_store::StoreError> {
                self.inner.get_agent_events(id).await
            }
            async fn get_conversation_events(
                &self,
                id: &str,
            ) -> Result<Vec<std::sync::Arc<grafi_events::Event>>, grafi_store::StoreError> {
                self.inner.get_conversation_events(id).await
            }
            async fn get_topic_events(
                &self,
                topic: &str,
                offsets: &[i64],
            ) -> Result<Vec<std::sync::Arc<grafi_events::Event>>, grafi_store::StoreError> {
                self.inner.get_topic_events(topic, offsets).await
            }
        }
    };
}
pub(crate) use store_over_inner;
