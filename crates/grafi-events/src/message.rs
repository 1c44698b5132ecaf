//! The chat messages events carry, and the JSON-string lists grafi stores them in.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::fields::{wrong_type, Fields};

/// A message list as grafi stores it: the text of a JSON array, inside a JSON string.
///
/// grafi writes `data.input_data`, `data.output_data` and a topic event's `data` as
/// `json.dumps(messages)`. The text is kept as written, so stored documents round-trip byte
/// for byte and recording never parses messages; [`MessageList::decode`] parses on demand.
///
/// ```
/// use grafi_events::{Message, MessageList};
/// let list = MessageList::from_messages(&[Message::user("Hello")]);
/// assert!(list.as_str().starts_with("[{\"name\": null, \"message_id\": "));
/// assert_eq!(list.decode().unwrap()[0].content.as_text(), Some("Hello"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageList {
    json: String,
}

impl MessageList {
    /// Wraps JSON text as found in a document (not checked until decoded).
    pub fn from_json(json: impl Into<String>) -> Self {
        Self { json: json.into() }
    }

    /// Encodes messages exactly as grafi's `json.dumps(messages)` does.
    pub fn from_messages(messages: &[Message]) -> Self {
        Self {
            json: crate::python_json::to_string(messages),
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// Parses the messages. grafi also accepts a single message object here.
    pub fn decode(&self) -> Result<Vec<Message>, DecodeError> {
        let value: Value = serde_json::from_str(&self.json)
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

impl Serialize for MessageList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.json)
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
