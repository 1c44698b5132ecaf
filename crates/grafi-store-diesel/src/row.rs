//! Events ↔ rows of grafi's `events` table.
//!
//! grafi's columns keep `event_id`, `conversation_id`, `assistant_request_id`, `event_type`,
//! `event_context` (JSONB), `data` (JSON, verbatim) and `timestamp` (UTC wall clock, no
//! offset). What they lose, for events this store writes, goes into `extra` (JSON, NULL for the
//! usual event and for every row grafi writes):
//!
//! ```json
//! {"top": {"event_version": "2.0", "timestamp": "2025-07-08T11:14:27+02:00", "x": 1},
//!  "absent": ["data"], "order": ["event_id", "event_type", "timestamp", "x"]}
//! ```
//!
//! * `top`: top-level members whose value the columns cannot rebuild (an `event_version`
//!   other than `"1.0"`, a timestamp that is not the canonical UTC isoformat, unknown fields);
//! * `absent`: standard members a raw document does not have;
//! * `order`: a raw document's key order, when it differs from the rebuilt one.
//!
//! JSONB normalises `event_context` (key order, `1e+20` → `100000000000000000000`,
//! `-0.0` → `0.0`); that is the one difference a read can show.

use chrono::{DateTime, NaiveDateTime, Utc};
use grafi_events::{Event, EventRegistry, StoredParts, Timestamp};
use serde_json::{Map, Value};

/// The standard top-level members, in the order a row rebuilds them.
const STANDARD: [&str; 7] = [
    "event_id",
    "event_version",
    "assistant_request_id",
    "event_type",
    "timestamp",
    "event_context",
    "data",
];

/// The event version grafi 0.0.24 writes (and the one its table implies).
const DEFAULT_VERSION: &str = "1.0";

/// One row to insert.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub event_id: String,
    pub conversation_id: String,
    pub assistant_request_id: String,
    pub event_type: String,
    pub event_context: String,
    pub data: String,
    pub timestamp: NaiveDateTime,
    pub extra: Option<String>,
}

impl NewRow {
    /// Approximate bytes sent for this row, for chunking.
    pub fn size(&self) -> usize {
        self.event_id.len()
            + self.conversation_id.len()
            + self.assistant_request_id.len()
            + self.event_type.len()
            + self.event_context.len()
            + self.data.len()
            + self.extra.as_ref().map_or(0, String::len)
            + 64
    }
}

/// The text a row's `timestamp` column gives back: Python's `isoformat()` of the UTC instant.
pub(crate) fn canonical_timestamp(utc: DateTime<Utc>) -> Timestamp {
    Timestamp::from_utc(utc)
}

/// Lays an (already validated) event out as a row.
pub(crate) fn encode(event: &Event) -> NewRow {
    let utc = event.utc();
    let canonical = canonical_timestamp(utc);
    NewRow {
        event_id: event.event_id().to_owned(),
        conversation_id: event.conversation_id().to_owned(),
        assistant_request_id: event.assistant_request_id().to_owned(),
        event_type: event.event_type().to_owned(),
        event_context: event.context_json(),
        data: event.data_json(),
        timestamp: canonical.utc().naive_utc(),
        extra: extra_for(event, canonical.as_str()),
    }
}

fn extra_for(event: &Event, canonical_ts: &str) -> Option<String> {
    let mut top = Map::new();
    let mut absent = Vec::new();
    let mut order = None;
    match event {
        Event::Raw(raw) => {
            let doc = &raw.document;
            for key in STANDARD {
                if !doc.contains_key(key) {
                    absent.push(Value::String(key.to_owned()));
                }
            }
            for (key, value) in doc {
                let rebuilt = match key.as_str() {
                    // Kept by their columns: event_id and event_type are strings in a raw
                    // event, event_context and data are stored as they are.
                    "event_id" | "event_type" | "event_context" | "data" => continue,
                    "assistant_request_id" => {
                        value.as_str() == Some(raw.assistant_request_id.as_str())
                    }
                    "event_version" => value.as_str() == Some(DEFAULT_VERSION),
                    "timestamp" => value.as_str() == Some(canonical_ts),
                    _ => false,
                };
                if !rebuilt {
                    top.insert(key.clone(), value.clone());
                }
            }
            let rebuilt_order: Vec<&str> = STANDARD
                .iter()
                .copied()
                .filter(|k| doc.contains_key(*k))
                .chain(
                    top.keys()
                        .map(String::as_str)
                        .filter(|k| !STANDARD.contains(k)),
                )
                .collect();
            if !doc
                .keys()
                .map(String::as_str)
                .eq(rebuilt_order.iter().copied())
            {
                order = Some(Value::Array(
                    doc.keys().map(|k| Value::String(k.clone())).collect(),
                ));
            }
        }
        other => {
            if let Some(meta) = other.meta() {
                if meta.event_version != DEFAULT_VERSION {
                    top.insert(
                        "event_version".into(),
                        Value::String(meta.event_version.clone()),
                    );
                }
                if meta.timestamp.as_str() != canonical_ts {
                    top.insert(
                        "timestamp".into(),
                        Value::String(meta.timestamp.as_str().to_owned()),
                    );
                }
                for (key, value) in &meta.unknown.top {
                    top.insert(key.clone(), value.clone());
                }
            }
        }
    }
    if top.is_empty() && absent.is_empty() && order.is_none() {
        return None;
    }
    let mut extra = Map::new();
    if !top.is_empty() {
        extra.insert("top".into(), Value::Object(top));
    }
    if !absent.is_empty() {
        extra.insert("absent".into(), Value::Array(absent));
    }
    if let Some(order) = order {
        extra.insert("order".into(), order);
    }
    // serde_json escapes control characters (NUL included) and keeps number text.
    Some(Value::Object(extra).to_string())
}

/// One row read back.
#[derive(Debug, Clone)]
pub(crate) struct StoredRow {
    pub id: i64,
    pub event_id: String,
    pub assistant_request_id: String,
    pub event_type: String,
    pub event_context: String,
    pub data: String,
    pub timestamp: NaiveDateTime,
    pub extra: Option<String>,
}

/// The tuple diesel loads (same order as [`StoredRow`]).
pub(crate) type RowTuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<String>,
);

impl From<RowTuple> for StoredRow {
    fn from(t: RowTuple) -> Self {
        Self {
            id: t.0,
            event_id: t.1,
            assistant_request_id: t.2,
            event_type: t.3,
            event_context: t.4,
            data: t.5,
            timestamp: t.6,
            extra: t.7,
        }
    }
}

/// JSON text from a column; text that does not parse (e.g. nested deeper than serde_json's
/// limit) is kept as a string so the row still comes back (as a raw event).
fn parse_column(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl StoredRow {
    /// The document the row holds: grafi's columns, then what `extra` kept.
    pub fn document(&self) -> Map<String, Value> {
        let extra: Map<String, Value> = match self.extra.as_deref().map(serde_json::from_str) {
            Some(Ok(Value::Object(map))) => map,
            Some(_) => {
                tracing::warn!(event_id = %self.event_id, row_id = self.id, "ignoring an unreadable `extra` column");
                Map::new()
            }
            None => Map::new(),
        };
        let absent: Vec<&str> = match extra.get("absent") {
            Some(Value::Array(keys)) => keys.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut doc = Map::new();
        for key in STANDARD {
            if absent.contains(&key) {
                continue;
            }
            let value = match key {
                "event_id" => Value::String(self.event_id.clone()),
                "event_version" => Value::String(DEFAULT_VERSION.into()),
                "assistant_request_id" => Value::String(self.assistant_request_id.clone()),
                "event_type" => Value::String(self.event_type.clone()),
                "timestamp" => Value::String(
                    canonical_timestamp(self.timestamp.and_utc())
                        .as_str()
                        .to_owned(),
                ),
                "event_context" => parse_column(&self.event_context),
                _ => parse_column(&self.data),
            };
            doc.insert(key.to_owned(), value);
        }
        if let Some(Value::Object(top)) = extra.get("top") {
            for (key, value) in top {
                doc.insert(key.clone(), value.clone());
            }
        }
        if let Some(Value::Array(order)) = extra.get("order") {
            let mut ordered = Map::new();
            for key in order.iter().filter_map(Value::as_str) {
                if let Some(value) = doc.remove(key) {
                    ordered.insert(key.to_owned(), value);
                }
            }
            ordered.extend(doc);
            doc = ordered;
        }
        doc
    }

    /// The event: decoded by the registry, or kept raw (with the decode error) when it no
    /// longer decodes — never dropped.
    pub fn into_event(self, registry: &EventRegistry) -> Result<Event, grafi_events::DecodeError> {
        if let Some(event) = self.decode_fast(registry) {
            return Ok(event);
        }
        self.into_event_general(registry)
    }

    /// Most rows: a built-in event grafi's columns hold entirely (`extra` is NULL), decoded
    /// from the column text without building a document. `None` sends the row the general way.
    fn decode_fast(&self, registry: &EventRegistry) -> Option<Event> {
        if self.extra.is_some() {
            return None;
        }
        let timestamp = canonical_timestamp(self.timestamp.and_utc());
        registry.decode_parts_fast(StoredParts {
            event_id: &self.event_id,
            event_type: &self.event_type,
            event_version: DEFAULT_VERSION,
            assistant_request_id: &self.assistant_request_id,
            timestamp: &timestamp,
            event_context: &self.event_context,
            data: &self.data,
        })
    }

    /// Any row: the document rebuilt from the columns and `extra`, then decoded by the registry.
    fn into_event_general(
        self,
        registry: &EventRegistry,
    ) -> Result<Event, grafi_events::DecodeError> {
        // The strict decode consumes the document; only on the rare failure is it rebuilt from
        // the row (cheaper than cloning every document for a fallback that is almost never used).
        let err = match registry.decode_map(self.document()) {
            Ok(event) => return Ok(event),
            Err(err) => err,
        };
        let doc = self.document();
        match grafi_events::raw_event(doc, Some(err.clone())) {
            Ok(event) => Ok(event),
            Err(_) => {
                // Only an unreadable timestamp override can get here (the columns always give
                // an id, a type and a valid timestamp): fall back to the column's.
                let mut doc = self.document();
                doc.insert(
                    "timestamp".into(),
                    Value::String(
                        canonical_timestamp(self.timestamp.and_utc())
                            .as_str()
                            .to_owned(),
                    ),
                );
                grafi_events::raw_event(doc, Some(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(row: NewRow) -> StoredRow {
        StoredRow {
            id: 1,
            event_id: row.event_id,
            assistant_request_id: row.assistant_request_id,
            event_type: row.event_type,
            event_context: row.event_context,
            data: row.data,
            timestamp: row.timestamp,
            extra: row.extra,
        }
    }

    fn round_trip(json: &str) -> (Option<String>, String) {
        let event = grafi_events::decode_str(json).unwrap();
        let row = encode(&event);
        let extra = row.extra.clone();
        let back = stored(row).into_event(EventRegistry::builtin()).unwrap();
        assert_eq!(back, event);
        (extra, back.to_json())
    }

    #[test]
    fn corpus_rows_take_the_fast_path_and_decode_as_the_general_path_does() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/grafi-0.0.24/events.jsonl"
        );
        let corpus = std::fs::read_to_string(path).unwrap();
        let registry = EventRegistry::builtin();
        for line in corpus.lines() {
            let event = grafi_events::decode_str(line).unwrap();
            let row = stored(encode(&event));
            let fast = row.decode_fast(registry);
            let general = row.clone().into_event_general(registry).unwrap();
            assert_eq!(general, event);
            // Events whose envelope the columns cannot hold (`extra`) go the general way.
            assert_eq!(fast.is_some(), row.extra.is_none(), "{}", event.event_id());
            if let Some(fast) = fast {
                assert_eq!(fast, general);
            }
        }
    }

    #[test]
    fn plain_grafi_event_needs_no_extra() {
        let line = r#"{"event_context": {"consumer_name": "n", "consumer_type": "LLMNode", "topic_name": "agent_input_topic", "offset": 0, "invoke_context": {"conversation_id": "c1", "invoke_id": "i1", "assistant_request_id": "r1", "user_id": "u", "kwargs": {}}}, "event_id": "e1", "event_version": "1.0", "assistant_request_id": "r1", "event_type": "ConsumeFromTopic", "timestamp": "2025-07-08T09:14:27.319099+00:00", "data": "[]"}"#;
        let (extra, json) = round_trip(line);
        assert_eq!(extra, None);
        assert_eq!(json, line);
    }

    #[test]
    fn version_offset_timestamp_and_unknown_fields_survive() {
        let line = r#"{"event_context": {"consumer_name": "n", "consumer_type": "LLMNode", "topic_name": "t", "offset": 3000000000, "invoke_context": {"conversation_id": "c1", "invoke_id": "i1", "assistant_request_id": "r1", "user_id": null, "kwargs": null}}, "event_id": "e2", "event_version": "2.0", "assistant_request_id": "r1", "event_type": "ConsumeFromTopic", "timestamp": "2025-07-08T11:14:27.5+02:00", "data": "[]", "zz": [1e+20, "a\u0000b"]}"#;
        let (extra, json) = round_trip(line);
        assert!(extra.unwrap().contains("2.0"));
        assert_eq!(json, line);
    }

    #[test]
    fn raw_document_keeps_shape_and_order() {
        let line = r#"{"x": [1, 2], "event_type": "SomethingNew", "event_id": "e1", "timestamp": "2025-07-08T09:14:27+00:00"}"#;
        let (extra, json) = round_trip(line);
        assert!(extra.is_some());
        assert_eq!(json, line);
    }
}
