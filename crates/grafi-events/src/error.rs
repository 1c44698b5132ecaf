//! The one error type of this crate: a document that is not a grafi event.

use std::fmt;

/// What was wrong with the field that [`DecodeError::path`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The text is not JSON (or nests deeper than the parser allows).
    InvalidJson(String),
    /// A required field is absent.
    Missing,
    /// The field holds another JSON type than grafi writes there.
    WrongType {
        /// The JSON type grafi writes.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// The field is a string, but not an ISO-8601 timestamp chrono can represent.
    InvalidTimestamp(String),
    /// The field is present and typed right but its value is not allowed (e.g. an empty event id).
    InvalidValue(String),
}

/// A document could not be decoded into an event.
///
/// It names the event (when its id could be read) and the dotted path of the offending field,
/// e.g. `data.input_data[2].event_context.offset`, so a bad line in a million can be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The `event_id` of the document, if it could be read.
    pub event_id: Option<String>,
    /// Dotted path of the field at fault; empty for the document itself.
    pub path: String,
    /// What is wrong with it.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(path: impl Into<String>, kind: DecodeErrorKind) -> Self {
        Self {
            event_id: None,
            path: path.into(),
            kind,
        }
    }

    /// Attaches the event id if the error does not name one yet.
    pub fn with_event_id(mut self, event_id: &str) -> Self {
        if self.event_id.is_none() && !event_id.is_empty() {
            self.event_id = Some(event_id.to_owned());
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event_id {
            Some(id) => write!(f, "event {id:?}: ")?,
            None => write!(f, "event (id unknown): ")?,
        }
        if self.path.is_empty() {
            write!(f, "document: ")?;
        } else {
            write!(f, "field `{}`: ", self.path)?;
        }
        match &self.kind {
            DecodeErrorKind::InvalidJson(msg) => write!(f, "invalid JSON: {msg}"),
            DecodeErrorKind::Missing => write!(f, "missing"),
            DecodeErrorKind::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            DecodeErrorKind::InvalidTimestamp(v) => write!(f, "not an ISO-8601 timestamp: {v:?}"),
            DecodeErrorKind::InvalidValue(msg) => write!(f, "{msg}"),
        }
    }
}
