//! Model-based test of the PostgreSQL store: random sequences of record, batch (with
//! duplicates and invalid events), every read, paging and clear, against a `Vec` reference
//! (`grafi_store_core::conformance::model`, the same on every backend), on one scratch
//! database cleared between cases.
//!
//! `GRAFI_MODEL_CASES` overrides the case count (default 1,000, up to 50 operations each; see
//! docs/reliability.md for the figures).

mod common;

async fn setup() -> common::TestStore {
    common::init_tracing();
    common::setup().await
}

grafi_store_core::model_suite!(backend: "postgres", setup: setup);
