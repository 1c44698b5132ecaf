//! The registry: `event_type` → decoder, the Rust form of grafi's `_get_event_class` /
//! `_create_event_from_dict`, open to user-defined types.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::decode::{decode_builtin, Envelope};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::event::{CustomEvent, CustomPayload, Event, RawEvent};
use crate::event_type::EventType;
use crate::fast_decode::{self, StoredParts};
use crate::fields::wrong_type;
use crate::timestamp::Timestamp;

/// Decodes one document (already known to carry the registered `event_type`).
pub type Decoder = Arc<dyn Fn(Map<String, Value>) -> Result<Event, DecodeError> + Send + Sync>;

/// Maps `event_type` to a decoder. [`EventRegistry::default`] knows grafi's sixteen types.
///
/// A document whose type nobody registered decodes to [`Event::Raw`], never to an error: a
/// store must give back every event it was given.
///
/// ```
/// let registry = grafi_events::EventRegistry::default();
/// let doc = r#"{"event_id": "e1", "event_type": "SomethingNew", "timestamp": "2025-07-08T09:14:27+00:00", "x": [1, 2]}"#;
/// let event = registry.decode_str(doc).unwrap();
/// assert!(matches!(event, grafi_events::Event::Raw(_)));
/// assert_eq!(event.to_json(), r#"{"event_id": "e1", "event_type": "SomethingNew", "timestamp": "2025-07-08T09:14:27+00:00", "x": [1, 2]}"#);
/// ```
#[derive(Clone)]
pub struct EventRegistry {
    decoders: HashMap<String, Entry>,
}

/// A registered decoder, and which built-in type it is (`None` once a user replaced it), so the
/// fast path is only taken where it builds what the registered decoder would.
#[derive(Clone)]
struct Entry {
    decoder: Decoder,
    builtin: Option<EventType>,
}

impl Default for EventRegistry {
    fn default() -> Self {
        let mut registry = Self::empty();
        for ty in EventType::ALL {
            registry.decoders.insert(
                ty.as_str().to_owned(),
                Entry {
                    decoder: Arc::new(move |doc| decode_builtin(ty, doc)),
                    builtin: Some(ty),
                },
            );
        }
        registry
    }
}

impl fmt::Debug for EventRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<_> = self.decoders.keys().collect();
        types.sort();
        f.debug_struct("EventRegistry")
            .field("types", &types)
            .finish()
    }
}

impl EventRegistry {
    /// A registry that knows no type: everything decodes raw.
    pub fn empty() -> Self {
        Self {
            decoders: HashMap::new(),
        }
    }

    /// The shared registry of the built-in types.
    pub fn builtin() -> &'static EventRegistry {
        static BUILTIN: OnceLock<EventRegistry> = OnceLock::new();
        BUILTIN.get_or_init(EventRegistry::default)
    }

    /// Registers (or replaces) the decoder of `event_type`.
    pub fn register<F>(&mut self, event_type: impl Into<String>, decoder: F) -> &mut Self
    where
        F: Fn(Map<String, Value>) -> Result<Event, DecodeError> + Send + Sync + 'static,
    {
        self.decoders.insert(
            event_type.into(),
            Entry {
                decoder: Arc::new(decoder),
                builtin: None,
            },
        );
        self
    }

    /// Registers a user-defined type that follows grafi's envelope: `decode` gets
    /// `event_context` without `invoke_context`, and `data`.
    pub fn register_custom<T, F>(&mut self, event_type: impl Into<String>, decode: F) -> &mut Self
    where
        T: CustomPayload,
        F: Fn(&Map<String, Value>, &Value) -> Result<T, DecodeError> + Send + Sync + 'static,
    {
        self.register(event_type, move |doc| {
            let env = Envelope::open(doc, "")?;
            let payload = decode(env.context_peek(), &env.data)?;
            let event_type = env.event_type.clone();
            let meta = env.finish_custom();
            Ok(Event::Custom(CustomEvent::new(
                meta,
                event_type,
                Arc::new(payload),
            )))
        })
    }

    /// Whether `event_type` has a decoder.
    pub fn is_registered(&self, event_type: &str) -> bool {
        self.decoders.contains_key(event_type)
    }

    /// The built-in type whose own decoder is registered under `event_type`.
    fn builtin_decoder(&self, event_type: &str) -> Option<EventType> {
        self.decoders.get(event_type)?.builtin
    }

    /// Decodes JSON text.
    ///
    /// A document of a built-in type in the plain shape grafi writes is read straight into its
    /// typed event; any other document is parsed into a `serde_json::Value` first (a second
    /// parse, for documents the fast path gave up on) and decoded as by
    /// [`decode_value`](Self::decode_value). Both give the same event.
    pub fn decode_str(&self, json: &str) -> Result<Event, DecodeError> {
        if let Some((ty, doc)) = fast_decode::decode_document(json) {
            if self.builtin_decoder(ty.as_str()) == Some(ty) {
                if let Some(event) = fast_decode::assemble_document(ty, doc) {
                    return Ok(event);
                }
            }
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| DecodeError::new("", DecodeErrorKind::InvalidJson(e.to_string())))?;
        self.decode_value(value)
    }

    /// Decodes a parsed document.
    pub fn decode_value(&self, value: Value) -> Result<Event, DecodeError> {
        match value {
            Value::Object(map) => self.decode_map(map),
            other => Err(wrong_type(String::new(), "object", &other)),
        }
    }

    /// Decodes a parsed document; the error names the event id and the field.
    pub fn decode_map(&self, doc: Map<String, Value>) -> Result<Event, DecodeError> {
        let event_id = doc
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let event_type = match doc.get("event_type") {
            Some(Value::String(t)) => t.clone(),
            Some(other) => {
                return Err(
                    wrong_type("event_type".into(), "string", other).with_event_id(&event_id)
                )
            }
            None => {
                return Err(DecodeError::new("event_type", DecodeErrorKind::Missing)
                    .with_event_id(&event_id))
            }
        };
        let result = match self.decoders.get(&event_type) {
            Some(entry) => (entry.decoder)(doc),
            None => raw_event(doc, None),
        };
        result.map_err(|e| e.with_event_id(&event_id))
    }

    /// Decodes a stored event from its parts (columns) without building a document, when it is
    /// of a built-in type (with its own decoder registered) and in the plain shape grafi writes:
    /// every field known, none repeated, all of the expected types.
    ///
    /// `None` means "not on the fast path", never "invalid": the caller then builds the document
    /// and calls [`decode_map`](Self::decode_map), which gives the same event or the error.
    /// Stores call this first because most rows take it and it skips the document entirely.
    ///
    /// ```
    /// use grafi_events::{EventRegistry, StoredParts, Timestamp};
    /// let timestamp = Timestamp::parse("2025-07-08T09:14:27.319099+00:00").unwrap();
    /// let parts = StoredParts {
    ///     event_id: "e1",
    ///     event_type: "TopicEvent",
    ///     event_version: "1.0",
    ///     assistant_request_id: "r1",
    ///     timestamp: &timestamp,
    ///     event_context: r#"{"topic_name": "t", "offset": 0, "invoke_context": {"conversation_id": "c1", "invoke_id": "i1", "assistant_request_id": "r1"}}"#,
    ///     data: r#""[]""#, // a topic event's data: the message list's JSON text, as a JSON string
    /// };
    /// let event = EventRegistry::builtin().decode_parts_fast(parts).unwrap();
    /// assert_eq!(event.conversation_id(), "c1");
    ///
    /// // An unknown field: not for the fast path (the general one keeps the field).
    /// let odd = StoredParts { data: r#"{"x": 1}"#, ..parts };
    /// assert!(EventRegistry::builtin().decode_parts_fast(odd).is_none());
    /// ```
    pub fn decode_parts_fast(&self, parts: StoredParts<'_>) -> Option<Event> {
        let ty = self.builtin_decoder(parts.event_type)?;
        fast_decode::decode_parts(ty, parts)
    }

    /// Like [`decode_map`](Self::decode_map), but a document that fails to decode becomes a
    /// [`RawEvent`] carrying the error, as long as it has an id, a type and a timestamp.
    /// Stores read rows this way so one bad row never hides the rest.
    ///
    /// It clones the document to keep it for the fallback; a caller that can rebuild the
    /// document cheaply (as the PostgreSQL store can, from its row) should call
    /// [`decode_map`](Self::decode_map) and, on error, keep it raw itself
    /// ([`raw_event`], or [`RawEvent::from_document`]).
    pub fn decode_map_lenient(&self, doc: Map<String, Value>) -> Result<Event, DecodeError> {
        match self.decode_map(doc.clone()) {
            Ok(event) => Ok(event),
            Err(err) => raw_event(doc, Some(err.clone())).map_err(|_| err),
        }
    }
}

/// Keeps a document whole (in its original key order), reading out what stores index.
pub fn raw_event(
    document: Map<String, Value>,
    decode_error: Option<DecodeError>,
) -> Result<Event, DecodeError> {
    let required = |key: &str| match document.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(wrong_type(key.to_owned(), "string", other)),
        None => Err(DecodeError::new(key, DecodeErrorKind::Missing)),
    };
    required("event_id")?;
    required("event_type")?;
    let timestamp = Timestamp::parse(&required("timestamp")?).map_err(|mut e| {
        e.path = "timestamp".into();
        e
    })?;
    Ok(Event::Raw(RawEvent::from_document(
        document,
        timestamp,
        decode_error,
    )))
}
