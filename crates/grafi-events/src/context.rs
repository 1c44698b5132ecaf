//! `InvokeContext`: who and what an event belongs to.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::fields::Fields;
use crate::kwargs::Kwargs;

/// grafi's `InvokeContext`, found at `event_context.invoke_context` in every event.
///
/// ```
/// use grafi_events::InvokeContext;
/// let ctx = InvokeContext::new("conv-1", "req-1").with_user_id("alice");
/// assert_eq!(ctx.conversation_id, "conv-1");
/// assert_eq!(ctx.invoke_id.len(), 32);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeContext {
    /// A conversation between a user and an assistant; spans many requests.
    pub conversation_id: String,
    /// One invoke of the conversation (may involve several agents).
    pub invoke_id: String,
    /// Created when an assistant receives a request from the user.
    pub assistant_request_id: String,
    /// `null` is allowed; an absent key reads as `""`, grafi's default.
    pub user_id: Option<String>,
    /// Free-form context passed through the workflow; `null` is allowed; absent reads as `{}`.
    /// Shared between events (see [`Kwargs`]).
    pub kwargs: Option<Kwargs>,
    /// Fields grafi does not write, kept verbatim.
    pub extra: Map<String, Value>,
}

impl InvokeContext {
    /// A context for a conversation and request, with a fresh invoke id, `user_id` `""` and
    /// empty `kwargs` (grafi's defaults).
    pub fn new(
        conversation_id: impl Into<String>,
        assistant_request_id: impl Into<String>,
    ) -> Self {
        Self {
            conversation_id: conversation_id.into(),
            invoke_id: crate::new_id(),
            assistant_request_id: assistant_request_id.into(),
            user_id: Some(String::new()),
            kwargs: Some(Kwargs::default()),
            extra: Map::new(),
        }
    }

    /// Sets `user_id`.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets one entry of `kwargs`.
    pub fn with_kwarg(mut self, key: impl Into<String>, value: Value) -> Self {
        self.kwargs
            .get_or_insert_with(Kwargs::default)
            .insert(key.into(), value);
        self
    }

    pub(crate) fn decode(mut f: Fields) -> Result<Self, DecodeError> {
        let conversation_id = f.take_str("conversation_id")?;
        let invoke_id = f.take_str("invoke_id")?;
        let assistant_request_id = f.take_str("assistant_request_id")?;
        let user_id = match f.take_opt_value("user_id") {
            None => Some(String::new()),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(crate::fields::wrong_type(
                    f.path_of("user_id"),
                    "string or null",
                    &other,
                ))
            }
        };
        let kwargs = match f.take_opt_value("kwargs") {
            None => Some(Kwargs::default()),
            Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(Kwargs::from(m)),
            Some(other) => {
                return Err(crate::fields::wrong_type(
                    f.path_of("kwargs"),
                    "object or null",
                    &other,
                ))
            }
        };
        Ok(Self {
            conversation_id,
            invoke_id,
            assistant_request_id,
            user_id,
            kwargs,
            extra: f.into_rest(),
        })
    }
}

impl Serialize for InvokeContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5 + self.extra.len()))?;
        map.serialize_entry("conversation_id", &self.conversation_id)?;
        map.serialize_entry("invoke_id", &self.invoke_id)?;
        map.serialize_entry("assistant_request_id", &self.assistant_request_id)?;
        map.serialize_entry("user_id", &self.user_id)?;
        map.serialize_entry("kwargs", &self.kwargs)?;
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
