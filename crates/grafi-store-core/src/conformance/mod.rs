//! The conformance suite: the [`EventStore`](crate::EventStore) contract, and how a store
//! behaves under bad input, concurrency and random operation sequences, as executable checks.
//!
//! Every backend, ours or yours, runs the same scenarios, unchanged, each on a fresh store
//! of its own, so "passes the suite" means the same thing for memory, PostgreSQL and any
//! third-party store. The scenarios come in four groups, each with a macro that expands, in
//! the backend's test file, to one `#[test]` per scenario of the group:
//!
//! | group | scenarios | macro |
//! |---|---|---|
//! | the contract, one function per clause | [`contract`] | [`conformance_suite!`](crate::conformance_suite) |
//! | bad input: refused by name, or kept as data | [`bad_input`] | [`bad_input_suite!`](crate::bad_input_suite) |
//! | 16 writers with 4 readers; concurrent replays | [`concurrency`] | [`concurrency_suite!`](crate::concurrency_suite) |
//! | random sequences against a reference model | [`model`] | [`model_suite!`](crate::model_suite) |
//!
//! A scenario added to a group runs on every backend at its next `cargo test`, with no edit
//! to the backends. The scenario functions are public too, for a backend that wants to run
//! one with knobs of its own.
//!
//! # Dialects
//!
//! The generated events are grafi 0.0.24 documents unless a test binary names another
//! dialect: calling [`set_suite_dialect`]`(Dialect::V0_0_36)` in `setup` runs every scenario
//! on grafi 0.0.36 documents (one dialect per test binary; a second test file runs the other).
//! The real corpora of both dialects are recorded either way: a store whose table holds one
//! dialect must refuse the other by name (`InvalidReason::WrongDialect`).
//!
//! # Running the whole suite
//!
//! A backend's test file, with `grafi-store-core = { version = "0.1", features =
//! ["conformance"] }` among its dev-dependencies (no `tokio` needed: the tests build their
//! own runtime):
//!
//! ```no_run
//! # mod my_backend {
//! #     use std::sync::Arc;
//! #     use grafi_store_core::grafi_events::Event;
//! #     use grafi_store_core::{EventPage, EventStore, Limits, RecordOutcome, StoreError};
//! #     pub struct MyStore;
//! #     impl MyStore {
//! #         pub async fn new() -> Self { MyStore }
//! #         pub async fn with_limits(_: Limits) -> Self { MyStore }
//! #     }
//! #     #[async_trait::async_trait]
//! #     impl EventStore for MyStore {
//! #         async fn record_events(&self, _: Vec<Event>) -> Result<RecordOutcome, StoreError> { todo!() }
//! #         async fn clear_events(&self) -> Result<(), StoreError> { todo!() }
//! #         async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> { todo!() }
//! #         async fn get_events_page(&self, _: Option<u64>, _: usize) -> Result<EventPage, StoreError> { todo!() }
//! #         async fn get_event(&self, _: &str) -> Result<Option<Arc<Event>>, StoreError> { todo!() }
//! #         async fn get_agent_events(&self, _: &str) -> Result<Vec<Arc<Event>>, StoreError> { todo!() }
//! #         async fn get_conversation_events(&self, _: &str) -> Result<Vec<Arc<Event>>, StoreError> { todo!() }
//! #         async fn get_topic_events(&self, _: &str, _: &[i64]) -> Result<Vec<Arc<Event>>, StoreError> { todo!() }
//! #     }
//! # }
//! // tests/conformance.rs
//! use grafi_store_core::Limits;
//! use my_backend::MyStore;
//!
//! // A fresh, empty store, called once per test. Return anything that derefs to the store:
//! // a fixture that owns resources (a scratch database) releases them when it drops.
//! async fn setup() -> Box<MyStore> {
//!     Box::new(MyStore::new().await)
//! }
//!
//! // The same, configured with these per-event limits.
//! async fn setup_with_limits(limits: Limits) -> Box<MyStore> {
//!     Box::new(MyStore::with_limits(limits).await)
//! }
//!
//! mod contract {
//!     grafi_store_core::conformance_suite!(super::setup);
//! }
//!
//! mod bad_input {
//!     grafi_store_core::bad_input_suite!(
//!         backend: "my-store", // the name in the printed figures
//!         setup: super::setup,
//!         setup_with_limits: super::setup_with_limits,
//!     );
//! }
//!
//! mod concurrency {
//!     grafi_store_core::concurrency_suite!(backend: "my-store", setup: super::setup);
//! }
//!
//! mod model {
//!     grafi_store_core::model_suite!(backend: "my-store", setup: super::setup);
//! }
//! # fn main() {}
//! ```
//!
//! `cargo test --test conformance -- --nocapture` shows the figures; one test is `#[ignore]`d
//! as heavy (a 300 MB event, `-- --ignored`), and `GRAFI_MODEL_CASES=N` sets the model test's
//! case count ([`model::DEFAULT_CASES`] by default).
//!
//! The helpers the scenarios use to make and compare events ([`grafi_corpus`],
//! [`agent_trace`], [`simple_events`], [`same_event`], [`assert_same_event`]) serve a
//! backend's own tests as well.

mod compare;
mod dialect;
mod fixtures;
mod macros;

pub mod bad_input;
pub mod concurrency;
pub mod contract;
pub mod lifecycle;
pub mod model;
pub mod streams;

pub use compare::{assert_same_event, same_event};
pub use dialect::{all_in_suite_dialect, in_suite_dialect, set_suite_dialect, suite_dialect};
pub use fixtures::{
    agent_trace, grafi_036_corpus, grafi_corpus, simple_events, GRAFI_036_CORPUS_JSONL,
    GRAFI_CORPUS_JSONL,
};

/// What the macros expand to; not an API.
#[doc(hidden)]
pub mod __macro_support {
    use std::ops::Deref;
    use std::sync::Arc;

    use async_trait::async_trait;
    use grafi_events::Event;

    use crate::{EventPage, EventStore, RecordOutcome, StoreError};

    /// A multi-threaded runtime with `worker_threads` workers, I/O and timers enabled.
    pub fn runtime(worker_threads: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads)
            .enable_all()
            .build()
            .expect("a Tokio runtime for the conformance test")
    }

    /// Runs `future` to completion on a fresh [`runtime`] (what `#[tokio::test(flavor =
    /// "multi_thread")]` does).
    pub fn block_on<F: std::future::Future>(worker_threads: usize, future: F) -> F::Output {
        runtime(worker_threads).block_on(future)
    }

    /// The store a fixture derefs to, as an `Arc<dyn EventStore>` that owns the fixture, for
    /// the scenarios that share the store with spawned tasks; the fixture drops with the last
    /// clone. It forwards every method of the trait.
    pub fn shared_store<F>(fixture: F) -> Arc<dyn EventStore>
    where
        F: Deref + Send + Sync + 'static,
        F::Target: EventStore,
    {
        Arc::new(Owned(fixture))
    }

    /// An [`EventStore`] that forwards to the store its fixture derefs to.
    struct Owned<F>(F);

    #[async_trait]
    impl<F> EventStore for Owned<F>
    where
        F: Deref + Send + Sync,
        F::Target: EventStore,
    {
        async fn record_event(&self, event: Event) -> Result<RecordOutcome, StoreError> {
            self.0.record_event(event).await
        }
        async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
            self.0.record_events(events).await
        }
        async fn clear_events(&self) -> Result<(), StoreError> {
            self.0.clear_events().await
        }
        async fn get_events(&self) -> Result<Vec<Arc<Event>>, StoreError> {
            self.0.get_events().await
        }
        async fn get_events_page(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<EventPage, StoreError> {
            self.0.get_events_page(after, limit).await
        }
        async fn get_event(&self, event_id: &str) -> Result<Option<Arc<Event>>, StoreError> {
            self.0.get_event(event_id).await
        }
        async fn get_agent_events(
            &self,
            assistant_request_id: &str,
        ) -> Result<Vec<Arc<Event>>, StoreError> {
            self.0.get_agent_events(assistant_request_id).await
        }
        async fn get_conversation_events(
            &self,
            conversation_id: &str,
        ) -> Result<Vec<Arc<Event>>, StoreError> {
            self.0.get_conversation_events(conversation_id).await
        }
        async fn get_topic_events(
            &self,
            topic_name: &str,
            offsets: &[i64],
        ) -> Result<Vec<Arc<Event>>, StoreError> {
            self.0.get_topic_events(topic_name, offsets).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.0.ping().await
        }
        fn pool_status(&self) -> Option<crate::PoolStatus> {
            self.0.pool_status()
        }
        async fn close(&self) -> Result<(), StoreError> {
            self.0.close().await
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every public scenario (`pub async fn`) of a group is run by the group's macro: a
    /// scenario added to a group module without a test in its macro fails here, not silently.
    #[test]
    fn every_scenario_runs_in_its_groups_macro() {
        let macros = include_str!("macros.rs");
        let groups = [
            ("contract", include_str!("contract.rs")),
            ("bad_input", include_str!("bad_input.rs")),
            ("concurrency", include_str!("concurrency.rs")),
            ("model", include_str!("model.rs")),
            ("streams", include_str!("streams.rs")),
            ("lifecycle", include_str!("lifecycle.rs")),
        ];
        let mut scenarios = 0;
        for (group, source) in groups {
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub async fn ") else {
                    continue;
                };
                let name = &rest[..rest.find(['(', '<']).expect("a function signature")];
                let called = macros.match_indices(name).any(|(at, _)| {
                    let before = macros[..at].chars().next_back();
                    let after = macros[at + name.len()..].chars().next();
                    let ident =
                        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !ident(before) && !ident(after)
                });
                assert!(
                    called,
                    "{group}::{name} is run by no test of the group's macro"
                );
                scenarios += 1;
            }
        }
        assert!(scenarios >= 16 + 7 + 2, "only {scenarios} scenarios found");
    }
}
