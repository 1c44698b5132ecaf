//! Comparing a stored event with the one recorded.

use grafi_events::Event;
use serde_json::Value;

/// Whether two events are the same, allowing only what a store may change: the number
/// *spelling* (PostgreSQL `jsonb` writes `1e+20` as `100000000000000000000` and `-0.0` as
/// `0.0`), key order, and the timestamp's offset (compared as instants).
pub fn same_event(a: &Event, b: &Event) -> bool {
    a.utc() == b.utc() && normalized(a) == normalized(b)
}

/// Panics with both ids and documents' differences when [`same_event`] fails.
pub fn assert_same_event(actual: &Event, expected: &Event) {
    assert!(
        same_event(actual, expected),
        "stored event {:?} differs from what was recorded\n  stored:   {}\n  recorded: {}",
        expected.event_id(),
        clip(&actual.to_json()),
        clip(&expected.to_json()),
    );
}

fn clip(s: &str) -> String {
    s.chars().take(600).collect()
}

fn normalized(e: &Event) -> Value {
    let mut v = e.to_value();
    if let Value::Object(map) = &mut v {
        map.remove("timestamp");
    }
    normalize_numbers(v)
}

fn normalize_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(canonical_number(n.as_str())),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The exact decimal value of a JSON number as `sign digits e exponent`, so `1e+20`,
/// `100000000000000000000` and `1.0E20` agree, and `-0.0` equals `0`.
fn canonical_number(text: &str) -> String {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int}{frac}");
    let exponent = exponent - frac.len() as i64;
    let trimmed_start = digits.trim_start_matches('0');
    if trimmed_start.is_empty() {
        return "0".into();
    }
    let significant = trimmed_start.trim_end_matches('0');
    let exponent = exponent + (trimmed_start.len() - significant.len()) as i64;
    format!(
        "{}{significant}e{exponent}",
        if negative { "-" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::canonical_number;

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(
            canonical_number("1e+20"),
            canonical_number("100000000000000000000")
        );
        assert_eq!(canonical_number("-0.0"), canonical_number("0"));
        assert_eq!(canonical_number("1.50"), canonical_number("15e-1"));
        assert_ne!(canonical_number("1.5"), canonical_number("-1.5"));
        assert_ne!(
            canonical_number("18446744073709551616"),
            canonical_number("18446744073709551615")
        );
        assert_eq!(canonical_number("5e-324"), "5e-324");
    }
}
