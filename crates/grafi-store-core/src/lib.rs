//! # grafi-store-core
//!
//! What every grafi-rs event store shares: the [`EventStore`] trait and its contract, the
//! [`StoreError`] type, the input [`validate`] rules every backend applies identically, and,
//! behind the `conformance` feature, the suite that proves a backend keeps the contract.
//!
//! Backends: `grafi-store-memory` (no setup) and `grafi-store-diesel` (PostgreSQL).
#![warn(missing_docs)]

mod error;
mod store;
pub mod validate;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{DeniedKind, InvalidReason, StoreError};
pub use store::{EventPage, EventStore, RecordOutcome};
pub use validate::Limits;

pub use grafi_events;
