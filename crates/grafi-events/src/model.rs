//! The typed bodies of grafi's events.
//!
//! Assistant, workflow and tool events share one shape (a component plus message lists);
//! node events differ only in that their input is the topic events they consumed. So the
//! twelve component events are three generic structs, and [`crate::Event`]'s variant says
//! which of the twelve an event is.

use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::dialect::Dialect;
use crate::message::MessageList;
use crate::timestamp::Timestamp;

/// grafi's `event_version`; the only one grafi has written so far.
pub const EVENT_VERSION: &str = "1.0";

/// What every grafi event has, whatever its type.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMeta {
    /// Unique id (grafi: uuid4 hex), the idempotency key of every store.
    pub event_id: String,
    /// Always `"1.0"` in grafi 0.0.24 and 0.0.36.
    pub event_version: String,
    /// The top-level copy of the request id (grafi copies `invoke_context.assistant_request_id`).
    pub assistant_request_id: String,
    /// When the event happened.
    pub timestamp: Timestamp,
    /// `event_context.invoke_context`.
    pub invoke_context: InvokeContext,
    /// Fields the model does not know, kept so nothing is dropped.
    pub unknown: UnknownFields,
    /// The wire format the event is written in (the one it was read in).
    pub dialect: Dialect,
}

impl EventMeta {
    /// A fresh envelope for `invoke_context`: new uuid4-hex id, timestamp now.
    pub fn new(invoke_context: InvokeContext) -> Self {
        Self {
            event_id: crate::new_id(),
            event_version: EVENT_VERSION.to_owned(),
            assistant_request_id: invoke_context.assistant_request_id.clone(),
            timestamp: Timestamp::now(),
            invoke_context,
            unknown: UnknownFields::default(),
            dialect: Dialect::default(),
        }
    }
}

/// Fields of a document that its dialect's wire table does not name, by where they were found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnknownFields {
    /// At the top level of the document.
    pub top: Map<String, Value>,
    /// Inside `event_context` (beside `invoke_context`).
    pub context: Map<String, Value>,
    /// Inside `data`, when `data` is an object.
    pub data: Map<String, Value>,
}

/// An assistant, workflow or tool, as its events describe it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentInfo {
    /// `assistant_id` / `workflow_id` / `tool_id`.
    pub id: String,
    /// `…_name`.
    pub name: String,
    /// `…_type` (the Python class, e.g. `OpenAITool`).
    pub type_name: String,
}

impl ComponentInfo {
    /// A component with a fresh id.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self {
            id: crate::new_id(),
            name: name.into(),
            type_name: type_name.into(),
        }
    }
}

/// A node of a workflow, as its events describe it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeInfo {
    /// `node_id`.
    pub id: String,
    /// `node_name`.
    pub name: String,
    /// `node_type`.
    pub type_name: String,
    /// Topics the node consumes.
    pub subscribed_topics: Vec<String>,
    /// Topics the node publishes to.
    pub publish_to_topics: Vec<String>,
}

impl NodeInfo {
    /// A node with a fresh id and no topics.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self {
            id: crate::new_id(),
            name: name.into(),
            type_name: type_name.into(),
            ..Self::default()
        }
    }
}

/// What a component event was given or answered.
///
/// grafi 0.0.24 writes message lists everywhere but a node's input (the ConsumeFromTopic
/// events it read, whole). grafi 0.0.36 embeds topic events in more places: an assistant's or
/// workflow's input is the PublishToTopic event that started it, its answer the
/// ConsumeFromTopic events of its output topics, and a node's output the event it published.
/// The meaning is the same in both, so both dialects use this one type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Payload {
    /// Messages: a JSON string holding the list (0.0.24), or the list itself (0.0.36 tools).
    Messages(MessageList),
    /// Whole ConsumeFromTopic events.
    Consumed(Vec<ConsumeFromTopic>),
    /// One whole PublishToTopic event.
    Published(Box<PublishToTopic>),
}

impl Payload {
    /// The messages: the list itself, or the messages of an embedded PublishToTopic; `None`
    /// for consumed events (each has its own list, see [`Payload::consumed`]).
    pub fn messages(&self) -> Option<&MessageList> {
        match self {
            Payload::Messages(list) => Some(list),
            Payload::Published(event) => Some(&event.data),
            Payload::Consumed(_) => None,
        }
    }

    /// The embedded ConsumeFromTopic events, if that is what this is.
    pub fn consumed(&self) -> Option<&[ConsumeFromTopic]> {
        match self {
            Payload::Consumed(events) => Some(events),
            _ => None,
        }
    }

    /// The embedded PublishToTopic event, if that is what this is.
    pub fn published(&self) -> Option<&PublishToTopic> {
        match self {
            Payload::Published(event) => Some(event),
            _ => None,
        }
    }
}

impl From<MessageList> for Payload {
    fn from(list: MessageList) -> Self {
        Payload::Messages(list)
    }
}

impl From<Vec<ConsumeFromTopic>> for Payload {
    fn from(events: Vec<ConsumeFromTopic>) -> Self {
        Payload::Consumed(events)
    }
}

impl From<PublishToTopic> for Payload {
    fn from(event: PublishToTopic) -> Self {
        Payload::Published(Box::new(event))
    }
}

/// `*Invoke`: a component was called with `input_data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoke<C> {
    /// Envelope.
    pub meta: EventMeta,
    /// Who was invoked.
    pub component: C,
    /// What it was given.
    pub input_data: Payload,
}

/// `*Respond`: a component answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Respond<C> {
    /// Envelope.
    pub meta: EventMeta,
    /// Who answered.
    pub component: C,
    /// What it was given.
    pub input_data: Payload,
    /// What it answered.
    pub output_data: Payload,
}

/// `*Failed`: a component raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed<C> {
    /// Envelope.
    pub meta: EventMeta,
    /// Who failed.
    pub component: C,
    /// What it was given.
    pub input_data: Payload,
    /// The error; grafi records a string (often a traceback), but any JSON is kept.
    pub error: Value,
    /// grafi 0.0.36's structured error (type, message, nested `cause`, traceback, ids), when
    /// it recorded one; grafi 0.0.24 never does.
    pub error_details: Option<Value>,
}

impl<C> Failed<C> {
    /// The error as text, when grafi recorded a string.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_str()
    }
}

/// Assistant, workflow and tool invokes.
pub type ComponentInvoke = Invoke<ComponentInfo>;
/// Assistant, workflow and tool responds.
pub type ComponentRespond = Respond<ComponentInfo>;
/// Assistant, workflow and tool failures.
pub type ComponentFailed = Failed<ComponentInfo>;
/// `NodeInvoke`: the input is the ConsumeFromTopic events the node consumed, whole.
pub type NodeInvoke = Invoke<NodeInfo>;
/// `NodeRespond`.
pub type NodeRespond = Respond<NodeInfo>;
/// `NodeFailed`.
pub type NodeFailed = Failed<NodeInfo>;

/// `TopicEvent`: grafi's base topic event (grafi 0.0.24 itself cannot serialise one).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// The topic.
    pub topic_name: String,
    /// The topic's class (grafi 0.0.36's `type`, e.g. `AgentInputTopic`); `None` in 0.0.24.
    pub topic_type: Option<String>,
    /// Position in the topic.
    pub offset: i64,
    /// The messages.
    pub data: MessageList,
}

/// `PublishToTopic` and `OutputTopic`: messages published to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishToTopic {
    /// Envelope.
    pub meta: EventMeta,
    /// The consume events whose messages led to this publication.
    pub consumed_event_ids: Vec<String>,
    /// Publisher (node or workflow) name.
    pub publisher_name: String,
    /// Publisher type.
    pub publisher_type: String,
    /// The topic.
    pub topic_name: String,
    /// The topic's class (grafi 0.0.36's `type`, e.g. `AgentInputTopic`); `None` in 0.0.24.
    pub topic_type: Option<String>,
    /// Position in the topic.
    pub offset: i64,
    /// The messages.
    pub data: MessageList,
}

/// `ConsumeFromTopic`: a consumer read a topic position.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeFromTopic {
    /// Envelope.
    pub meta: EventMeta,
    /// Consumer (node or workflow) name.
    pub consumer_name: String,
    /// Consumer type.
    pub consumer_type: String,
    /// The topic.
    pub topic_name: String,
    /// The topic's class (grafi 0.0.36's `type`, e.g. `AgentInputTopic`); `None` in 0.0.24.
    pub topic_type: Option<String>,
    /// Position read.
    pub offset: i64,
    /// The messages read.
    pub data: MessageList,
}
