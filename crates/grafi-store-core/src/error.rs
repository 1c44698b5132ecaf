//! `StoreError`: the questions callers ask of a failure — which event was bad, can I retry,
//! was anything written — answered by kind, never by message text.

use std::time::Duration;

use grafi_events::DecodeError;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an event was refused before anything was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// `event_id` is empty.
    #[error("event_id is empty")]
    EmptyEventId,
    /// A field holds a NUL character where storage cannot keep one (PostgreSQL `jsonb` and
    /// `text` reject `\u0000`; `data` may hold it).
    #[error("`{field}` contains a NUL character (\\u0000), which PostgreSQL cannot store there")]
    NulCharacter {
        /// Where: `event_id`, `event_type`, `assistant_request_id`, `event_context`, or `data`
        /// of a grafi 0.0.36 event (whose whole document is `jsonb`; a topic event's message
        /// text may hold NUL, escaped).
        field: &'static str,
    },
    /// The event is larger than the store's per-event limit.
    #[error("event is {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        /// Approximate encoded size.
        size: usize,
        /// The configured limit ([`crate::Limits::max_event_bytes`]).
        limit: usize,
    },
    /// The document nests deeper than JSON parsers read back (serde_json stops at 127
    /// levels), so a stored copy could not be decoded again.
    #[error("document nests {depth} levels deep, above the limit of {limit}")]
    TooDeep {
        /// Nesting depth of the whole document (the document itself is level 1).
        depth: usize,
        /// [`crate::validate::MAX_DEPTH`].
        limit: usize,
    },
    /// The timestamp's instant, in UTC, is outside years 1–9999: Python's `datetime` (and so
    /// grafi reading the row back) cannot hold it, e.g. `9999-12-31T23:59:59-01:00`.
    #[error("timestamp {0:?} is outside years 1-9999 UTC, which grafi's Python cannot read back")]
    TimestampOutOfRange(String),
    /// An indexed text is longer than PostgreSQL's B-tree index entries allow (about 2.7 kB).
    #[error("`{field}` is {bytes} bytes, above the limit of {limit} bytes for an indexed value")]
    KeyTooLong {
        /// `event_id`, `conversation_id`, `assistant_request_id` or `topic_name`.
        field: &'static str,
        /// Its length in bytes.
        bytes: usize,
        /// [`crate::validate::MAX_KEY_BYTES`].
        limit: usize,
    },
    /// A number in `event_context` that PostgreSQL's `jsonb` (a `numeric`) cannot hold: more
    /// than 131,072 digits before the decimal point or 16,383 after it, e.g. `1e200000`.
    #[error("`{field}` holds the number {number} that PostgreSQL's jsonb cannot store")]
    NumberOutOfRange {
        /// Where: `event_context`.
        field: &'static str,
        /// The number's text (shortened).
        number: String,
    },
    /// A member is JSON that no reader can turn into a value (a lone surrogate escape, or
    /// nesting deeper than serde_json reads), kept as text by a raw event; PostgreSQL's `jsonb`
    /// column refuses it there.
    #[error("`{field}` holds JSON that cannot be stored in a jsonb column (lone surrogate escape or nesting too deep)")]
    UnstorableJson {
        /// Where: `event_context`.
        field: &'static str,
    },
    /// The document could not be encoded.
    #[error("{0}")]
    Malformed(String),
    /// The database refused this event's row although the shared validation accepted it
    /// (e.g. a `CHECK` constraint someone added to the table, or a limit of a customised
    /// schema). The message is the server's, without the row's values.
    #[error("the database refused it: {message}")]
    Refused {
        /// The server's message and SQLSTATE.
        message: String,
    },
    /// Storing the event exactly needs a column this table does not have yet (grafi's own
    /// table, before `grafi-store migrate run`): refused rather than stored lossily.
    #[error(
        "storing this event exactly needs the `{column}` column, which this table lacks \
         (grafi's own layout): run `grafi-store migrate run` to add it"
    )]
    NeedsMigration {
        /// The missing column.
        column: &'static str,
    },
    /// The event is written in the other grafi dialect than the table holds: a grafi service of
    /// that version reading the table could not decode it, and the formats cannot be converted
    /// without inventing or dropping data.
    #[error(
        "the event is a grafi {event} document, but this table holds grafi {table} documents \
         (point the writer at a table of its own dialect)"
    )]
    WrongDialect {
        /// The event's dialect.
        event: grafi_events::Dialect,
        /// The table's.
        table: grafi_events::Dialect,
    },
}

/// An event-store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The caller passed an event the store refuses; nothing of the call was written.
    #[error("invalid event {event_id:?} (#{index} of the batch): {reason}")]
    InvalidEvent {
        /// Its id (may be empty: that can be the reason).
        event_id: String,
        /// Its position in the batch.
        index: usize,
        /// Why.
        reason: InvalidReason,
    },
    /// A stored row could not be turned back into an event even as a raw one.
    #[error("stored event could not be decoded: {source}")]
    Decode {
        /// The decoder's error, naming the event and field.
        #[source]
        source: DecodeError,
    },
    /// The backend cannot be reached (connection refused or lost, pool exhausted). Retryable;
    /// a write that failed this way was not committed unless `outcome_unknown` says so.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What failed, without credentials.
        message: String,
        /// Whether a write may have been committed before the failure.
        outcome_unknown: bool,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store was [closed](crate::EventStore::close); nothing was done.
    #[error("{operation}: the store is closed")]
    Closed {
        /// The store operation that was refused.
        operation: &'static str,
    },
    /// The call did not finish within its deadline. Retryable; a write may or may not have
    /// been committed, and since recording is idempotent, retrying it is safe.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// The store operation.
        operation: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// A backend error; `retryable` says whether it is transient (serialization failure,
    /// deadlock) or permanent.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// Whether retrying may succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The server refused the connection or the operation for a reason that retrying cannot
    /// fix (wrong password, unknown database, failed TLS handshake or certificate check,
    /// missing privilege). Never retryable; `message` says what to fix, and `source` keeps
    /// the driver's error (with its SQLSTATE where the server sent one).
    #[error("{kind}: {message}")]
    Denied {
        /// What was refused.
        kind: DeniedKind,
        /// What failed and what to fix, without credentials.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store is misconfigured (bad URL, missing table, migrations refused).
    #[error("configuration error: {0}")]
    Config(String),
    /// The caller asked for something that cannot be done as asked (an erasure of an empty
    /// id); `message` says what. Never retryable.
    #[error("{operation}: {message}")]
    InvalidArgument {
        /// The store operation.
        operation: &'static str,
        /// What is wrong with the argument.
        message: String,
    },
    /// The store cannot do this (a backend without positions asked to stream, a table without
    /// the position column asked to subscribe); `message` says what would make it possible.
    /// Never retryable.
    #[error("{operation} is not available: {message}")]
    Unsupported {
        /// The store operation.
        operation: &'static str,
        /// Why, and what to do.
        message: String,
    },
}

/// Why the server refused ([`StoreError::Denied`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeniedKind {
    /// Authentication failed: wrong password, or no `pg_hba.conf` entry lets this role in
    /// (SQLSTATE 28P01, 28000).
    Authentication,
    /// The database does not exist (3D000).
    UnknownDatabase,
    /// The TLS handshake or the server's certificate check failed, or TLS was required and
    /// the server does not offer it.
    Tls,
    /// The role lacks a privilege the operation needs (42501).
    Permission,
}

impl DeniedKind {
    /// The SQLSTATEs of this kind (none for TLS, which fails before the server can answer).
    pub fn sqlstates(self) -> &'static [&'static str] {
        match self {
            DeniedKind::Authentication => &["28P01", "28000"],
            DeniedKind::UnknownDatabase => &["3D000"],
            DeniedKind::Tls => &[],
            DeniedKind::Permission => &["42501"],
        }
    }
}

impl std::fmt::Display for DeniedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeniedKind::Authentication => "authentication failed",
            DeniedKind::UnknownDatabase => "unknown database",
            DeniedKind::Tls => "TLS failed",
            DeniedKind::Permission => "permission denied",
        })
    }
}

impl StoreError {
    /// Whether the same call may succeed if retried (after a backoff).
    ///
    /// ```
    /// use grafi_store_core::{InvalidReason, StoreError};
    /// let e = StoreError::Timeout { operation: "record_events", after: std::time::Duration::from_secs(5) };
    /// assert!(e.is_retryable());
    /// let e = StoreError::InvalidEvent { event_id: String::new(), index: 0, reason: InvalidReason::EmptyEventId };
    /// assert!(!e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } | StoreError::Timeout { .. } => true,
            StoreError::Backend { retryable, .. } => *retryable,
            StoreError::InvalidEvent { .. }
            | StoreError::Decode { .. }
            | StoreError::Denied { .. }
            | StoreError::Closed { .. }
            | StoreError::Config(_)
            | StoreError::InvalidArgument { .. }
            | StoreError::Unsupported { .. } => false,
        }
    }

    /// Whether a failed write may nevertheless have been committed (so the caller cannot
    /// know without reading back; an idempotent retry settles it).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            StoreError::Timeout { .. } => true,
            StoreError::Unavailable {
                outcome_unknown, ..
            } => *outcome_unknown,
            _ => false,
        }
    }

    /// The id of the event at fault, for invalid input and decode failures.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            StoreError::InvalidEvent { event_id, .. } => Some(event_id),
            StoreError::Decode { source } => source.event_id.as_deref(),
            _ => None,
        }
    }
}
