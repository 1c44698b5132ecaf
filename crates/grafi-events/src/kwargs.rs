//! `invoke_context.kwargs`, shared by the events that carry the same one, and parsed only
//! when someone looks.

use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// `invoke_context.kwargs`: the free-form JSON object grafi passes through a workflow.
///
/// Every event of an invoke carries the same kwargs, and a node event carries them again in
/// each event it consumed: a conversation read holds the same object hundreds of times. So
/// `Kwargs` is shared. Cloning hands out the same map (no copy), decoding the same JSON text
/// again on one thread does too, and writing (through `DerefMut`) first copies a shared map,
/// so no other event sees the change. Equality and encoding are those of the map.
///
/// Kwargs decoded from a stored row are kept as their JSON text until first read: most reads
/// never look at them, and building the map was a sixth of the cost of decoding an event.
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
#[derive(Clone, Default)]
pub struct Kwargs(Arc<Parts>);

/// The map, and the JSON text it was decoded from.
///
/// Invariant: when `map` is not yet set, `text` (if any) is a JSON object that
/// [`Parts::parse`] cannot fail on (see [`from_object_text`]); no `text` means an empty map.
#[derive(Default)]
struct Parts {
    /// The decoded text; `None` for maps built in code, and once the map is written.
    text: Option<Box<str>>,
    map: OnceLock<Map<String, Value>>,
}

impl Parts {
    fn map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| Self::parse(self.text.as_deref()))
    }

    fn into_map(self) -> Map<String, Value> {
        match self.map.into_inner() {
            Some(map) => map,
            None => Self::parse(self.text.as_deref()),
        }
    }

    fn parse(text: Option<&str>) -> Map<String, Value> {
        match text {
            None => Map::new(),
            Some(text) => serde_json::from_str(text)
                .expect("kwargs text checked when decoded: a JSON object without \\u escapes"),
        }
    }
}

impl Clone for Parts {
    /// What `Arc::make_mut` copies before a write: the map if it was built, else the text.
    fn clone(&self) -> Self {
        match self.map.get() {
            Some(map) => Parts {
                text: None,
                map: OnceLock::from(map.clone()),
            },
            None => Parts {
                text: self.text.clone(),
                map: OnceLock::new(),
            },
        }
    }
}

impl Kwargs {
    /// Whether `a` and `b` are the same shared map (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The map, copied only if it is shared.
    pub fn into_map(self) -> Map<String, Value> {
        Arc::unwrap_or_clone(self.0).into_map()
    }

    /// Kwargs read from `text` on first use.
    fn unparsed(text: &str) -> Self {
        Self(Arc::new(Parts {
            text: Some(text.into()),
            map: OnceLock::new(),
        }))
    }
}

impl Deref for Kwargs {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        self.0.map()
    }
}

impl DerefMut for Kwargs {
    /// Copies the map first if another `Kwargs` shares it.
    fn deref_mut(&mut self) -> &mut Self::Target {
        let parts = Arc::make_mut(&mut self.0);
        if parts.map.get().is_none() {
            parts.map = OnceLock::from(Parts::parse(parts.text.as_deref()));
        }
        // The text no longer describes the map once it is written.
        parts.text = None;
        parts.map.get_mut().expect("set just above")
    }
}

impl PartialEq for Kwargs {
    fn eq(&self, other: &Self) -> bool {
        Self::ptr_eq(self, other) || **self == **other
    }
}

impl From<Map<String, Value>> for Kwargs {
    fn from(map: Map<String, Value>) -> Self {
        Self(Arc::new(Parts {
            text: None,
            map: OnceLock::from(map),
        }))
    }
}

impl FromIterator<(String, Value)> for Kwargs {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Map<String, Value>>())
    }
}

impl fmt::Debug for Kwargs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for Kwargs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

/// How many kwargs texts each thread remembers: rows of a read arrive grouped by conversation
/// and request, so the same few texts repeat back to back.
const RECENT_TEXTS: usize = 4;

/// Longer texts are not remembered: that could hold megabytes per thread.
const LONGEST_REMEMBERED: usize = 4096;

thread_local! {
    /// Kwargs decoded lately on this thread (all from text), newest first, with their
    /// nesting depths.
    static RECENT: RefCell<Vec<(Kwargs, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The kwargs of the JSON object `raw`: those decoded from the same text lately on this
/// thread if there are any, else new ones, parsed on first use. `None` if `raw` is not an
/// object or nests deeper than `max_depth` levels (a flat object is one level).
///
/// Taking a [`RawValue`] is what makes the lazy parse safe: serde_json has checked the text's
/// syntax (strings, escapes, numbers) with the parser that will build the map. Only a `\u`
/// escape can still fail there (a lone surrogate), so texts with one are parsed at once.
pub(crate) fn from_object_text(raw: &RawValue, max_depth: usize) -> Option<Kwargs> {
    let text = raw.get();
    if !text.starts_with('{') {
        return None;
    }
    let decode = || {
        let shape = TextShape::of(text);
        let kwargs = if shape.unicode_escape {
            let map = serde_json::from_str::<Map<String, Value>>(text).ok()?;
            Kwargs(Arc::new(Parts {
                text: Some(text.into()),
                map: OnceLock::from(map),
            }))
        } else {
            Kwargs::unparsed(text)
        };
        Some((kwargs, shape.depth))
    };
    if text.len() > LONGEST_REMEMBERED {
        return decode().and_then(|(kwargs, depth)| (depth <= max_depth).then_some(kwargs));
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        let seen = recent
            .iter()
            .position(|(kwargs, _)| kwargs.0.text.as_deref() == Some(text));
        let (kwargs, depth) = match seen {
            Some(at) => {
                let hit = recent.remove(at);
                let found = hit.clone();
                recent.insert(0, hit);
                found
            }
            None => {
                let (kwargs, depth) = decode()?;
                recent.truncate(RECENT_TEXTS - 1);
                recent.insert(0, (kwargs.clone(), depth));
                (kwargs, depth)
            }
        };
        (depth <= max_depth).then_some(kwargs)
    })
}

/// What one pass over a valid JSON text finds without building anything.
struct TextShape {
    /// Levels of nesting: 0 for a scalar, 1 for a flat array or object.
    depth: usize,
    /// Whether a string holds a `\u` escape.
    unicode_escape: bool,
}

impl TextShape {
    fn of(text: &str) -> Self {
        let mut shape = TextShape {
            depth: 0,
            unicode_escape: false,
        };
        let (mut level, mut in_string, mut escaped) = (0usize, false, false);
        for &b in text.as_bytes() {
            if in_string {
                if escaped {
                    escaped = false;
                    shape.unicode_escape |= b == b'u';
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    level += 1;
                    shape.depth = shape.depth.max(level);
                }
                b'}' | b']' => level = level.saturating_sub(1),
                _ => {}
            }
        }
        shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_object_text` on `text`, which must be valid JSON.
    fn kw(text: &str, max_depth: usize) -> Option<Kwargs> {
        let raw = RawValue::from_string(text.to_owned()).expect("valid JSON");
        from_object_text(&raw, max_depth)
    }

    #[test]
    fn the_same_text_gives_the_same_map_and_others_do_not() {
        let a = kw(r#"{"a": 1}"#, 8).unwrap();
        let again = kw(r#"{"a": 1}"#, 8).unwrap();
        assert!(Kwargs::ptr_eq(&a, &again));
        let spaced = kw(r#"{"a":  1}"#, 8).unwrap();
        assert_eq!(spaced, a);
        assert!(!Kwargs::ptr_eq(&spaced, &a));
        assert!(kw("[1]", 8).is_none());
        assert!(kw("null", 8).is_none());
    }

    /// The texts a decode keeps unparsed give, when read, the map an eager parse gives; a
    /// text with a `\\u` escape is parsed at once, and refused if it has a lone surrogate.
    #[test]
    fn text_kept_for_later_reads_as_the_map_parsed_at_once() {
        let texts = [
            r#"{}"#,
            r#"{"locale": "en-GB", "client": {"app": "kestrel-web", "screen": [1179, 2556]}}"#,
            r#"{"q": "say \"hi\"\n", "path": "a\\b\/c", "n": -0.0, "big": 18446744073709551617}"#,
            r#"{"dup": 1, "dup": 2, "": null, "t": true, "x": 1e400}"#,
            r#"{"k\u00e9y": "\u2713 \ud83d\ude00"}"#,
            "{\"raw\": \"\u{503c} \u{2713}\"}",
        ];
        for text in texts {
            let eager: Map<String, Value> = serde_json::from_str(text).unwrap();
            let lazy = kw(text, 8).unwrap();
            let parsed_now = lazy.0.map.get().is_some();
            assert_eq!(parsed_now, text.contains("\\u"), "{text}");
            assert_eq!(*lazy, eager, "{text}");
            assert_eq!(lazy.clone().into_map(), eager, "{text}");
            assert_eq!(Kwargs::unparsed(text).into_map(), eager, "{text}");
        }
        assert!(kw(r#"{"lone": "\ud800"}"#, 8).is_none());
    }

    #[test]
    fn depth_is_read_from_the_text_as_from_the_map() {
        for (text, depth) in [
            ("{}", 1),
            (r#"{"a": 1}"#, 1),
            (r#"{"a": [1, {"b": []}]}"#, 4),
            (r#"{"s": "}]]]{{[\"[", "t": [[]]}"#, 3),
            (r#"{"s": "\\", "t": {"u": {}}}"#, 3),
        ] {
            assert_eq!(TextShape::of(text).depth, depth, "{text}");
            assert!(kw(text, depth).is_some(), "{text}");
            assert!(kw(text, depth - 1).is_none(), "{text}");
        }
    }

    /// Writing to kwargs that were never read copies the text's map, not the text: the
    /// other holders, and the next decode of the same text, keep the original.
    #[test]
    fn writing_unread_kwargs_leaves_the_shared_text_alone() {
        let text = r#"{"tenant": "helios-eu"}"#;
        let mut mine = kw(text, 8).unwrap();
        let theirs = kw(text, 8).unwrap();
        assert!(Kwargs::ptr_eq(&mine, &theirs));
        mine.insert("retry".into(), Value::from(3));
        assert_eq!(mine.len(), 2);
        assert_eq!(mine.0.text, None, "the text no longer describes the map");
        assert_eq!(theirs.len(), 1);
        let again = kw(text, 8).unwrap();
        assert!(Kwargs::ptr_eq(&again, &theirs));
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn only_the_latest_texts_are_remembered() {
        let first = kw(r#"{"n": 0}"#, 8).unwrap();
        for n in 1..=RECENT_TEXTS {
            kw(&format!(r#"{{"n": {n}}}"#), 8).unwrap();
        }
        let later = kw(r#"{"n": 0}"#, 8).unwrap();
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
            assert!(kw(deep, 2).is_none());
            assert!(kw(deep, 3).is_some());
        }
        let long = format!(
            r#"{{"pad": "{}", "a": [[1]]}}"#,
            "x".repeat(LONGEST_REMEMBERED)
        );
        assert!(kw(&long, 2).is_none());
        assert!(kw(&long, 3).is_some());
    }

    #[test]
    fn long_texts_are_parsed_every_time() {
        let long = format!(r#"{{"pad": "{}"}}"#, "x".repeat(LONGEST_REMEMBERED));
        let a = kw(&long, 8).unwrap();
        let b = kw(&long, 8).unwrap();
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
