//! Events ↔ rows of grafi 0.0.36's `events` table.
//!
//! `event_data` (jsonb) holds the whole document, `json.dumps(event.to_dict())`; the other
//! columns are copies grafi indexes: `event_id`, `conversation_id` (from
//! `event_context.invoke_context`), `assistant_request_id`, `event_type`, `event_version`, and
//! `timestamp` = the document's wall clock with its offset dropped, not converted
//! (`datetime.fromisoformat(ts).replace(tzinfo=None)`). Reads decode the document only, as
//! grafi's do.
//!
//! `jsonb` does not keep a document's text (key order, number spelling: see [`crate::jsonb`]).
//! Where the table has our `extra` column (json, kept verbatim), a row whose document would not
//! read back byte for byte holds the document's exact text there too, and reads prefer it;
//! NULL otherwise, and for every row grafi writes. Without `extra`, reads give back what
//! `jsonb` kept, as grafi's own reads do.

use chrono::NaiveDateTime;
use diesel::pg::data_types::PgTimestamp;
use grafi_events::{DecodeError, DecodeErrorKind, Event, EventRegistry, RawEvent, Timestamp};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::row::{column_timestamp, NewRow, RowTuple};

/// The `event_version` grafi's table model defaults to, for a raw document without one (the
/// column is `NOT NULL`).
const DEFAULT_VERSION: &str = "1.0";

/// Lays an (already validated) event out as a row of grafi 0.0.36's layout. With `exact`
/// (the table has `extra`), a document `jsonb` would not give back exactly is kept in `extra`.
pub(crate) fn encode(event: &Event, exact: Option<&EventRegistry>) -> NewRow {
    let document = event.to_json();
    let extra = exact
        .filter(|registry| !crate::jsonb::event_reads_back_exactly(event, &document, registry))
        .map(|_| document.clone());
    NewRow {
        event_id: event.event_id().to_owned(),
        conversation_id: event.conversation_id().to_owned(),
        assistant_request_id: event.assistant_request_id().to_owned(),
        event_type: event.event_type().to_owned(),
        own: [event_version(event), document],
        timestamp: wall_clock(event.timestamp()),
        extra,
    }
}

fn event_version(event: &Event) -> String {
    match event {
        Event::Raw(raw) => raw
            .document
            .get("event_version")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_VERSION)
            .to_owned(),
        other => other
            .meta()
            .map_or(DEFAULT_VERSION, |m| m.event_version.as_str())
            .to_owned(),
    }
}

/// The timestamp's wall clock, its offset dropped (`13:42:41+05:30` → `13:42:41`), as grafi
/// 0.0.36 fills its `timestamp` column. A text without an offset is its own wall clock.
pub(crate) fn wall_clock(timestamp: &Timestamp) -> NaiveDateTime {
    let text = timestamp.as_str();
    offset_start(text)
        .and_then(|at| Timestamp::parse(&text[..at]).ok())
        .map_or_else(
            || timestamp.utc().naive_utc(),
            |naive| naive.utc().naive_utc(),
        )
}

/// Where a timestamp's UTC offset (`Z`, `+05:30`, `-0800`, `+05:30:15.5`) starts. The offset
/// comes after the date (8 or 10 characters) and a separator; `None` for a naive time.
fn offset_start(text: &str) -> Option<usize> {
    const EARLIEST: usize = 11;
    let b = text.as_bytes();
    if b.last() == Some(&b'Z') {
        return (b.len() > EARLIEST).then(|| b.len() - 1);
    }
    let mut at = b.len();
    while at > 0 && matches!(b[at - 1], b'0'..=b'9' | b':' | b'.' | b',') {
        at -= 1;
    }
    (at > EARLIEST && matches!(b[at - 1], b'+' | b'-')).then(|| at - 1)
}

/// One row of grafi 0.0.36's layout, read back (the columns of `Layout::select_columns`).
#[derive(Debug, Clone)]
pub(crate) struct DocumentRow {
    pub event_id: String,
    pub assistant_request_id: String,
    pub event_type: String,
    pub event_version: String,
    /// `event_data` as `jsonb` prints it.
    pub event_data: String,
    pub timestamp: PgTimestamp,
    /// The document's exact text, when `jsonb` would not have kept it.
    pub extra: Option<String>,
}

impl From<RowTuple> for DocumentRow {
    fn from(t: RowTuple) -> Self {
        Self {
            event_id: t.1,
            assistant_request_id: t.2,
            event_type: t.3,
            event_version: t.4,
            event_data: t.5,
            timestamp: t.6,
            extra: t.7,
        }
    }
}

impl DocumentRow {
    /// The event: `extra`'s exact text when the row has one, else `event_data`, decoded by the
    /// registry; kept raw (with the reason) when it does not decode, names another event id,
    /// or `extra` is not one this store wrote. Never fails: one odd row must not make its
    /// neighbours unreadable.
    pub(crate) fn into_event(self, registry: &EventRegistry) -> Event {
        if let Some(extra) = &self.extra {
            match self.decode(extra, registry) {
                Ok(event) => return event,
                // A document this store kept that does not decode: raw, from its exact text.
                Err(problem) if self.is_ours(extra) => return self.raw(extra, problem),
                Err(_) => {
                    let problem = DecodeError {
                        event_id: None,
                        path: "extra".into(),
                        kind: DecodeErrorKind::InvalidValue(
                            "the `extra` column is not one this store wrote (the row's document \
                             as a JSON object); `event_data` is returned as stored"
                                .into(),
                        ),
                    };
                    return self.raw(&self.event_data, problem);
                }
            }
        }
        match self.decode(&self.event_data, registry) {
            Ok(event) => event,
            Err(problem) => self.raw(&self.event_data, problem),
        }
    }

    /// A document text decoded: an event filed under the row's id, or why not.
    fn decode(&self, text: &str, registry: &EventRegistry) -> Result<Event, DecodeError> {
        match registry.decode_str(text) {
            Ok(event) if event.event_id() == self.event_id => Ok(event),
            Ok(event) => Err(DecodeError {
                event_id: None,
                path: "event_id".into(),
                kind: DecodeErrorKind::InvalidValue(format!(
                    "the document's event_id {:?} is not the row's",
                    shorten(event.event_id())
                )),
            }),
            Err(error) => Err(error),
        }
    }

    /// Whether `extra` is a document filed under this row's id (what this store writes there).
    fn is_ours(&self, extra: &str) -> bool {
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            event_id: Option<&'a str>,
        }
        serde_json::from_str::<Id<'_>>(extra)
            .is_ok_and(|id| id.event_id == Some(self.event_id.as_str()))
    }

    /// The row kept whole as a raw event: the document as far as serde_json reads it (members
    /// it cannot hold kept as JSON text), filed under the row's id and type.
    fn raw(&self, text: &str, problem: DecodeError) -> Event {
        let mut json_text = Vec::new();
        let doc = match document_members(text, &mut json_text) {
            Ok(doc) => doc,
            Err(what) => {
                json_text.clear();
                self.envelope(text, what, &mut json_text)
            }
        };
        let timestamp = match doc
            .get("timestamp")
            .and_then(Value::as_str)
            .map(Timestamp::parse)
        {
            Some(Ok(ts)) => ts,
            _ => column_timestamp(self.timestamp).unwrap_or_else(|(ts, _)| ts),
        };
        let mut raw = RawEvent::from_document(doc, timestamp, Some(problem));
        if let Some(reason) = raw.decode_error.take() {
            raw.decode_error = Some(reason.with_event_id(&self.event_id));
        }
        raw.event_id.clone_from(&self.event_id);
        raw.event_type.clone_from(&self.event_type);
        if raw.assistant_request_id.is_empty() {
            raw.assistant_request_id
                .clone_from(&self.assistant_request_id);
        }
        raw.json_text_members = json_text;
        Event::Raw(raw)
    }

    /// For a document that is not a JSON object: the columns' envelope, with the value under
    /// `event_data` (as JSON text when serde_json cannot hold it).
    fn envelope(
        &self,
        text: &str,
        what: String,
        json_text: &mut Vec<String>,
    ) -> Map<String, Value> {
        let mut doc = Map::new();
        doc.insert("event_id".into(), Value::String(self.event_id.clone()));
        doc.insert(
            "event_version".into(),
            Value::String(self.event_version.clone()),
        );
        doc.insert(
            "assistant_request_id".into(),
            Value::String(self.assistant_request_id.clone()),
        );
        doc.insert("event_type".into(), Value::String(self.event_type.clone()));
        let timestamp = column_timestamp(self.timestamp).unwrap_or_else(|(ts, _)| ts);
        doc.insert(
            "timestamp".into(),
            Value::String(timestamp.as_str().to_owned()),
        );
        let value = member(text, "event_data", json_text);
        doc.insert("event_data".into(), value);
        tracing::debug!(event_id = %shorten(&self.event_id), %what, "document row is not an object");
        doc
    }
}

/// A document's top-level members; a member serde_json cannot hold (nesting deeper than it
/// reads) is kept as JSON text and named in `json_text`. `Err` when the text is not an object.
fn document_members(text: &str, json_text: &mut Vec<String>) -> Result<Map<String, Value>, String> {
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) {
        return Ok(doc);
    }
    // The syntax is checked without building values (no depth limit); member order is kept.
    let members: Vec<(String, &RawValue)> = serde_json::from_str::<OrderedMembers<'_>>(text)
        .map_err(|e| format!("not a JSON object ({e})"))?
        .0;
    let mut doc = Map::new();
    for (key, raw) in members {
        let value = member(raw.get(), &key, json_text);
        doc.insert(key, value);
    }
    Ok(doc)
}

/// A JSON value, or, when serde_json cannot hold it, its text (named in `json_text`).
fn member(text: &str, key: &str, json_text: &mut Vec<String>) -> Value {
    match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => match grafi_events::python_json::restyle(text) {
            Some(json) => {
                json_text.push(key.to_owned());
                Value::String(json)
            }
            None => Value::String(text.to_owned()),
        },
    }
}

/// An object's members in their order, values unparsed.
struct OrderedMembers<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for OrderedMembers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = OrderedMembers<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(OrderedMembers(members))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(text: &str) -> String {
        wall_clock(&Timestamp::parse(text).unwrap()).to_string()
    }

    #[test]
    fn the_wall_clock_drops_the_offset_without_converting() {
        assert_eq!(wall("2025-07-08T13:42:41+05:30"), "2025-07-08 13:42:41");
        assert_eq!(
            wall("2025-07-08T13:42:41.250-08:00"),
            "2025-07-08 13:42:41.250"
        );
        assert_eq!(wall("2025-07-08T13:42:41Z"), "2025-07-08 13:42:41");
        assert_eq!(wall("2025-07-08T13:42:41+0530"), "2025-07-08 13:42:41");
        assert_eq!(wall("2025-07-08T13:42:41"), "2025-07-08 13:42:41");
        assert_eq!(wall("2025-07-08"), "2025-07-08 00:00:00");
        assert_eq!(wall("20250708T134241-01"), "2025-07-08 13:42:41");
    }

    fn row(event_data: &str, extra: Option<&str>) -> DocumentRow {
        DocumentRow {
            event_id: "e1".into(),
            assistant_request_id: "r1".into(),
            event_type: "New".into(),
            event_version: "1.0".into(),
            event_data: event_data.into(),
            timestamp: PgTimestamp(0),
            extra: extra.map(str::to_owned),
        }
    }

    #[test]
    fn a_row_that_is_not_a_document_of_its_id_comes_back_raw_with_the_reason() {
        let registry = EventRegistry::builtin();
        let doc =
            r#"{"event_id": "e1", "timestamp": "2025-07-08T09:14:27+00:00", "event_type": "New"}"#;
        assert!(
            matches!(row(doc, None).into_event(registry), Event::Raw(r) if r.decode_error.is_none())
        );
        for (event_data, extra, path) in [
            ("[1, 2]", None, ""),
            (
                r#"{"event_id": "other", "timestamp": "2025-07-08T09:14:27+00:00", "event_type": "New"}"#,
                None,
                "event_id",
            ),
            (doc, Some("{\"x\": 1}"), "extra"),
            (doc, Some("7"), "extra"),
        ] {
            let Event::Raw(raw) = row(event_data, extra).into_event(registry) else {
                panic!("{event_data} {extra:?} decoded");
            };
            let reason = raw.decode_error.expect("a reason");
            assert_eq!(reason.path, path, "{event_data} {extra:?}");
            assert_eq!(raw.event_id, "e1");
            assert_eq!(raw.event_type, "New");
        }
    }

    #[test]
    fn a_document_deeper_than_serde_json_reads_is_kept_as_json_text() {
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let doc = format!(
            r#"{{"deep": {deep}, "event_id": "e1", "timestamp": "2025-07-08T09:14:27+00:00", "event_type": "New"}}"#
        );
        let Event::Raw(raw) = row(&doc, None).into_event(EventRegistry::builtin()) else {
            panic!("decoded");
        };
        assert_eq!(raw.json_text_members, ["deep"]);
        assert!(raw.decode_error.is_some());
        assert!(Event::Raw(raw).to_json().contains(&deep));
    }
}
