//! Which grafi wrote a document: the wire format is a property of each event, so an event is
//! always written back in the format it came in.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// A grafi wire format.
///
/// The two cannot be converted into each other without inventing or dropping data (grafi
/// 0.0.36 embeds whole topic events with ids of their own, names topic types, and adds
/// `error_details`), so a store keeps each event in the dialect it was given.
///
/// ```
/// use grafi_events::Dialect;
/// assert_eq!("0.0.36".parse::<Dialect>().unwrap(), Dialect::V0_0_36);
/// assert_eq!(Dialect::V0_0_24.to_string(), "0.0.24");
/// assert_eq!(Dialect::default(), Dialect::V0_0_24);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// grafi 0.0.24: component fields prefixed by family (`tool_id`), message lists as JSON
    /// strings, topics named by `topic_name`. What this library writes unless told otherwise.
    #[default]
    V0_0_24,
    /// grafi 0.0.26 to 0.0.36: `id`/`name`/`type`, message arrays, embedded topic events,
    /// typed topics (`name`, `type`), `error_details`.
    V0_0_36,
}

impl Dialect {
    /// The `event_context` keys that show a dialect: any of the first five is grafi 0.0.24's
    /// (a field named by family, or `topic_name`); the last two together are grafi 0.0.36's.
    pub(crate) const CONTEXT_KEYS: [&'static str; 7] = [
        "topic_name",
        "tool_id",
        "node_id",
        "workflow_id",
        "assistant_id",
        "name",
        "type",
    ];

    /// Both, oldest first.
    pub const ALL: [Dialect; 2] = [Dialect::V0_0_24, Dialect::V0_0_36];

    /// The grafi version that names it, e.g. `"0.0.36"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::V0_0_24 => "0.0.24",
            Dialect::V0_0_36 => "0.0.36",
        }
    }

    /// The dialect of a document, read from its `event_context` (the only place every event
    /// type shows it): `None` when the context names neither format's fields, as for a type
    /// nobody registered.
    ///
    /// ```
    /// use grafi_events::Dialect;
    /// let doc: serde_json::Value = serde_json::json!({"event_context": {"name": "t", "type": "Topic", "offset": 0}});
    /// assert_eq!(Dialect::of_document(doc.as_object().unwrap()), Some(Dialect::V0_0_36));
    /// ```
    pub fn of_document(document: &Map<String, Value>) -> Option<Dialect> {
        document
            .get("event_context")
            .and_then(Value::as_object)
            .and_then(Dialect::of_context)
    }

    /// The dialect an `event_context` object is written in (see [`Dialect::of_document`]).
    pub fn of_context(context: &Map<String, Value>) -> Option<Dialect> {
        Dialect::of_context_keys(|key| context.contains_key(key))
    }

    /// [`Dialect::of_context`] from whether the context has each key, for decoders that do
    /// not hold it as a map.
    pub(crate) fn of_context_keys(has: impl Fn(&str) -> bool) -> Option<Dialect> {
        let [old @ .., name, type_] = Dialect::CONTEXT_KEYS;
        if old.iter().any(|k| has(k)) {
            Some(Dialect::V0_0_24)
        } else if has(name) && has(type_) {
            Some(Dialect::V0_0_36)
        } else {
            None
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a dialect this version knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a grafi dialect this version knows: {0:?} (expected 0.0.24 or 0.0.36)")]
pub struct UnknownDialect(pub String);

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let version = s.strip_prefix('v').unwrap_or(s);
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == version)
            .ok_or_else(|| UnknownDialect(s.to_owned()))
    }
}
