//! The fast path (typed visitors straight from text) and the general path (through a
//! `serde_json::Value` document) must agree: on the corpus, and on thousands of corpus
//! documents mutated where the fast path has to give up or apply a default.

use grafi_events::{DecodeError, Event, EventRegistry, StoredParts, Timestamp};
use serde_json::{json, Map, Value};

mod common;

fn corpus() -> Vec<Value> {
    common::corpus_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn corpus36() -> Vec<Value> {
    common::corpus36_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The general path alone: `decode_value` never takes the fast path.
fn general(doc: &Value) -> Result<Event, DecodeError> {
    EventRegistry::builtin().decode_value(doc.clone())
}

/// The columns a store would keep of `doc`, when they are all it has (anything else would go
/// to a store's `extra` column, and such rows do not take the fast path).
struct Columns {
    map: Map<String, Value>,
    timestamp: Timestamp,
    context: String,
    data: String,
}

impl Columns {
    fn of(doc: &Value) -> Option<Self> {
        let map = doc.as_object()?.clone();
        if map.len() != 7 {
            return None;
        }
        for key in [
            "event_id",
            "event_type",
            "event_version",
            "assistant_request_id",
        ] {
            map.get(key)?.as_str()?;
        }
        Some(Self {
            timestamp: Timestamp::parse(map.get("timestamp")?.as_str()?).ok()?,
            context: serde_json::to_string(map.get("event_context")?).unwrap(),
            data: serde_json::to_string(map.get("data")?).unwrap(),
            map,
        })
    }

    fn parts(&self) -> StoredParts<'_> {
        let s = |k: &str| self.map[k].as_str().unwrap();
        StoredParts {
            event_id: s("event_id"),
            event_type: s("event_type"),
            event_version: s("event_version"),
            assistant_request_id: s("assistant_request_id"),
            timestamp: &self.timestamp,
            event_context: &self.context,
            data: &self.data,
        }
    }
}

fn fast_from_parts(doc: &Value) -> Option<Option<Event>> {
    let columns = Columns::of(doc)?;
    Some(EventRegistry::builtin().decode_parts_fast(columns.parts()))
}

#[test]
fn every_corpus_event_takes_the_fast_path_from_its_parts_and_equals_the_general_path() {
    let docs = corpus();
    assert_eq!(docs.len(), 211);
    let docs36 = corpus36();
    assert_eq!(docs36.len(), 201);
    let mut general_only = 0;
    for (n, doc) in docs.iter().chain(&docs36).enumerate() {
        // An assistant's optional `model` (grafi 0.0.36) is not in the wire table: the general
        // path keeps it as an unknown field in place, the fast path leaves it to it.
        if doc["event_context"].get("model").is_some() {
            general_only += 1;
            assert_eq!(fast_from_parts(doc), Some(None), "line {}", n + 1);
            continue;
        }
        let fast = fast_from_parts(doc)
            .expect("corpus envelopes are plain strings")
            .unwrap_or_else(|| panic!("line {} left the fast path", n + 1));
        assert_eq!(fast, general(doc).unwrap(), "line {}", n + 1);
        let text = serde_json::to_string(doc).unwrap();
        assert_eq!(
            EventRegistry::builtin().decode_str(&text).unwrap(),
            fast,
            "line {}",
            n + 1
        );
    }
    assert_eq!(general_only, 1);
}

/// Every object of `doc` (the top level, `event_context`, `invoke_context`, `data`, and the
/// same inside the first consumed event of a node event), as a JSON pointer.
fn objects(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in [
        "",
        "/data/input_data/0",
        "/data/input_data",
        "/data/output_data",
        "/data/output_data/0",
    ] {
        for path in [
            "",
            "/event_context",
            "/event_context/invoke_context",
            "/data",
        ] {
            let pointer = format!("{prefix}{path}");
            if doc.pointer(&pointer).is_some_and(Value::is_object) {
                found.push(pointer);
            }
        }
    }
    found
}

/// Documents one change away from `doc`: each field removed, or set to a value of another
/// type, and an unknown field added to each object.
fn mutations(doc: &Value) -> Vec<Value> {
    let replacements = [
        Value::Null,
        json!(5),
        json!(5.0),
        json!("5"),
        json!([]),
        json!({}),
        json!(["a"]),
    ];
    let mut out = Vec::new();
    for pointer in objects(doc) {
        let keys: Vec<String> = doc
            .pointer(&pointer)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for key in &keys {
            let mut removed = doc.clone();
            removed
                .pointer_mut(&pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .shift_remove(key);
            out.push(removed);
            for replacement in &replacements {
                let mut changed = doc.clone();
                changed.pointer_mut(&pointer).unwrap()[key] = replacement.clone();
                out.push(changed);
            }
        }
        let mut added = doc.clone();
        added.pointer_mut(&pointer).unwrap()["unknown_field"] = json!(1);
        out.push(added);
        // The object's values as an array: long enough to fill a struct field by field.
        let mut as_array = doc.clone();
        let target = as_array.pointer_mut(&pointer).unwrap();
        *target = Value::Array(target.as_object().unwrap().values().cloned().collect());
        out.push(as_array);
    }
    out
}

#[test]
fn mutated_documents_decode_the_same_on_both_paths() {
    mutated_documents_of(corpus(), 20_000);
}

/// Every third engine document (each type several times) and every edge case (the last 16
/// lines): the whole corpus takes a minute in a debug build.
#[test]
fn mutated_0_0_36_documents_decode_the_same_on_both_paths() {
    let docs: Vec<Value> = corpus36()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0 || *i >= 185)
        .map(|(_, doc)| doc)
        .collect();
    mutated_documents_of(docs, 10_000);
}

fn mutated_documents_of(docs: Vec<Value>, at_least: usize) {
    let mut compared = 0;
    let mut fast_parts_taken = 0;
    for doc in docs {
        for mutated in mutations(&doc) {
            let expected = general(&mutated);
            let text = serde_json::to_string(&mutated).unwrap();
            assert_eq!(
                EventRegistry::builtin().decode_str(&text),
                expected,
                "{text}"
            );
            if let Some(Some(fast)) = fast_from_parts(&mutated) {
                fast_parts_taken += 1;
                assert_eq!(Ok(&fast), expected.as_ref(), "{text}");
            }
            compared += 1;
        }
    }
    // The mutations reach both outcomes: some defaults the fast path applies, most refusals.
    assert!(compared > at_least, "{compared}");
    assert!(fast_parts_taken > 500, "{fast_parts_taken}");
    assert!(fast_parts_taken < compared / 2, "{fast_parts_taken}");
}

#[test]
fn repeated_keys_leave_the_fast_path_and_the_last_one_wins_as_in_json_parsers() {
    for doc in corpus().iter().take(40) {
        let text = serde_json::to_string(doc).unwrap();
        for key in ["event_id", "timestamp", "event_context", "data"] {
            let value = serde_json::to_string(&doc[key]).unwrap();
            // The repeated key comes first; the original (last) one must win.
            let repeated = format!(
                "{{\"{key}\": {},{}",
                if key == "timestamp" {
                    "\"bad\"".to_owned()
                } else {
                    value.replace('a', "b")
                },
                &text[1..]
            );
            assert_eq!(
                EventRegistry::builtin().decode_str(&repeated),
                general(doc),
                "{repeated}"
            );
        }
    }
}

#[test]
fn a_user_decoder_replacing_a_builtin_type_is_never_bypassed() {
    let doc = corpus().into_iter().next().unwrap();
    let ty = doc["event_type"].as_str().unwrap().to_owned();
    let mut registry = EventRegistry::default();
    registry.register(ty, |doc| grafi_events::raw_event(doc, None));
    let text = serde_json::to_string(&doc).unwrap();
    assert!(matches!(registry.decode_str(&text).unwrap(), Event::Raw(_)));
    let columns = Columns::of(&doc).unwrap();
    let parts = columns.parts();
    assert!(registry.decode_parts_fast(parts).is_none());
    assert!(EventRegistry::builtin().decode_parts_fast(parts).is_some());
}

/// `{"a": [[…[1]…]]}`: an object nested `depth` levels deep.
fn kwargs_of_depth(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 1..depth {
        value = Value::Array(vec![value]);
    }
    json!({ "a": value })
}

/// The fast path reads `kwargs` as raw text and parses it on its own, outside the parser's
/// depth count for the whole document; it must still refuse nothing the general path reads
/// and read nothing the general path refuses, for kwargs at the top and inside a consumed
/// event, around the fast path's limit (120 levels) and the parser's (127 for the document).
#[test]
fn deep_kwargs_decode_the_same_on_both_paths() {
    let docs = corpus();
    let node = docs
        .iter()
        .find(|d| d["event_type"] == "NodeInvoke")
        .expect("a node event in the corpus");
    let mut outcomes = std::collections::BTreeSet::new();
    for pointer in [
        "/event_context/invoke_context/kwargs",
        "/data/input_data/0/event_context/invoke_context/kwargs",
    ] {
        for depth in 117..=126 {
            let mut doc = node.clone();
            *doc.pointer_mut(pointer).unwrap() = kwargs_of_depth(depth);
            let text = serde_json::to_string(&doc).unwrap();
            // The general path from text: the parser's limit applies to the whole document.
            let expected = serde_json::from_str::<Value>(&text)
                .ok()
                .map(|doc| general(&doc).unwrap());
            let got = EventRegistry::builtin().decode_str(&text).ok();
            assert_eq!(got, expected, "{pointer} at depth {depth}");
            // From a row's columns, each parsed on its own by the general path.
            let columns = Columns::of(&doc).unwrap();
            if let Some(fast) = EventRegistry::builtin().decode_parts_fast(columns.parts()) {
                assert!(
                    depth <= 120,
                    "{pointer} at depth {depth} took the fast path"
                );
                assert!(serde_json::from_str::<Value>(&columns.context).is_ok());
                assert!(serde_json::from_str::<Value>(&columns.data).is_ok());
                assert_eq!(fast, general(&doc).unwrap());
            }
            outcomes.insert((pointer, expected.is_some()));
        }
    }
    // Both pointers reach both outcomes: decoded, and refused as too deep.
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
}
