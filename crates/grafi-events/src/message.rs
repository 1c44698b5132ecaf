//! The chat messages events carry, and the JSON-string lists grafi stores them in.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::fields::{wrong_type, Fields};

/// A message list as grafi stores it: the text of a JSON array, inside a JSON string.
///
/// grafi writes `data.input_data`, `data.output_data` and a topic event's `data` as
/// `json.dumps(messages)`. The text is kept as written, so stored documents round-trip byte
/// for byte and recording never parses messages; [`MessageList::decode`] parses on demand.
///
/// A list decoded from a stored row keeps the escaped string it was found in until its text
/// is first read: unescaping the lists was the largest single cost of decoding an event, and
/// most reads (replay of a workflow's steps, a lookup by id) never look at the messages.
/// Clones share the text (the list is immutable), so a list is unescaped at most once. Once
/// read, such a list holds both forms; a list built in code holds only its text.
///
/// ```
/// use grafi_events::{Message, MessageList};
/// let list = MessageList::from_messages(&[Message::user("Hello")]);
/// assert!(list.as_str().starts_with("[{\"name\": null, \"message_id\": "));
/// assert_eq!(list.decode().unwrap()[0].content.as_text(), Some("Hello"));
/// ```
#[derive(Clone, Default)]
pub struct MessageList(Arc<Text>);

/// A list's text, and the escaped form it is still to be read from.
#[derive(Default)]
struct Text {
    /// The JSON text: set when built, or on first read of a list decoded from a document.
    json: OnceLock<String>,
    /// The body of the JSON string literal (between its quotes) the text is still to be
    /// unescaped from.
    ///
    /// Invariant: serde_json has checked the literal, and it holds no `\u` escape, so
    /// [`unescape`] reads it exactly as serde_json would.
    escaped: Option<Box<str>>,
}

impl MessageList {
    /// Wraps JSON text as found in a document (not checked until decoded).
    pub fn from_json(json: impl Into<String>) -> Self {
        Self(Arc::new(Text {
            json: OnceLock::from(json.into()),
            escaped: None,
        }))
    }

    /// Encodes messages exactly as grafi's `json.dumps(messages)` does.
    pub fn from_messages(messages: &[Message]) -> Self {
        Self::from_json(crate::python_json::encode(messages))
    }

    /// The list held by a JSON string literal, unescaped only when first read; `None` if
    /// `raw` is not a string or holds a `\u` escape that does not decode (a lone surrogate).
    ///
    /// Taking a [`RawValue`] is what makes the deferred read safe: serde_json has checked the
    /// literal (escapes, control characters). A `\u` escape can still fail, so a literal
    /// holding one is unescaped at once, by serde_json.
    pub(crate) fn from_string_literal(raw: &RawValue) -> Option<Self> {
        let literal = raw.get();
        let body = literal.strip_prefix('"')?.strip_suffix('"')?;
        if memchr::memchr(b'\\', body.as_bytes()).is_none() {
            return Some(Self::from_json(body));
        }
        if has_unicode_escape(body) {
            return serde_json::from_str::<String>(literal)
                .ok()
                .map(Self::from_json);
        }
        Some(Self(Arc::new(Text {
            json: OnceLock::new(),
            escaped: Some(body.into()),
        })))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        let text = &*self.0;
        text.json.get_or_init(|| match &text.escaped {
            Some(body) => unescape(body),
            None => String::new(),
        })
    }

    /// Parses the messages. grafi also accepts a single message object here.
    pub fn decode(&self) -> Result<Vec<Message>, DecodeError> {
        let value: Value = serde_json::from_str(self.as_str())
            .map_err(|e| DecodeError::new("", DecodeErrorKind::InvalidJson(e.to_string())))?;
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| Message::decode(Fields::from_value(item, format!("[{i}]"))?))
                .collect(),
            obj @ Value::Object(_) => Ok(vec![Message::decode(Fields::from_value(obj, "")?)?]),
            other => Err(wrong_type(String::new(), "array of messages", &other)),
        }
    }

    pub(crate) fn take(f: &mut Fields, key: &str) -> Result<Self, DecodeError> {
        Ok(Self::from_json(f.take_str(key)?))
    }

    pub(crate) fn from_value(value: Value, path: String) -> Result<Self, DecodeError> {
        match value {
            Value::String(s) => Ok(Self::from_json(s)),
            other => Err(wrong_type(
                path,
                "string (JSON text of a message list)",
                &other,
            )),
        }
    }
}

/// Whether a JSON string body holds a `\u` escape. (A message list's own escapes show as
/// `\\u` in its string, and are not: non-ASCII text written by Python is full of them. A
/// `\u` is an escape when an odd number of backslashes leads up to it.)
fn has_unicode_escape(body: &str) -> bool {
    static BACKSLASH_U: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\\u"));
    let bytes = body.as_bytes();
    BACKSLASH_U.find_iter(bytes).any(|at| {
        let backslashes = bytes[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        backslashes % 2 == 1
    })
}

/// The text of a JSON string body whose escapes are all single characters (no `\u`).
///
/// Anything else after a backslash cannot occur (see [`Text::escaped`]); it would be
/// kept as written rather than dropped.
fn unescape(body: &str) -> String {
    let mut text = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        text.push_str(&rest[..at]);
        let mut after = rest[at + 1..].chars();
        match after.next() {
            Some('"') => text.push('"'),
            Some('\\') => text.push('\\'),
            Some('/') => text.push('/'),
            Some('b') => text.push('\u{8}'),
            Some('f') => text.push('\u{c}'),
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('t') => text.push('\t'),
            Some(other) => {
                text.push('\\');
                text.push(other);
            }
            None => text.push('\\'),
        }
        rest = after.as_str();
    }
    text.push_str(rest);
    text
}

impl PartialEq for MessageList {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        match (&self.0.escaped, &other.0.escaped) {
            (Some(a), Some(b)) if a == b => true,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for MessageList {}

impl fmt::Debug for MessageList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageList")
            .field("json", &self.as_str())
            .finish()
    }
}

impl Serialize for MessageList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `content` of a message: OpenAI allows a string, a list of parts or an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `null`.
    Null,
    /// Plain text.
    Text(String),
    /// Content parts (`{"type": "text" | "image_url" | "input_audio", …}`).
    Parts(Vec<Value>),
    /// A dict or pydantic model dumped as an object.
    Object(Map<String, Value>),
    /// Anything else grafi let through (a number, a boolean), kept as it was.
    Other(Value),
}

impl Content {
    /// The text, when the content is plain text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(t) => Some(t),
            _ => None,
        }
    }

    fn from_value(v: Value) -> Self {
        match v {
            Value::Null => Content::Null,
            Value::String(s) => Content::Text(s),
            Value::Array(a) => Content::Parts(a),
            Value::Object(o) => Content::Object(o),
            other => Content::Other(other),
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Null => serializer.serialize_none(),
            Content::Text(t) => serializer.serialize_str(t),
            Content::Parts(p) => p.serialize(serializer),
            Content::Object(o) => o.serialize(serializer),
            Content::Other(v) => v.serialize(serializer),
        }
    }
}

/// grafi's `Message`: an OpenAI chat message plus grafi's id, timestamp and streaming flag.
///
/// The OpenAI sub-objects (`tool_calls`, `annotations`, `audio`, `function_call`, `tools`) are
/// kept as JSON values: their shapes follow the OpenAI API, not grafi.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Optional participant name.
    pub name: Option<String>,
    /// grafi's message id (uuid4 hex by default).
    pub message_id: String,
    /// Creation time in nanoseconds since the Unix epoch (`time.time_ns()`); kept as written.
    pub timestamp: serde_json::Number,
    /// The content.
    pub content: Content,
    /// The model's refusal, if it refused.
    pub refusal: Option<String>,
    /// Annotations (e.g. URL citations).
    pub annotations: Option<Value>,
    /// Audio output.
    pub audio: Option<Value>,
    /// `system`, `user`, `assistant`, `tool`, `function` or `developer`.
    pub role: String,
    /// For `tool` messages: the call answered.
    pub tool_call_id: Option<String>,
    /// Tools offered to the model.
    pub tools: Option<Value>,
    /// Deprecated OpenAI function call.
    pub function_call: Option<Value>,
    /// Tool calls the model made.
    pub tool_calls: Option<Value>,
    /// Whether this is a streaming chunk.
    pub is_streaming: bool,
    /// Fields grafi 0.0.24 does not write, kept verbatim.
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with a role and text content; fresh id, timestamp now.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        Self {
            name: None,
            message_id: crate::new_id(),
            timestamp: serde_json::Number::from(nanos),
            content: Content::Text(content.into()),
            refusal: None,
            annotations: None,
            audio: None,
            role: role.into(),
            tool_call_id: None,
            tools: None,
            function_call: None,
            tool_calls: None,
            is_streaming: false,
            extra: Map::new(),
        }
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }

    /// A `tool` message answering `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        let mut m = Self::new("tool", content);
        m.tool_call_id = Some(tool_call_id.into());
        m
    }

    fn decode(mut f: Fields) -> Result<Self, DecodeError> {
        let opt = |f: &mut Fields, key: &str| match f.take_opt_value(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        };
        let name = f.take_nullable_str("name")?;
        let message_id = f.take_str("message_id")?;
        let timestamp = match f.take_value("timestamp")? {
            Value::Number(n) => n,
            other => return Err(wrong_type(f.path_of("timestamp"), "integer", &other)),
        };
        let content = Content::from_value(f.take_opt_value("content").unwrap_or(Value::Null));
        let refusal = f.take_nullable_str("refusal")?;
        let annotations = opt(&mut f, "annotations");
        let audio = opt(&mut f, "audio");
        let role = f.take_str("role")?;
        let tool_call_id = f.take_nullable_str("tool_call_id")?;
        let tools = opt(&mut f, "tools");
        let function_call = opt(&mut f, "function_call");
        let tool_calls = opt(&mut f, "tool_calls");
        let is_streaming = match f.take_opt_value("is_streaming") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(other) => return Err(wrong_type(f.path_of("is_streaming"), "boolean", &other)),
        };
        Ok(Self {
            name,
            message_id,
            timestamp,
            content,
            refusal,
            annotations,
            audio,
            role,
            tool_call_id,
            tools,
            function_call,
            tool_calls,
            is_streaming,
            extra: f.into_rest(),
        })
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(13 + self.extra.len()))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("message_id", &self.message_id)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("content", &self.content)?;
        map.serialize_entry("refusal", &self.refusal)?;
        map.serialize_entry("annotations", &self.annotations)?;
        map.serialize_entry("audio", &self.audio)?;
        map.serialize_entry("role", &self.role)?;
        map.serialize_entry("tool_call_id", &self.tool_call_id)?;
        map.serialize_entry("tools", &self.tools)?;
        map.serialize_entry("function_call", &self.function_call)?;
        map.serialize_entry("tool_calls", &self.tool_calls)?;
        map.serialize_entry("is_streaming", &self.is_streaming)?;
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `from_string_literal` on `literal`, which must be valid JSON.
    fn lazy(literal: &str) -> Option<MessageList> {
        let raw = RawValue::from_string(literal.to_owned()).expect("valid JSON");
        MessageList::from_string_literal(&raw)
    }

    #[test]
    fn a_literal_kept_escaped_reads_as_serde_json_reads_it() {
        for literal in [
            r#""""#,
            r#""[]""#,
            r#""[{\"role\": \"user\", \"content\": \"a\\nb\"}]""#,
            r#""quote \" backslash \\ slash \/ controls \b\f\n\r\t end""#,
            r#""\\\\u0041 is a backslash then u0041, not an escape""#,
            r#""trailing backslash \\""#,
            "\"non-ASCII kept raw: é ✓ 😀\"",
            r#""escaped non-ASCII: \u00e9 \ud83d\ude00""#,
        ] {
            let expected: String = serde_json::from_str(literal).unwrap();
            let list = lazy(literal).unwrap();
            assert_eq!(list.as_str(), expected, "{literal}");
            assert_eq!(list, MessageList::from_json(expected), "{literal}");
        }
    }

    #[test]
    fn only_lists_without_unicode_escapes_stay_escaped() {
        assert!(lazy(r#""a\"b""#).unwrap().0.escaped.is_some());
        assert!(lazy(r#""[\"caf\\u00e9\"]""#).unwrap().0.escaped.is_some());
        assert!(lazy(r#""\\\u00e9""#).unwrap().0.escaped.is_none());
        assert!(lazy(r#""plain""#).unwrap().0.escaped.is_none());
        assert!(lazy(r#""\u00e9\"""#).unwrap().0.escaped.is_none());
    }

    #[test]
    fn a_lone_surrogate_or_a_non_string_is_refused() {
        assert!(lazy(r#""\ud800""#).is_none());
        assert!(lazy(r#""x\udc00y\"""#).is_none());
        assert!(lazy("[]").is_none());
        assert!(lazy("{}").is_none());
        assert!(lazy("null").is_none());
    }

    #[test]
    fn equal_texts_are_equal_however_they_were_escaped() {
        let slash = lazy(r#""a/b\"""#).unwrap();
        let escaped_slash = lazy(r#""a\/b\"""#).unwrap();
        assert_eq!(slash, escaped_slash);
        assert_ne!(slash, lazy(r#""a/c\"""#).unwrap());
        let copy = slash.clone();
        assert_eq!(copy.as_str(), "a/b\"");
        assert_eq!(slash.as_str(), "a/b\"");
        assert_eq!(format!("{slash:?}"), r#"MessageList { json: "a/b\"" }"#);
    }

    proptest! {
        #[test]
        fn any_text_escaped_by_serde_json_reads_back(text in any::<String>()) {
            let literal = serde_json::to_string(&text).unwrap();
            let list = lazy(&literal).unwrap();
            prop_assert_eq!(list.as_str(), text.as_str());
        }

        /// Texts whose escapes are all single characters: these stay escaped until read.
        #[test]
        fn text_with_single_character_escapes_reads_back(text in "[ -~\n\t\r\x08\x0cé]*") {
            let literal = serde_json::to_string(&text).unwrap();
            let list = lazy(&literal).unwrap();
            prop_assert_eq!(list.0.escaped.is_some(), literal.contains('\\'));
            prop_assert_eq!(list.as_str(), text.as_str());
        }
    }
}
