//! # grafi-store-core
//!
//! What every grafi-rs event store shares: the [`EventStore`] trait and its contract, the
//! [`StoreError`] type, the input [`validate`] rules every backend applies identically, and,
//! behind the `conformance` feature, the suite that proves a backend keeps the contract.
//!
//! Backends: `grafi-store-memory` (no setup) and `grafi-store-diesel` (PostgreSQL).
//!
//! ## Testing a backend
//!
//! With the `conformance` feature (as a dev-dependency), a backend's test file runs the whole
//! suite (the contract, bad input, concurrency and a model-based test) through four macros,
//! `conformance_suite!`, `bad_input_suite!`, `concurrency_suite!` and `model_suite!`; the
//! `grafi_store_core::conformance` module documents them, with a complete test file.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod error;
pub mod lifecycle;
mod position;
mod store;
pub mod stream;
pub mod validate;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{DeniedKind, InvalidReason, StoreError};
pub use lifecycle::{AuditAction, AuditRecord, Erasure, ErasureReport, PurgeReport, RunMode};
pub use position::{Cursor, CursorParseError, Filter, PositionPage, Positioned};
pub use store::{EventPage, EventStore, PoolStatus, RecordOutcome};
pub use stream::{EventStream, ReadStream, Wakeup};
pub use validate::Limits;

pub use grafi_events;
