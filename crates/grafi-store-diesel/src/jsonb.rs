//! What PostgreSQL's `jsonb` gives back for a document, computed on the client.
//!
//! Why: grafi 0.0.36 keeps the whole document in one `jsonb` column, which sorts object keys
//! (shorter first, then bytewise), keeps the last of repeated keys, stores numbers as `numeric`
//! (`1e+21` comes back as `1000000000000000000000`, `-0.0` as `0.0`) and prints strings with
//! raw UTF-8. A store that must give back the document it was given needs to know, when it
//! writes, whether reading the column will: [`reads_back_exactly`] decodes the text the column
//! will return and compares.

use grafi_events::EventRegistry;
use serde_json::Value;

/// Whether `document` (an event's `to_json()`), stored in a `jsonb` column and read back as
/// text, decodes by `registry` to an event that re-encodes to `document` byte for byte.
/// `false` also for anything this module cannot predict (a number `numeric` rewrites, text
/// serde_json cannot read).
pub(crate) fn reads_back_exactly(document: &str, registry: &EventRegistry) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let mut text = String::with_capacity(document.len());
    if !print(&value, &mut text) {
        return false;
    }
    matches!(registry.decode_str(&text), Ok(event) if event.to_json() == document)
}

/// `value` as PostgreSQL prints a `jsonb` (`JsonbToCString`): `", "` and `": "` separators,
/// keys in `jsonb` order. `false` when a number is not in the form `numeric` prints back.
fn print(value: &Value, out: &mut String) -> bool {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let text = n.to_string();
            if !numeric_keeps(&text) {
                return false;
            }
            out.push_str(&text);
        }
        Value::String(s) => escape(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if !print(item, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| key_order(a.0, b.0));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                escape(key, out);
                out.push_str(": ");
                if !print(item, out) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

/// `jsonb`'s key order: by length in bytes, then bytewise.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Whether `numeric` prints this JSON number as it is written: no exponent (`numeric` writes
/// every digit out), and no negative zero (it has none).
fn numeric_keeps(text: &str) -> bool {
    if text.contains(['e', 'E']) {
        return false;
    }
    let negative_zero =
        text.starts_with('-') && text.bytes().all(|b| matches!(b, b'-' | b'0' | b'.'));
    !negative_zero
}

/// A string as PostgreSQL's `escape_json` writes it: `"` `\` and the named control escapes,
/// other control characters as `\u00xx` (lower-case hex), everything else as it is.
fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(json: &str) -> Option<String> {
        let value: Value = serde_json::from_str(json).unwrap();
        let mut out = String::new();
        print(&value, &mut out).then_some(out)
    }

    #[test]
    fn prints_as_postgresql_does() {
        // `SELECT '{"bb": [1, {}], "a": "é\u0001\n", "ab": 1.50}'::jsonb::text` on PostgreSQL 15.
        assert_eq!(
            printed(r#"{"bb": [1, {}], "a": "\u00e9\u0001\n", "ab": 1.50}"#).unwrap(),
            "{\"a\": \"é\\u0001\\n\", \"ab\": 1.50, \"bb\": [1, {}]}"
        );
        assert_eq!(printed(r#"{"a": 1, "a": 2}"#).unwrap(), r#"{"a": 2}"#);
    }

    #[test]
    fn numbers_numeric_rewrites_are_not_predicted() {
        for rewritten in ["1e+21", "1E2", "-0.0", "-0", "5e-324"] {
            assert_eq!(printed(&format!("[{rewritten}]")), None, "{rewritten}");
        }
        for kept in ["0", "-0.5", "1.0", "1180591620717411303424", "0.000"] {
            assert_eq!(
                printed(&format!("[{kept}]")),
                Some(format!("[{kept}]")),
                "{kept}"
            );
        }
    }

    #[test]
    fn an_unknown_type_in_jsonb_key_order_reads_back_and_one_in_another_order_does_not() {
        let registry = EventRegistry::builtin();
        let sorted =
            r#"{"event_id": "e", "timestamp": "2025-07-08T09:14:27+00:00", "event_type": "New"}"#;
        assert!(reads_back_exactly(sorted, registry));
        let unsorted =
            r#"{"event_type": "New", "event_id": "e", "timestamp": "2025-07-08T09:14:27+00:00"}"#;
        assert!(!reads_back_exactly(unsorted, registry));
        let unicode = r#"{"x": "\u00e9", "event_id": "e", "timestamp": "2025-07-08T09:14:27+00:00", "event_type": "New"}"#;
        assert!(reads_back_exactly(unicode, registry));
    }
}
