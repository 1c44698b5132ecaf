//! # grafi-events
//!
//! The event model of [grafi](https://pypi.org/project/grafi/) ("Graphite"), the agent
//! framework: the sixteen event types agents record, grafi's JSON wire format, and the
//! registry that turns a stored document back into a typed event.
//!
//! * **Faithful**: documents are grafi 0.0.24's `event.to_dict()`, quirks included (message
//!   lists stored as JSON *strings*, node events embedding whole ConsumeFromTopic documents).
//! * **Lossless**: every number keeps its text (integers beyond u64, `-0.0`, `1e+21`), fields
//!   the model does not know are kept, and [`Event::to_json`] writes the bytes Python's
//!   `json.dumps` writes, so a decoded grafi document re-encodes byte for byte.
//! * **Open**: [`EventRegistry`] decodes by `event_type`; users register their own types, and
//!   an unregistered type decodes to [`Event::Raw`], never to an error.
//!
//! This crate knows nothing of storage.
//!
//! ```
//! use grafi_events::{decode_str, Event};
//! let line = r#"{"event_context": {"consumer_name": "n", "consumer_type": "LLMNode", "topic_name": "agent_input_topic", "offset": 0, "invoke_context": {"conversation_id": "c1", "invoke_id": "i1", "assistant_request_id": "r1", "user_id": "u", "kwargs": {}}}, "event_id": "e1", "event_version": "1.0", "assistant_request_id": "r1", "event_type": "ConsumeFromTopic", "timestamp": "2025-07-08T09:14:27.319099+00:00", "data": "[]"}"#;
//! let event = decode_str(line).unwrap();
//! assert_eq!(event.topic(), Some(("agent_input_topic", 0)));
//! assert_eq!(event.conversation_id(), "c1");
//! assert_eq!(event.to_json(), line);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod context;
mod decode;
mod dialect;
mod encode;
mod error;
mod event;
mod event_type;
mod fast_decode;
mod fields;
mod kwargs;
mod message;
mod model;
pub mod python_json;
mod registry;
mod relayout;
mod timestamp;
mod wire;

pub use context::InvokeContext;
pub use dialect::{Dialect, UnknownDialect};
pub use error::{DecodeError, DecodeErrorKind};
pub use event::{CustomEvent, CustomPayload, Event, RawEvent};
pub use event_type::{EventType, UnknownEventType};
pub use fast_decode::StoredParts;
pub use kwargs::Kwargs;
pub use message::{Content, Message, MessageList};
pub use model::*;
pub use registry::{raw_event, Decoder, EventRegistry};
pub use timestamp::Timestamp;

/// A fresh id the way grafi makes them: a uuid4 as 32 lowercase hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Decodes JSON text with the built-in registry.
pub fn decode_str(json: &str) -> Result<Event, DecodeError> {
    EventRegistry::builtin().decode_str(json)
}
