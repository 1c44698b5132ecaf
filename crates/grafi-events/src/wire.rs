//! The wire table of each dialect: which key holds which field, in which order, and what
//! shape each `data` slot has. The decoder and the encoder both read it, so a field is
//! spelled in one place per dialect, and the next grafi format is a new table.

use crate::dialect::Dialect;
use crate::event_type::EventType;
use crate::message::MessageList;
use crate::model::{
    ComponentInfo, ConsumeFromTopic, EventMeta, NodeInfo, PublishToTopic, TopicEvent,
};

/// A field of `event_context`, whatever a dialect calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Id,
    Name,
    Type,
    InvokeContext,
    SubscribedTopics,
    PublishToTopics,
    ConsumedEventIds,
    PublisherName,
    PublisherType,
    ConsumerName,
    ConsumerType,
    TopicName,
    TopicType,
    Offset,
}

/// What a context field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    List,
    Int,
    Object,
}

impl Ctx {
    pub(crate) fn kind(self) -> Kind {
        match self {
            Ctx::SubscribedTopics | Ctx::PublishToTopics | Ctx::ConsumedEventIds => Kind::List,
            Ctx::Offset => Kind::Int,
            Ctx::InvokeContext => Kind::Object,
            _ => Kind::Str,
        }
    }
}

/// Every `event_context` key some dialect names, once, with what it holds (one key holds
/// the same kind of value in every family and dialect): the fields of the fast decoder, which
/// holds their values in an array of this size.
pub(crate) const MAX_CONTEXT_KEYS: usize = 24;

/// The wire tables indexed for the fast decoder, built once from [`context_layout`].
struct KeyIndex {
    /// Keys by their length in bytes: the few keys of one length are compared.
    by_len: Vec<Vec<(&'static str, usize, Kind)>>,
    /// `(dialect, family)` → the layout with each key's index (`None`: `invoke_context`).
    layouts: Vec<Vec<(Ctx, Option<usize>)>>,
    /// Indices of the keys [`Dialect::of_context_keys`] looks at.
    dialect_keys: [(&'static str, Option<usize>); 7],
}

fn key_index() -> &'static KeyIndex {
    static INDEX: std::sync::LazyLock<KeyIndex> = std::sync::LazyLock::new(|| {
        let mut keys: Vec<(&'static str, Kind)> = Vec::new();
        for dialect in Dialect::ALL {
            for family in Family::ALL {
                for &(field, key) in context_layout(dialect, family) {
                    if field == Ctx::InvokeContext {
                        continue;
                    }
                    match keys.iter().find(|(k, _)| *k == key) {
                        Some((_, kind)) => assert_eq!(*kind, field.kind(), "{key}"),
                        None => keys.push((key, field.kind())),
                    }
                }
            }
        }
        assert!(keys.len() <= MAX_CONTEXT_KEYS, "raise MAX_CONTEXT_KEYS");
        let index_of = |key: &str| keys.iter().position(|(k, _)| *k == key);
        let mut by_len: Vec<Vec<(&'static str, usize, Kind)>> = Vec::new();
        for (i, &(key, kind)) in keys.iter().enumerate() {
            if by_len.len() <= key.len() {
                by_len.resize_with(key.len() + 1, Vec::new);
            }
            by_len[key.len()].push((key, i, kind));
        }
        let mut layouts = Vec::new();
        for dialect in Dialect::ALL {
            for family in Family::ALL {
                layouts.push(
                    context_layout(dialect, family)
                        .iter()
                        .map(|&(field, key)| (field, index_of(key)))
                        .collect(),
                );
            }
        }
        let dialect_keys = Dialect::CONTEXT_KEYS.map(|key| (key, index_of(key)));
        KeyIndex {
            by_len,
            layouts,
            dialect_keys,
        }
    });
    &INDEX
}

/// The index of an `event_context` key (below [`MAX_CONTEXT_KEYS`]) and its kind.
pub(crate) fn context_key(key: &str) -> Option<(usize, Kind)> {
    key_index()
        .by_len
        .get(key.len())?
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|&(_, i, kind)| (i, kind))
}

/// [`context_layout`] with each key's [`context_key`] index.
pub(crate) fn indexed_layout(dialect: Dialect, family: Family) -> &'static [(Ctx, Option<usize>)] {
    let d = Dialect::ALL.iter().position(|&x| x == dialect).unwrap_or(0);
    &key_index().layouts[d * Family::ALL.len() + family as usize]
}

/// The dialect whose keys (by [`context_key`] index) are set, by
/// [`Dialect::of_context_keys`]'s rule.
pub(crate) fn dialect_of_keys(is_set: impl Fn(usize) -> bool) -> Option<Dialect> {
    let keys = &key_index().dialect_keys;
    Dialect::of_context_keys(|key| {
        keys.iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, i)| *i)
            .is_some_and(&is_set)
    })
}

/// How a `data` slot is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON string holding a message list (`json.dumps(messages)`).
    MessageText,
    /// A message list as a JSON array.
    MessageArray,
    /// One embedded PublishToTopic document.
    Published,
    /// An array of embedded ConsumeFromTopic documents.
    ConsumedList,
}

impl Shape {
    /// What a slot of this shape holds, for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Shape::MessageText | Shape::MessageArray => "a message list",
            Shape::Published => "one embedded PublishToTopic event",
            Shape::ConsumedList => "a list of embedded ConsumeFromTopic events",
        }
    }
}

/// The families whose events share a context layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Assistant,
    Workflow,
    Tool,
    Node,
    Publish,
    Consume,
    Topic,
}

impl Family {
    pub(crate) const ALL: [Family; 7] = [
        Family::Assistant,
        Family::Workflow,
        Family::Tool,
        Family::Node,
        Family::Publish,
        Family::Consume,
        Family::Topic,
    ];

    pub(crate) fn of(ty: EventType) -> Family {
        use EventType as T;
        match ty {
            T::AssistantInvoke | T::AssistantRespond | T::AssistantFailed => Family::Assistant,
            T::WorkflowInvoke | T::WorkflowRespond | T::WorkflowFailed => Family::Workflow,
            T::ToolInvoke | T::ToolRespond | T::ToolFailed => Family::Tool,
            T::NodeInvoke | T::NodeRespond | T::NodeFailed => Family::Node,
            T::PublishToTopic | T::OutputTopic => Family::Publish,
            T::ConsumeFromTopic => Family::Consume,
            T::TopicEvent => Family::Topic,
        }
    }
}

/// Whether grafi of `dialect` has (writes and reads back) events of type `ty`: grafi 0.0.36
/// dropped `OutputTopic` (it publishes to an `AgentOutputTopic` instead), and its codec cannot
/// write a `TopicEvent` and skips one when reading.
pub(crate) fn has_type(dialect: Dialect, ty: EventType) -> bool {
    !(dialect == Dialect::V0_0_36 && matches!(ty, EventType::OutputTopic | EventType::TopicEvent))
}

/// `event_context` of a family in a dialect: its fields in the order grafi writes them.
pub(crate) fn context_layout(dialect: Dialect, family: Family) -> &'static [(Ctx, &'static str)] {
    use Ctx::*;
    match (dialect, family) {
        (Dialect::V0_0_24, Family::Assistant) => &[
            (Id, "assistant_id"),
            (Name, "assistant_name"),
            (Type, "assistant_type"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Workflow) => &[
            (Id, "workflow_id"),
            (Name, "workflow_name"),
            (Type, "workflow_type"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Tool) => &[
            (Id, "tool_id"),
            (Name, "tool_name"),
            (Type, "tool_type"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Node) => &[
            (Id, "node_id"),
            (SubscribedTopics, "subscribed_topics"),
            (PublishToTopics, "publish_to_topics"),
            (Name, "node_name"),
            (Type, "node_type"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Publish) => &[
            (ConsumedEventIds, "consumed_event_ids"),
            (PublisherName, "publisher_name"),
            (PublisherType, "publisher_type"),
            (TopicName, "topic_name"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Consume) => &[
            (ConsumerName, "consumer_name"),
            (ConsumerType, "consumer_type"),
            (TopicName, "topic_name"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_24, Family::Topic) => &[
            (TopicName, "topic_name"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_36, Family::Assistant | Family::Workflow | Family::Tool) => &[
            (Id, "id"),
            (Name, "name"),
            (Type, "type"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_36, Family::Node) => &[
            (Id, "id"),
            (Name, "name"),
            (Type, "type"),
            (InvokeContext, "invoke_context"),
            (SubscribedTopics, "subscribed_topics"),
            (PublishToTopics, "publish_to_topics"),
        ],
        (Dialect::V0_0_36, Family::Publish) => &[
            (ConsumedEventIds, "consumed_event_ids"),
            (PublisherName, "publisher_name"),
            (PublisherType, "publisher_type"),
            (TopicName, "name"),
            (TopicType, "type"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_36, Family::Consume) => &[
            (ConsumerName, "consumer_name"),
            (ConsumerType, "consumer_type"),
            (TopicName, "name"),
            (TopicType, "type"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
        (Dialect::V0_0_36, Family::Topic) => &[
            (TopicName, "name"),
            (TopicType, "type"),
            (Offset, "offset"),
            (InvokeContext, "invoke_context"),
        ],
    }
}

/// The shape of `data.input_data` (`output == false`) or `data.output_data` of a component
/// family in a dialect.
pub(crate) fn data_shape(dialect: Dialect, family: Family, output: bool) -> Shape {
    match (dialect, family, output) {
        (_, Family::Node, false) => Shape::ConsumedList,
        (Dialect::V0_0_24, _, _) => Shape::MessageText,
        (Dialect::V0_0_36, Family::Tool, _) => Shape::MessageArray,
        (Dialect::V0_0_36, Family::Node, true) => Shape::Published,
        (Dialect::V0_0_36, _, false) => Shape::Published,
        (Dialect::V0_0_36, _, true) => Shape::ConsumedList,
    }
}

/// How a component event's message list is written in the dialect (the shape of its
/// message slots: every slot of 0.0.24's assistants, workflows and tools, 0.0.36's tools).
pub(crate) fn messages_shape(dialect: Dialect) -> Shape {
    data_shape(dialect, Family::Tool, false)
}

/// Whether `payload` has the shape the wire table of `dialect` gives its slot, embedded
/// events included: they are written in their own dialect, which must be the event's.
pub(crate) fn fits(dialect: Dialect, shape: Shape, payload: &crate::model::Payload) -> bool {
    use crate::model::Payload;
    match (shape, payload) {
        (Shape::MessageText | Shape::MessageArray, Payload::Messages(_)) => true,
        (Shape::Published, Payload::Published(p)) => p.meta.dialect == dialect,
        (Shape::ConsumedList, Payload::Consumed(events)) => {
            events.iter().all(|e| e.meta.dialect == dialect)
        }
        _ => false,
    }
}

/// Whether a `*Failed` event of the dialect may carry `error_details`.
pub(crate) fn has_error_details(dialect: Dialect) -> bool {
    dialect == Dialect::V0_0_36
}

/// Whether the document writes `event_context` before the envelope fields (grafi's topic
/// events do; `OutputTopic`, a subclass in 0.0.24, does not).
pub(crate) fn context_first(ty: EventType) -> bool {
    matches!(ty, EventType::PublishToTopic | EventType::ConsumeFromTopic)
}

/// The `event_context` fields of any family, as the decoders take them by the wire table,
/// and the events they make.
#[derive(Default)]
pub(crate) struct ContextFields {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) type_name: String,
    pub(crate) subscribed_topics: Vec<String>,
    pub(crate) publish_to_topics: Vec<String>,
    pub(crate) consumed_event_ids: Vec<String>,
    pub(crate) publisher_name: String,
    pub(crate) publisher_type: String,
    pub(crate) consumer_name: String,
    pub(crate) consumer_type: String,
    pub(crate) topic_name: String,
    pub(crate) topic_type: Option<String>,
    pub(crate) offset: i64,
}

impl ContextFields {
    pub(crate) fn component(self) -> ComponentInfo {
        ComponentInfo {
            id: self.id,
            name: self.name,
            type_name: self.type_name,
        }
    }

    pub(crate) fn node(self) -> NodeInfo {
        NodeInfo {
            id: self.id,
            name: self.name,
            type_name: self.type_name,
            subscribed_topics: self.subscribed_topics,
            publish_to_topics: self.publish_to_topics,
        }
    }

    pub(crate) fn published(self, meta: EventMeta, data: MessageList) -> PublishToTopic {
        PublishToTopic {
            meta,
            consumed_event_ids: self.consumed_event_ids,
            publisher_name: self.publisher_name,
            publisher_type: self.publisher_type,
            topic_name: self.topic_name,
            topic_type: self.topic_type,
            offset: self.offset,
            data,
        }
    }

    pub(crate) fn consumed(self, meta: EventMeta, data: MessageList) -> ConsumeFromTopic {
        ConsumeFromTopic {
            meta,
            consumer_name: self.consumer_name,
            consumer_type: self.consumer_type,
            topic_name: self.topic_name,
            topic_type: self.topic_type,
            offset: self.offset,
            data,
        }
    }

    pub(crate) fn topic_event(self, meta: EventMeta, data: MessageList) -> TopicEvent {
        TopicEvent {
            meta,
            topic_name: self.topic_name,
            topic_type: self.topic_type,
            offset: self.offset,
            data,
        }
    }
}
