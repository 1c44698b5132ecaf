//! [`Event`]: one grafi event of any type, with the accessors every store needs.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::dialect::Dialect;
use crate::error::DecodeError;
use crate::event_type::EventType;
use crate::message::{Message, MessageList};
use crate::model::*;
use crate::timestamp::Timestamp;

/// One grafi event.
///
/// The sixteen built-in types are typed; an event type a user registered is
/// [`Event::Custom`]; a document whose type nobody registered is [`Event::Raw`], which keeps
/// the whole document and re-encodes it unchanged, so no stored event is ever dropped.
///
/// ```
/// use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
/// let ctx = InvokeContext::new("conv-1", "req-1");
/// let event = Event::tool_invoke(ctx, ComponentInfo::new("OpenAI Tool", "LLMTool"), &[Message::user("Hello")]);
/// assert_eq!(event.event_type(), "ToolInvoke");
/// assert_eq!(event.conversation_id(), "conv-1");
/// let decoded = grafi_events::decode_str(&event.to_json()).unwrap();
/// assert_eq!(decoded, event);
/// ```
///
/// `#[non_exhaustive]`: grafi adds event types, and a new version of this crate may give one a
/// variant of its own; a `match` keeps a `_` arm (where [`Event::Raw`] already stands for any
/// type this version does not know).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Event {
    AssistantInvoke(ComponentInvoke),
    AssistantRespond(ComponentRespond),
    AssistantFailed(ComponentFailed),
    WorkflowInvoke(ComponentInvoke),
    WorkflowRespond(ComponentRespond),
    WorkflowFailed(ComponentFailed),
    NodeInvoke(NodeInvoke),
    NodeRespond(NodeRespond),
    NodeFailed(NodeFailed),
    ToolInvoke(ComponentInvoke),
    ToolRespond(ComponentRespond),
    ToolFailed(ComponentFailed),
    TopicEvent(TopicEvent),
    PublishToTopic(PublishToTopic),
    ConsumeFromTopic(ConsumeFromTopic),
    OutputTopic(PublishToTopic),
    /// A user-registered event type (see [`crate::EventRegistry::register_custom`]).
    Custom(CustomEvent),
    /// A document whose `event_type` nobody registered, or a stored row that no longer decodes.
    Raw(RawEvent),
}

impl Event {
    /// The built-in type, `None` for custom and raw events.
    pub fn builtin_type(&self) -> Option<EventType> {
        Some(match self {
            Event::AssistantInvoke(_) => EventType::AssistantInvoke,
            Event::AssistantRespond(_) => EventType::AssistantRespond,
            Event::AssistantFailed(_) => EventType::AssistantFailed,
            Event::WorkflowInvoke(_) => EventType::WorkflowInvoke,
            Event::WorkflowRespond(_) => EventType::WorkflowRespond,
            Event::WorkflowFailed(_) => EventType::WorkflowFailed,
            Event::NodeInvoke(_) => EventType::NodeInvoke,
            Event::NodeRespond(_) => EventType::NodeRespond,
            Event::NodeFailed(_) => EventType::NodeFailed,
            Event::ToolInvoke(_) => EventType::ToolInvoke,
            Event::ToolRespond(_) => EventType::ToolRespond,
            Event::ToolFailed(_) => EventType::ToolFailed,
            Event::TopicEvent(_) => EventType::TopicEvent,
            Event::PublishToTopic(_) => EventType::PublishToTopic,
            Event::ConsumeFromTopic(_) => EventType::ConsumeFromTopic,
            Event::OutputTopic(_) => EventType::OutputTopic,
            Event::Custom(_) | Event::Raw(_) => return None,
        })
    }

    /// The `event_type` string.
    pub fn event_type(&self) -> &str {
        match self {
            Event::Custom(c) => &c.event_type,
            Event::Raw(r) => &r.event_type,
            other => other
                .builtin_type()
                .map(EventType::as_str)
                .unwrap_or_default(),
        }
    }

    /// The envelope; `None` for raw events, which keep only their document.
    pub fn meta(&self) -> Option<&EventMeta> {
        Some(match self {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e) => &e.meta,
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
                &e.meta
            }
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => &e.meta,
            Event::NodeInvoke(e) => &e.meta,
            Event::NodeRespond(e) => &e.meta,
            Event::NodeFailed(e) => &e.meta,
            Event::TopicEvent(e) => &e.meta,
            Event::PublishToTopic(e) | Event::OutputTopic(e) => &e.meta,
            Event::ConsumeFromTopic(e) => &e.meta,
            Event::Custom(e) => &e.meta,
            Event::Raw(_) => return None,
        })
    }

    /// Mutable envelope (e.g. to give a copied event a fresh id); `None` for raw events.
    pub fn meta_mut(&mut self) -> Option<&mut EventMeta> {
        Some(match self {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e) => {
                &mut e.meta
            }
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
                &mut e.meta
            }
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
                &mut e.meta
            }
            Event::NodeInvoke(e) => &mut e.meta,
            Event::NodeRespond(e) => &mut e.meta,
            Event::NodeFailed(e) => &mut e.meta,
            Event::TopicEvent(e) => &mut e.meta,
            Event::PublishToTopic(e) | Event::OutputTopic(e) => &mut e.meta,
            Event::ConsumeFromTopic(e) => &mut e.meta,
            Event::Custom(e) => &mut e.meta,
            Event::Raw(_) => return None,
        })
    }

    /// The wire format the event is written in: `None` for a user-registered type (whose
    /// payload writes its own fields) and for a raw document that shows neither format.
    pub fn dialect(&self) -> Option<Dialect> {
        match self {
            Event::Raw(r) => Dialect::of_document(&r.document),
            Event::Custom(_) => None,
            other => other.meta().map(|m| m.dialect),
        }
    }

    /// Why this event cannot be written as a document of its dialect, if it cannot: a type
    /// the dialect does not have (grafi 0.0.36 has no `OutputTopic` or `TopicEvent`), a data
    /// slot whose shape the dialect does not have there (say, messages where grafi 0.0.36
    /// embeds the PublishToTopic event, as when a 0.0.24 event is relabelled 0.0.36), or an
    /// embedded event of another dialect. grafi could not decode such a document, so stores
    /// refuse it. Names the field.
    ///
    /// ```
    /// use grafi_events::{ComponentInfo, Dialect, Event, InvokeContext, Message};
    /// let mut event = Event::assistant_invoke(InvokeContext::new("c", "r"), ComponentInfo::new("A", "Assistant"), &[Message::user("hi")]);
    /// assert_eq!(event.shape_error(), None);
    /// event.meta_mut().unwrap().dialect = Dialect::V0_0_36;
    /// assert!(event.shape_error().unwrap().contains("data.input_data"));
    /// ```
    pub fn shape_error(&self) -> Option<String> {
        use crate::wire::{data_shape, fits, has_type, Family};
        let ty = self.builtin_type()?;
        let dialect = self.meta()?.dialect;
        if !has_type(dialect, ty) {
            return Some(format!(
                "grafi {dialect} has no {ty} events: it could not read this one back"
            ));
        }
        let family = Family::of(ty);
        let (input, output) = match self {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e) => {
                (&e.input_data, None)
            }
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
                (&e.input_data, Some(&e.output_data))
            }
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
                (&e.input_data, None)
            }
            Event::NodeInvoke(e) => (&e.input_data, None),
            Event::NodeRespond(e) => (&e.input_data, Some(&e.output_data)),
            Event::NodeFailed(e) => (&e.input_data, None),
            _ => return None,
        };
        let slots = [
            ("input_data", false, Some(input)),
            ("output_data", true, output),
        ];
        slots.into_iter().find_map(|(key, is_output, payload)| {
            let shape = data_shape(dialect, family, is_output);
            let payload = payload?;
            (!fits(dialect, shape, payload)).then(|| {
                format!(
                    "data.{key} of a grafi {dialect} {ty} must be {}, all in dialect {dialect}",
                    shape.describe()
                )
            })
        })
    }

    /// The event id.
    pub fn event_id(&self) -> &str {
        match self {
            Event::Raw(r) => &r.event_id,
            other => other
                .meta()
                .map(|m| m.event_id.as_str())
                .unwrap_or_default(),
        }
    }

    /// The top-level `assistant_request_id` (what grafi indexes).
    pub fn assistant_request_id(&self) -> &str {
        match self {
            Event::Raw(r) => &r.assistant_request_id,
            other => other
                .meta()
                .map(|m| m.assistant_request_id.as_str())
                .unwrap_or_default(),
        }
    }

    /// `event_context.invoke_context.conversation_id`.
    pub fn conversation_id(&self) -> &str {
        match self {
            Event::Raw(r) => &r.conversation_id,
            other => other
                .meta()
                .map(|m| m.invoke_context.conversation_id.as_str())
                .unwrap_or_default(),
        }
    }

    /// The invoke context; `None` for raw events.
    pub fn invoke_context(&self) -> Option<&InvokeContext> {
        self.meta().map(|m| &m.invoke_context)
    }

    /// The timestamp as written.
    pub fn timestamp(&self) -> &Timestamp {
        match self {
            Event::Raw(r) => &r.timestamp,
            other => match other.meta() {
                Some(m) => &m.timestamp,
                None => unreachable!("only raw events lack an envelope"),
            },
        }
    }

    /// The instant, in UTC.
    pub fn utc(&self) -> DateTime<Utc> {
        self.timestamp().utc()
    }

    /// Topic name and offset for the four topic event types.
    pub fn topic(&self) -> Option<(&str, i64)> {
        match self {
            Event::TopicEvent(e) => Some((&e.topic_name, e.offset)),
            Event::PublishToTopic(e) | Event::OutputTopic(e) => Some((&e.topic_name, e.offset)),
            Event::ConsumeFromTopic(e) => Some((&e.topic_name, e.offset)),
            _ => None,
        }
    }

    /// Whether this is a topic's own record (`PublishToTopic`, `TopicEvent`): what
    /// `get_topic_events` returns, as in grafi.
    pub fn is_topic_record(&self) -> bool {
        matches!(self, Event::PublishToTopic(_) | Event::TopicEvent(_))
    }

    /// The input messages of assistant, workflow and tool events, the messages of topic events.
    pub fn input_messages(&self) -> Option<&MessageList> {
        match self {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e) => {
                e.input_data.messages()
            }
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
                e.input_data.messages()
            }
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
                e.input_data.messages()
            }
            Event::TopicEvent(e) => Some(&e.data),
            Event::PublishToTopic(e) | Event::OutputTopic(e) => Some(&e.data),
            Event::ConsumeFromTopic(e) => Some(&e.data),
            _ => None,
        }
    }

    /// The output messages of `*Respond` events.
    pub fn output_messages(&self) -> Option<&MessageList> {
        match self {
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
                e.output_data.messages()
            }
            Event::NodeRespond(e) => e.output_data.messages(),
            _ => None,
        }
    }

    /// The error of `*Failed` events.
    pub fn error(&self) -> Option<&Value> {
        match self {
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
                Some(&e.error)
            }
            Event::NodeFailed(e) => Some(&e.error),
            _ => None,
        }
    }
}

macro_rules! component_constructors {
    ($family:literal, $invoke:ident, $respond:ident, $failed:ident,
     $new_invoke:ident, $new_respond:ident, $new_failed:ident) => {
        #[doc = concat!("A new `", $family, "Invoke`: fresh id, timestamp now.")]
        pub fn $new_invoke(
            ctx: InvokeContext,
            component: ComponentInfo,
            input: &[Message],
        ) -> Self {
            Event::$invoke(Invoke {
                meta: EventMeta::new(ctx),
                component,
                input_data: MessageList::from_messages(input).into(),
            })
        }

        #[doc = concat!("A new `", $family, "Respond`: fresh id, timestamp now.")]
        pub fn $new_respond(
            ctx: InvokeContext,
            component: ComponentInfo,
            input: &[Message],
            output: &[Message],
        ) -> Self {
            Event::$respond(Respond {
                meta: EventMeta::new(ctx),
                component,
                input_data: MessageList::from_messages(input).into(),
                output_data: MessageList::from_messages(output).into(),
            })
        }

        #[doc = concat!("A new `", $family, "Failed`: fresh id, timestamp now.")]
        pub fn $new_failed(
            ctx: InvokeContext,
            component: ComponentInfo,
            input: &[Message],
            error: impl Into<String>,
        ) -> Self {
            Event::$failed(Failed {
                meta: EventMeta::new(ctx),
                component,
                input_data: MessageList::from_messages(input).into(),
                error: Value::String(error.into()),
                error_details: None,
            })
        }
    };
}

/// Constructors for Rust callers: ids default to a fresh uuid4 hex and timestamps to now,
/// like grafi's defaults.
impl Event {
    component_constructors!(
        "Assistant",
        AssistantInvoke,
        AssistantRespond,
        AssistantFailed,
        assistant_invoke,
        assistant_respond,
        assistant_failed
    );
    component_constructors!(
        "Workflow",
        WorkflowInvoke,
        WorkflowRespond,
        WorkflowFailed,
        workflow_invoke,
        workflow_respond,
        workflow_failed
    );
    component_constructors!(
        "Tool",
        ToolInvoke,
        ToolRespond,
        ToolFailed,
        tool_invoke,
        tool_respond,
        tool_failed
    );

    /// A new `NodeInvoke` on the consume events the node read.
    pub fn node_invoke(
        ctx: InvokeContext,
        node: NodeInfo,
        consumed: Vec<ConsumeFromTopic>,
    ) -> Self {
        Event::NodeInvoke(Invoke {
            meta: EventMeta::new(ctx),
            component: node,
            input_data: consumed.into(),
        })
    }

    /// A new `NodeRespond`.
    pub fn node_respond(
        ctx: InvokeContext,
        node: NodeInfo,
        consumed: Vec<ConsumeFromTopic>,
        output: &[Message],
    ) -> Self {
        Event::NodeRespond(Respond {
            meta: EventMeta::new(ctx),
            component: node,
            input_data: consumed.into(),
            output_data: MessageList::from_messages(output).into(),
        })
    }

    /// A new `NodeFailed`.
    pub fn node_failed(
        ctx: InvokeContext,
        node: NodeInfo,
        consumed: Vec<ConsumeFromTopic>,
        error: impl Into<String>,
    ) -> Self {
        Event::NodeFailed(Failed {
            meta: EventMeta::new(ctx),
            component: node,
            input_data: consumed.into(),
            error: Value::String(error.into()),
            error_details: None,
        })
    }

    /// A new `PublishToTopic`.
    pub fn publish_to_topic(
        ctx: InvokeContext,
        publisher: (&str, &str),
        topic: (&str, i64),
        consumed_event_ids: Vec<String>,
        messages: &[Message],
    ) -> Self {
        Event::PublishToTopic(PublishToTopic::new(
            ctx,
            publisher,
            topic,
            consumed_event_ids,
            messages,
        ))
    }

    /// A new `OutputTopic`.
    pub fn output_topic(
        ctx: InvokeContext,
        publisher: (&str, &str),
        topic: (&str, i64),
        consumed_event_ids: Vec<String>,
        messages: &[Message],
    ) -> Self {
        Event::OutputTopic(PublishToTopic::new(
            ctx,
            publisher,
            topic,
            consumed_event_ids,
            messages,
        ))
    }
}

impl PublishToTopic {
    /// A publication by `(publisher_name, publisher_type)` at `(topic_name, offset)`.
    pub fn new(
        ctx: InvokeContext,
        (publisher_name, publisher_type): (&str, &str),
        (topic_name, offset): (&str, i64),
        consumed_event_ids: Vec<String>,
        messages: &[Message],
    ) -> Self {
        Self {
            meta: EventMeta::new(ctx),
            consumed_event_ids,
            publisher_name: publisher_name.to_owned(),
            publisher_type: publisher_type.to_owned(),
            topic_name: topic_name.to_owned(),
            topic_type: None,
            offset,
            data: MessageList::from_messages(messages),
        }
    }
}

impl ConsumeFromTopic {
    /// A consumption by `(consumer_name, consumer_type)` of `(topic_name, offset)`.
    pub fn new(
        ctx: InvokeContext,
        (consumer_name, consumer_type): (&str, &str),
        (topic_name, offset): (&str, i64),
        messages: &[Message],
    ) -> Self {
        Self {
            meta: EventMeta::new(ctx),
            consumer_name: consumer_name.to_owned(),
            consumer_type: consumer_type.to_owned(),
            topic_name: topic_name.to_owned(),
            topic_type: None,
            offset,
            data: MessageList::from_messages(messages),
        }
    }
}

impl From<ConsumeFromTopic> for Event {
    fn from(e: ConsumeFromTopic) -> Self {
        Event::ConsumeFromTopic(e)
    }
}

/// The body of a user-defined event type: what goes in `event_context` (beside
/// `invoke_context`) and in `data`.
///
/// ```
/// use grafi_events::{CustomPayload, EventRegistry};
/// use serde_json::{json, Map, Value};
///
/// #[derive(Debug, PartialEq)]
/// struct Heartbeat { agent: String }
///
/// impl CustomPayload for Heartbeat {
///     fn context_fields(&self) -> Map<String, Value> {
///         let mut m = Map::new();
///         m.insert("agent".into(), json!(self.agent));
///         m
///     }
///     fn data(&self) -> Value { json!({}) }
///     fn as_any(&self) -> &dyn std::any::Any { self }
/// }
///
/// let mut registry = EventRegistry::default();
/// registry.register_custom("Heartbeat", |context, _data| {
///     let agent = context.get("agent").and_then(Value::as_str).unwrap_or_default();
///     Ok(Heartbeat { agent: agent.to_owned() })
/// });
/// let doc = r#"{"event_id": "e1", "event_version": "1.0", "assistant_request_id": "r",
///   "event_type": "Heartbeat", "timestamp": "2025-07-08T09:14:27+00:00",
///   "event_context": {"agent": "a1", "invoke_context": {"conversation_id": "c",
///   "invoke_id": "i", "assistant_request_id": "r", "user_id": null, "kwargs": null}}, "data": {}}"#;
/// let event = registry.decode_str(doc).unwrap();
/// let grafi_events::Event::Custom(custom) = &event else { panic!() };
/// assert_eq!(custom.payload::<Heartbeat>().unwrap().agent, "a1");
/// ```
pub trait CustomPayload: fmt::Debug + Send + Sync + 'static {
    /// Fields of `event_context` other than `invoke_context`.
    fn context_fields(&self) -> Map<String, Value>;
    /// The `data` value.
    fn data(&self) -> Value;
    /// For downcasting with [`CustomEvent::payload`].
    fn as_any(&self) -> &dyn Any;
}

/// An event of a type the user registered.
#[derive(Debug, Clone)]
pub struct CustomEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// The registered `event_type`.
    pub event_type: String,
    body: Arc<dyn CustomPayload>,
    context: Map<String, Value>,
    data: Value,
}

impl CustomEvent {
    /// Wraps a user payload; its context and data are encoded once, here.
    pub fn new(
        meta: EventMeta,
        event_type: impl Into<String>,
        body: Arc<dyn CustomPayload>,
    ) -> Self {
        let context = body.context_fields();
        let data = body.data();
        Self {
            meta,
            event_type: event_type.into(),
            body,
            context,
            data,
        }
    }

    /// The body as the user's type.
    pub fn payload<T: CustomPayload>(&self) -> Option<&T> {
        self.body.as_any().downcast_ref()
    }

    /// `event_context` without `invoke_context`.
    pub fn context_fields(&self) -> &Map<String, Value> {
        &self.context
    }

    /// `data`.
    pub fn data(&self) -> &Value {
        &self.data
    }
}

impl PartialEq for CustomEvent {
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta
            && self.event_type == other.event_type
            && self.context == other.context
            && self.data == other.data
    }
}

/// A document kept whole: its type is unknown, or it no longer decodes.
///
/// The identifying fields are read out so stores can index it; the document re-encodes
/// exactly as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// `event_id`.
    pub event_id: String,
    /// `event_type`.
    pub event_type: String,
    /// `assistant_request_id` (empty if absent).
    pub assistant_request_id: String,
    /// `event_context.invoke_context.conversation_id` (empty if absent).
    pub conversation_id: String,
    /// `timestamp`.
    pub timestamp: Timestamp,
    /// The whole document.
    pub document: Map<String, Value>,
    /// Why a registered type failed to decode it; `None` when the type is simply unknown.
    pub decode_error: Option<DecodeError>,
    /// Top-level members of `document` held as JSON *text* (in a `Value::String`) because no
    /// `serde_json::Value` can hold them: a lone UTF-16 surrogate escape (Python's `json.dumps`
    /// writes one for such a string) or nesting deeper than serde_json reads. Every encoder
    /// writes that text back as JSON, never as a string; empty for almost every event.
    pub json_text_members: Vec<String>,
}

impl RawEvent {
    /// A document kept whole, with its timestamp (which a caller may have read from elsewhere,
    /// e.g. a store's column) and why it did not decode. The id, type, request and
    /// conversation are read out of the document (empty where it lacks them as strings).
    pub fn from_document(
        document: Map<String, Value>,
        timestamp: Timestamp,
        decode_error: Option<DecodeError>,
    ) -> Self {
        let text =
            |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
        Self {
            event_id: text(document.get("event_id")),
            event_type: text(document.get("event_type")),
            assistant_request_id: text(document.get("assistant_request_id")),
            conversation_id: text(
                document
                    .get("event_context")
                    .and_then(|c| c.get("invoke_context"))
                    .and_then(|c| c.get("conversation_id")),
            ),
            timestamp,
            document,
            decode_error,
            json_text_members: Vec::new(),
        }
    }

    /// Whether `document[key]` is JSON text to be written as it is (see
    /// [`json_text_members`](Self::json_text_members)).
    pub fn is_json_text(&self, key: &str) -> bool {
        self.json_text_members.iter().any(|k| k == key)
    }
}
