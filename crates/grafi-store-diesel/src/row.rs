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

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use diesel::pg::data_types::PgTimestamp;
use grafi_events::{
    DecodeError, DecodeErrorKind, Event, EventRegistry, RawEvent, StoredParts, Timestamp,
};
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

/// One row to insert, in either layout.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub event_id: String,
    pub conversation_id: String,
    pub assistant_request_id: String,
    pub event_type: String,
    /// The layout's own two columns (`Shape::own_columns`): `event_context` and `data` in
    /// grafi 0.0.24's, `event_version` and `event_data` in grafi 0.0.36's.
    pub own: [String; 2],
    pub timestamp: NaiveDateTime,
    pub extra: Option<String>,
}

impl NewRow {
    /// Approximate bytes sent for this row, for chunking.
    pub(crate) fn size(&self) -> usize {
        self.event_id.len()
            + self.conversation_id.len()
            + self.assistant_request_id.len()
            + self.event_type.len()
            + self.own[0].len()
            + self.own[1].len()
            + self.extra.as_ref().map_or(0, String::len)
            + 64
    }
}

/// The text a row's `timestamp` column gives back: Python's `isoformat()` of the UTC instant.
pub(crate) fn canonical_timestamp(utc: DateTime<Utc>) -> Timestamp {
    Timestamp::from_utc(utc)
}

/// Lays an (already validated) event out as a row of grafi 0.0.24's layout.
pub(crate) fn encode(event: &Event) -> NewRow {
    let utc = event.utc();
    let canonical = canonical_timestamp(utc);
    NewRow {
        event_id: event.event_id().to_owned(),
        conversation_id: event.conversation_id().to_owned(),
        assistant_request_id: event.assistant_request_id().to_owned(),
        event_type: event.event_type().to_owned(),
        own: [event.context_json(), event.data_json()],
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
    pub event_id: String,
    pub assistant_request_id: String,
    pub event_type: String,
    pub event_context: String,
    pub data: String,
    /// Microseconds since 2000-01-01, as PostgreSQL sends them: read this way, `infinity` or a
    /// year chrono cannot hold makes one row raw instead of failing the whole read.
    pub timestamp: PgTimestamp,
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
    PgTimestamp,
    Option<String>,
);

impl From<RowTuple> for StoredRow {
    fn from(t: RowTuple) -> Self {
        Self {
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

/// The members of `extra` (see the module docs), checked: a hand-written `extra` of another
/// shape is refused as a whole rather than half applied.
#[derive(Default)]
struct Extra {
    top: Map<String, Value>,
    absent: Vec<String>,
    order: Option<Vec<String>>,
}

/// Standard members a raw document may lack (its id, type and timestamp it always has).
const MAY_BE_ABSENT: [&str; 4] = [
    "event_version",
    "assistant_request_id",
    "event_context",
    "data",
];

/// Members kept by their own columns, which `extra.top` never overrides.
const KEPT_BY_COLUMNS: [&str; 4] = ["event_id", "event_type", "event_context", "data"];

fn parse_extra(text: &str) -> Result<Extra, String> {
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return Err(format!("a JSON {}, not an object", json_type(&other))),
        Err(e) => return Err(format!("not readable JSON ({e})")),
    };
    let strings = |member: &str, value: Value| -> Result<Vec<String>, String> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(format!("`{member}` holds a {}", json_type(&other))),
                })
                .collect(),
            other => Err(format!("`{member}` is a {}, not a list", json_type(&other))),
        }
    };
    let mut extra = Extra::default();
    for (member, value) in map {
        match member.as_str() {
            "top" => match value {
                Value::Object(top) => extra.top = top,
                other => return Err(format!("`top` is a {}, not an object", json_type(&other))),
            },
            "absent" => extra.absent = strings("absent", value)?,
            "order" => extra.order = Some(strings("order", value)?),
            _ => return Err(format!("unknown member `{}`", shorten(&member))),
        }
    }
    if let Some(key) = extra
        .top
        .keys()
        .find(|k| KEPT_BY_COLUMNS.contains(&k.as_str()))
    {
        return Err(format!("`top` overrides the column `{key}`"));
    }
    if let Some(key) = extra
        .absent
        .iter()
        .find(|k| !MAY_BE_ABSENT.contains(&k.as_str()))
    {
        return Err(format!("`absent` names `{}`", shorten(key)));
    }
    match extra.top.get("timestamp") {
        None => {}
        Some(Value::String(text)) if Timestamp::parse(text).is_ok() => {}
        Some(_) => return Err("`top.timestamp` is not a timestamp".into()),
    }
    Ok(extra)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A row's document, as far as it could be rebuilt, and why it is not a plain one.
struct Rebuilt {
    doc: Map<String, Value>,
    /// Members held as JSON text (see `RawEvent::json_text_members`).
    json_text: Vec<String>,
    /// The first thing that keeps the row from decoding as a typed event.
    problem: Option<DecodeError>,
}

impl Rebuilt {
    fn note(&mut self, path: &str, kind: DecodeErrorKind) {
        if self.problem.is_none() {
            self.problem = Some(DecodeError {
                event_id: None,
                path: path.to_owned(),
                kind,
            });
        }
    }

    /// JSON text from a column. Text serde_json cannot turn into a value (a lone surrogate
    /// escape, nesting deeper than its limit) is kept as JSON text, not turned into a string.
    fn column(&mut self, key: &str, text: &str) -> Value {
        match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                self.note(key, DecodeErrorKind::InvalidJson(e.to_string()));
                match grafi_events::python_json::restyle(text) {
                    Some(json) => {
                        self.json_text.push(key.to_owned());
                        Value::String(json)
                    }
                    None => Value::String(text.to_owned()),
                }
            }
        }
    }
}

impl StoredRow {
    /// The `timestamp` column as an event timestamp (see [`column_timestamp`]).
    fn column_timestamp(&self) -> Result<Timestamp, (Timestamp, DecodeErrorKind)> {
        column_timestamp(self.timestamp)
    }

    /// The document the row holds: grafi's columns, then what `extra` kept.
    fn document(&self) -> Rebuilt {
        let mut rebuilt = Rebuilt {
            doc: Map::new(),
            json_text: Vec::new(),
            problem: None,
        };
        let extra = match self.extra.as_deref().map(parse_extra) {
            None => Extra::default(),
            Some(Ok(extra)) => extra,
            Some(Err(why)) => {
                rebuilt.note(
                    "extra",
                    DecodeErrorKind::InvalidValue(format!(
                        "the `extra` column is not one this store wrote ({why}); \
                         the other columns are returned as stored"
                    )),
                );
                Extra::default()
            }
        };
        for key in STANDARD {
            if extra.absent.iter().any(|k| k == key) {
                continue;
            }
            let value = match key {
                "event_id" => Value::String(self.event_id.clone()),
                "event_version" => Value::String(DEFAULT_VERSION.into()),
                "assistant_request_id" => Value::String(self.assistant_request_id.clone()),
                "event_type" => Value::String(self.event_type.clone()),
                "timestamp" => match self.column_timestamp() {
                    Ok(ts) => Value::String(ts.as_str().to_owned()),
                    Err((ts, reason)) => {
                        rebuilt.note("timestamp", reason);
                        Value::String(ts.as_str().to_owned())
                    }
                },
                "event_context" => rebuilt.column(key, &self.event_context),
                _ => rebuilt.column(key, &self.data),
            };
            rebuilt.doc.insert(key.to_owned(), value);
        }
        for (key, value) in extra.top {
            rebuilt.doc.insert(key, value);
        }
        if let Some(order) = extra.order {
            let mut ordered = Map::new();
            for key in order {
                if let Some(value) = rebuilt.doc.remove(&key) {
                    ordered.insert(key, value);
                }
            }
            ordered.extend(std::mem::take(&mut rebuilt.doc));
            rebuilt.doc = ordered;
        }
        rebuilt
    }

    /// The event: decoded by the registry, or kept raw (with the reason) when it does not
    /// decode. Never fails: one odd row must not make its neighbours unreadable.
    pub(crate) fn into_event(self, registry: &EventRegistry) -> Event {
        if let Some(event) = self.decode_fast(registry) {
            return event;
        }
        self.into_event_general(registry)
    }

    /// Most rows: a built-in event grafi's columns hold entirely (`extra` is NULL), decoded
    /// from the column text without building a document. `None` sends the row the general way.
    fn decode_fast(&self, registry: &EventRegistry) -> Option<Event> {
        if self.extra.is_some() {
            return None;
        }
        let timestamp = self.column_timestamp().ok()?;
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
    fn into_event_general(self, registry: &EventRegistry) -> Event {
        let rebuilt = self.document();
        if rebuilt.problem.is_some() {
            return self.raw(rebuilt);
        }
        // The strict decode consumes the document; only on the rare failure is it rebuilt from
        // the row (cheaper than cloning every document for a fallback that is almost never used).
        match registry.decode_map(rebuilt.doc) {
            Ok(event) => event,
            Err(err) => {
                let mut rebuilt = self.document();
                rebuilt.problem = Some(err);
                self.raw(rebuilt)
            }
        }
    }

    /// The row kept whole as a raw event, with the reason it is not a typed one. Its id and
    /// type are the columns' (`extra` never overrides them).
    fn raw(&self, rebuilt: Rebuilt) -> Event {
        let timestamp = match rebuilt
            .doc
            .get("timestamp")
            .and_then(Value::as_str)
            .map(Timestamp::parse)
        {
            Some(Ok(ts)) => ts,
            _ => self.column_timestamp().unwrap_or_else(|(ts, _)| ts),
        };
        let reason = rebuilt.problem.map(|e| e.with_event_id(&self.event_id));
        let mut raw = RawEvent::from_document(rebuilt.doc, timestamp, reason);
        raw.json_text_members = rebuilt.json_text;
        Event::Raw(raw)
    }
}

/// A `timestamp` column as an instant, when chrono can hold it.
fn instant(timestamp: PgTimestamp) -> Option<DateTime<Utc>> {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)?.and_hms_opt(0, 0, 0)?;
    let at = epoch.checked_add_signed(TimeDelta::microseconds(timestamp.0))?;
    Some(at.and_utc())
}

/// A `timestamp` column as an event timestamp: grafi's text for the instant (read as UTC), or,
/// for a value grafi's Python cannot read (`infinity`, a year outside 1–9999, which PostgreSQL
/// holds from 4713 BC to 294276 AD), PostgreSQL's instant as text and the reason.
pub(crate) fn column_timestamp(
    timestamp: PgTimestamp,
) -> Result<Timestamp, (Timestamp, DecodeErrorKind)> {
    let instant = instant(timestamp);
    if let Some(utc) = instant.filter(|utc| (1..=9999).contains(&utc.year())) {
        return Ok(canonical_timestamp(utc));
    }
    let text = pg_timestamp_text(timestamp.0);
    let nearest = instant.unwrap_or(if timestamp.0 < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    let reason = DecodeErrorKind::InvalidTimestamp(text.clone());
    Err((Timestamp::unrepresentable(text, nearest), reason))
}

/// PostgreSQL's value as text: `infinity`, `-infinity`, or the instant in ISO form with a
/// year of any width (chrono stops at ±262,143; PostgreSQL's range goes to 294,276).
fn pg_timestamp_text(micros: i64) -> String {
    match micros {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    const MICROS_PER_DAY: i64 = 86_400_000_000;
    let days = micros.div_euclid(MICROS_PER_DAY) + 10_957; // 1970-01-01 → 2000-01-01
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (secs, frac) = (of_day / 1_000_000, of_day % 1_000_000);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        text.push_str(&format!(".{frac:06}"));
    }
    text.push_str("+00:00");
    text
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(row: NewRow) -> StoredRow {
        let [event_context, data] = row.own;
        StoredRow {
            event_id: row.event_id,
            assistant_request_id: row.assistant_request_id,
            event_type: row.event_type,
            event_context,
            data,
            timestamp: micros(row.timestamp),
            extra: row.extra,
        }
    }

    pub(crate) fn micros(at: NaiveDateTime) -> PgTimestamp {
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        PgTimestamp((at - epoch).num_microseconds().unwrap())
    }

    fn round_trip(json: &str) -> (Option<String>, String) {
        let event = grafi_events::decode_str(json).unwrap();
        let row = encode(&event);
        let extra = row.extra.clone();
        let back = stored(row).into_event(EventRegistry::builtin());
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
            let general = row.clone().into_event_general(registry);
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
