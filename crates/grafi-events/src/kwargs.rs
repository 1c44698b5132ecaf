//! `invoke_context.kwargs`, shared by the events that carry the same one.

use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};

/// `invoke_context.kwargs`: the free-form JSON object grafi passes through a workflow.
///
/// Every event of an invoke carries the same kwargs, and a node event carries them again in
/// each event it consumed: a conversation read holds the same object hundreds of times. So
/// `Kwargs` is shared. Cloning hands out the same map (no copy), decoding the same JSON text
/// again on one thread does too, and writing (through `DerefMut`) first copies a shared map,
/// so no other event sees the change. Equality and encoding are those of the map.
///
/// ```
/// use grafi_events::Kwargs;
/// use serde_json::json;
/// let mut kwargs = Kwargs::default();
/// kwargs.insert("tenant".into(), json!("helios-eu"));
/// let shared = kwargs.clone();
/// assert!(Kwargs::ptr_eq(&kwargs, &shared));
/// kwargs.insert("retry".into(), json!(3)); // copies: `shared` is unchanged
/// assert_eq!(shared.len(), 1);
/// assert_eq!(kwargs.len(), 2);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Kwargs(Arc<Map<String, Value>>);

impl Kwargs {
    /// Whether `a` and `b` are the same shared map (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The map, copied only if it is shared.
    pub fn into_map(self) -> Map<String, Value> {
        Arc::unwrap_or_clone(self.0)
    }
}

impl Deref for Kwargs {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Kwargs {
    /// Copies the map first if another `Kwargs` shares it.
    fn deref_mut(&mut self) -> &mut Self::Target {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Map<String, Value>> for Kwargs {
    fn from(map: Map<String, Value>) -> Self {
        Self(Arc::new(map))
    }
}

impl FromIterator<(String, Value)> for Kwargs {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Map<String, Value>>())
    }
}

impl fmt::Debug for Kwargs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Kwargs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// How many kwargs texts each thread remembers: rows of a read arrive grouped by conversation
/// and request, so the same few texts repeat back to back.
const RECENT_TEXTS: usize = 4;

/// Longer texts are parsed every time: remembering them could hold megabytes per thread.
const LONGEST_REMEMBERED: usize = 4096;

thread_local! {
    /// Kwargs JSON texts decoded lately on this thread, newest first, with their maps and
    /// nesting depths.
    static RECENT: RefCell<Vec<(Box<str>, Kwargs, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The kwargs of the JSON object text `text`: the map decoded from the same text lately on
/// this thread if there is one, else a fresh parse. `None` if `text` is not a JSON object or
/// nests deeper than `max_depth` levels (a flat object is one level).
pub(crate) fn from_object_text(text: &str, max_depth: usize) -> Option<Kwargs> {
    let parse = || {
        let map = serde_json::from_str::<Map<String, Value>>(text).ok()?;
        let depth = 1 + map.values().map(depth).max().unwrap_or(0);
        Some((Kwargs::from(map), depth))
    };
    if text.len() > LONGEST_REMEMBERED {
        return parse().and_then(|(kwargs, depth)| (depth <= max_depth).then_some(kwargs));
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        let (kwargs, depth) = match recent.iter().position(|(seen, ..)| **seen == *text) {
            Some(at) => {
                let hit = recent.remove(at);
                let found = (hit.1.clone(), hit.2);
                recent.insert(0, hit);
                found
            }
            None => {
                let (kwargs, depth) = parse()?;
                recent.truncate(RECENT_TEXTS - 1);
                recent.insert(0, (text.into(), kwargs.clone(), depth));
                (kwargs, depth)
            }
        };
        (depth <= max_depth).then_some(kwargs)
    })
}

/// Levels of nesting of a value: 0 for a scalar, 1 for a flat array or object.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gives_the_same_map_and_others_do_not() {
        let a = from_object_text(r#"{"a": 1}"#, 8).unwrap();
        let again = from_object_text(r#"{"a": 1}"#, 8).unwrap();
        assert!(Kwargs::ptr_eq(&a, &again));
        let spaced = from_object_text(r#"{"a":  1}"#, 8).unwrap();
        assert_eq!(spaced, a);
        assert!(!Kwargs::ptr_eq(&spaced, &a));
        assert!(from_object_text("[1]", 8).is_none());
        assert!(from_object_text("null", 8).is_none());
        assert!(from_object_text(r#"{"a": 1"#, 8).is_none());
    }

    #[test]
    fn only_the_latest_texts_are_remembered() {
        let first = from_object_text(r#"{"n": 0}"#, 8).unwrap();
        for n in 1..=RECENT_TEXTS {
            from_object_text(&format!(r#"{{"n": {n}}}"#), 8).unwrap();
        }
        let later = from_object_text(r#"{"n": 0}"#, 8).unwrap();
        assert_eq!(later, first);
        assert!(
            !Kwargs::ptr_eq(&later, &first),
            "forgotten after {RECENT_TEXTS} others"
        );
    }

    #[test]
    fn objects_deeper_than_asked_are_refused_remembered_or_not() {
        let deep = r#"{"a": {"b": [1]}}"#;
        for _ in 0..2 {
            assert!(from_object_text(deep, 2).is_none());
            assert!(from_object_text(deep, 3).is_some());
        }
        let long = format!(
            r#"{{"pad": "{}", "a": [[1]]}}"#,
            "x".repeat(LONGEST_REMEMBERED)
        );
        assert!(from_object_text(&long, 2).is_none());
        assert!(from_object_text(&long, 3).is_some());
    }

    #[test]
    fn long_texts_are_parsed_every_time() {
        let long = format!(r#"{{"pad": "{}"}}"#, "x".repeat(LONGEST_REMEMBERED));
        let a = from_object_text(&long, 8).unwrap();
        let b = from_object_text(&long, 8).unwrap();
        assert_eq!(a, b);
        assert!(!Kwargs::ptr_eq(&a, &b));
    }

    #[test]
    fn writing_copies_a_shared_map_only() {
        let mut mine = Kwargs::from(Map::new());
        let before = Arc::as_ptr(&mine.0);
        mine.insert("k".into(), Value::Null);
        assert_eq!(
            Arc::as_ptr(&mine.0),
            before,
            "an unshared map is written in place"
        );
        let theirs = mine.clone();
        mine.insert("k2".into(), Value::Null);
        assert_eq!(theirs.len(), 1);
        assert_eq!(mine.into_map().len(), 2);
    }
}
