//! Typed events → grafi documents, in grafi's key order.
//!
//! Serialisation goes straight from the typed event to the output (no intermediate
//! `serde_json::Value`), which keeps the record path to one pass over each document.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::dialect::Dialect;
use crate::event::Event;
use crate::event_type::EventType;
use crate::message::MessageList;
use crate::model::*;
use crate::wire::{context_first, context_layout, messages_shape, Ctx, Family, Shape};

/// A value inside a document, borrowed from the typed event.
enum Field<'a> {
    Str(&'a str),
    Strs(&'a [String]),
    Int(i64),
    Invoke(&'a InvokeContext),
    Json(&'a Value),
    /// A message list as a JSON string (grafi 0.0.24).
    MessageText(&'a MessageList),
    /// A message list as a JSON array (grafi 0.0.36 tools).
    MessageArray(&'a MessageList),
    Consumed(&'a [ConsumeFromTopic]),
    Published(&'a PublishToTopic),
    /// An object: known fields in grafi's order, then the unknown ones.
    Object(Vec<(&'a str, Field<'a>)>, &'a Map<String, Value>),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Str(v) => s.serialize_str(v),
            Field::Strs(v) => v.serialize(s),
            Field::Int(v) => s.serialize_i64(*v),
            Field::Invoke(v) => v.serialize(s),
            Field::Json(v) => v.serialize(s),
            Field::MessageText(v) => v.serialize(s),
            Field::MessageArray(v) => match RawValue::from_string(v.as_str().to_owned()) {
                Ok(json) => json.serialize(s),
                // Text that is not JSON (a list built from bad text) stays visible as a
                // string rather than breaking the document; validation names it.
                Err(_) => v.serialize(s),
            },
            Field::Consumed(events) => {
                let mut seq = s.serialize_seq(Some(events.len()))?;
                for e in *events {
                    seq.serialize_element(&consume_parts(e))?;
                }
                seq.end()
            }
            Field::Published(e) => published_parts(e, EventType::PublishToTopic).serialize(s),
            Field::Object(fields, extra) => {
                let mut map = s.serialize_map(Some(fields.len() + extra.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                for (k, v) in *extra {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A typed event laid out as its document.
pub(crate) struct Parts<'a> {
    /// PublishToTopic and ConsumeFromTopic write `event_context` first.
    context_first: bool,
    event_type: &'a str,
    meta: &'a EventMeta,
    context: Field<'a>,
    data: Field<'a>,
}

impl Serialize for Parts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.meta;
        let mut map = s.serialize_map(Some(7 + m.unknown.top.len()))?;
        if self.context_first {
            map.serialize_entry("event_context", &self.context)?;
        }
        map.serialize_entry("event_id", &m.event_id)?;
        map.serialize_entry("event_version", &m.event_version)?;
        map.serialize_entry("assistant_request_id", &m.assistant_request_id)?;
        map.serialize_entry("event_type", self.event_type)?;
        map.serialize_entry("timestamp", m.timestamp.as_str())?;
        if !self.context_first {
            map.serialize_entry("event_context", &self.context)?;
        }
        map.serialize_entry("data", &self.data)?;
        for (k, v) in &m.unknown.top {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Every `event_context` field a family may have, borrowed from the typed event; the wire
/// table picks which ones a dialect writes, under which names, in which order.
#[derive(Default)]
struct ContextSource<'a> {
    id: &'a str,
    name: &'a str,
    type_name: &'a str,
    subscribed_topics: &'a [String],
    publish_to_topics: &'a [String],
    consumed_event_ids: &'a [String],
    publisher_name: &'a str,
    publisher_type: &'a str,
    consumer_name: &'a str,
    consumer_type: &'a str,
    topic_name: &'a str,
    topic_type: Option<&'a str>,
    offset: i64,
}

impl<'a> ContextSource<'a> {
    fn component(c: &'a ComponentInfo) -> Self {
        Self {
            id: &c.id,
            name: &c.name,
            type_name: &c.type_name,
            ..Self::default()
        }
    }

    fn node(n: &'a NodeInfo) -> Self {
        Self {
            id: &n.id,
            name: &n.name,
            type_name: &n.type_name,
            subscribed_topics: &n.subscribed_topics,
            publish_to_topics: &n.publish_to_topics,
            ..Self::default()
        }
    }

    /// `event_context` laid out by the wire table of the event's dialect.
    fn layout(self, meta: &'a EventMeta, family: Family) -> Field<'a> {
        let fields = context_layout(meta.dialect, family)
            .iter()
            .filter_map(|&(field, key)| {
                let value = match field {
                    Ctx::Id => Field::Str(self.id),
                    Ctx::Name => Field::Str(self.name),
                    Ctx::Type => Field::Str(self.type_name),
                    Ctx::InvokeContext => Field::Invoke(&meta.invoke_context),
                    Ctx::SubscribedTopics => Field::Strs(self.subscribed_topics),
                    Ctx::PublishToTopics => Field::Strs(self.publish_to_topics),
                    Ctx::ConsumedEventIds => Field::Strs(self.consumed_event_ids),
                    Ctx::PublisherName => Field::Str(self.publisher_name),
                    Ctx::PublisherType => Field::Str(self.publisher_type),
                    Ctx::ConsumerName => Field::Str(self.consumer_name),
                    Ctx::ConsumerType => Field::Str(self.consumer_type),
                    Ctx::TopicName => Field::Str(self.topic_name),
                    // A topic event built without a type (as 0.0.24 builds them) has none to
                    // write; grafi 0.0.36 itself always has one.
                    Ctx::TopicType => Field::Str(self.topic_type?),
                    Ctx::Offset => Field::Int(self.offset),
                };
                Some((key, value))
            })
            .collect();
        Field::Object(fields, &meta.unknown.context)
    }
}

/// One `data` slot of a component event, in the shape its payload has: a message list as
/// the dialect writes messages there (see [`crate::wire::messages_shape`]).
fn payload(p: &Payload, dialect: Dialect) -> Field<'_> {
    match p {
        Payload::Messages(list) => match messages_shape(dialect) {
            Shape::MessageArray => Field::MessageArray(list),
            _ => Field::MessageText(list),
        },
        Payload::Consumed(events) => Field::Consumed(events),
        Payload::Published(event) => Field::Published(event),
    }
}

fn consume_parts(e: &ConsumeFromTopic) -> Parts<'_> {
    Parts {
        context_first: context_first(EventType::ConsumeFromTopic),
        event_type: EventType::ConsumeFromTopic.as_str(),
        meta: &e.meta,
        context: ContextSource {
            consumer_name: &e.consumer_name,
            consumer_type: &e.consumer_type,
            topic_name: &e.topic_name,
            topic_type: e.topic_type.as_deref(),
            offset: e.offset,
            ..ContextSource::default()
        }
        .layout(&e.meta, Family::Consume),
        data: Field::MessageText(&e.data),
    }
}

fn published_parts(e: &PublishToTopic, ty: EventType) -> Parts<'_> {
    Parts {
        context_first: context_first(ty),
        event_type: ty.as_str(),
        meta: &e.meta,
        context: ContextSource {
            consumed_event_ids: &e.consumed_event_ids,
            publisher_name: &e.publisher_name,
            publisher_type: &e.publisher_type,
            topic_name: &e.topic_name,
            topic_type: e.topic_type.as_deref(),
            offset: e.offset,
            ..ContextSource::default()
        }
        .layout(&e.meta, Family::Publish),
        data: Field::MessageText(&e.data),
    }
}

fn component_parts<'a>(
    ty: EventType,
    meta: &'a EventMeta,
    context: Field<'a>,
    input: &'a Payload,
    rest: Vec<(&'a str, Field<'a>)>,
) -> Parts<'a> {
    let mut fields = vec![("input_data", payload(input, meta.dialect))];
    fields.extend(rest);
    Parts {
        context_first: context_first(ty),
        event_type: ty.as_str(),
        meta,
        context,
        data: Field::Object(fields, &meta.unknown.data),
    }
}

fn invoke_parts<'a, C>(e: &'a Invoke<C>, ty: EventType, context: ContextSource<'a>) -> Parts<'a> {
    let ctx = context.layout(&e.meta, Family::of(ty));
    component_parts(ty, &e.meta, ctx, &e.input_data, Vec::new())
}

fn respond_parts<'a, C>(e: &'a Respond<C>, ty: EventType, context: ContextSource<'a>) -> Parts<'a> {
    let ctx = context.layout(&e.meta, Family::of(ty));
    let output = vec![("output_data", payload(&e.output_data, e.meta.dialect))];
    component_parts(ty, &e.meta, ctx, &e.input_data, output)
}

fn failed_parts<'a, C>(e: &'a Failed<C>, ty: EventType, context: ContextSource<'a>) -> Parts<'a> {
    let ctx = context.layout(&e.meta, Family::of(ty));
    let mut rest = vec![("error", Field::Json(&e.error))];
    if let Some(details) = &e.error_details {
        rest.push(("error_details", Field::Json(details)));
    }
    component_parts(ty, &e.meta, ctx, &e.input_data, rest)
}

impl Event {
    /// The event laid out as its document; `None` for raw events (their document is kept).
    pub(crate) fn parts(&self) -> Option<Parts<'_>> {
        use ContextSource as Src;
        let ty = self.builtin_type();
        Some(match (self, ty) {
            (
                Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e),
                Some(ty),
            ) => invoke_parts(e, ty, Src::component(&e.component)),
            (
                Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e),
                Some(ty),
            ) => respond_parts(e, ty, Src::component(&e.component)),
            (
                Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e),
                Some(ty),
            ) => failed_parts(e, ty, Src::component(&e.component)),
            (Event::NodeInvoke(e), Some(ty)) => invoke_parts(e, ty, Src::node(&e.component)),
            (Event::NodeRespond(e), Some(ty)) => respond_parts(e, ty, Src::node(&e.component)),
            (Event::NodeFailed(e), Some(ty)) => failed_parts(e, ty, Src::node(&e.component)),
            (Event::TopicEvent(e), Some(ty)) => Parts {
                context_first: context_first(ty),
                event_type: ty.as_str(),
                meta: &e.meta,
                context: Src {
                    topic_name: &e.topic_name,
                    topic_type: e.topic_type.as_deref(),
                    offset: e.offset,
                    ..Src::default()
                }
                .layout(&e.meta, Family::Topic),
                data: Field::MessageText(&e.data),
            },
            (Event::PublishToTopic(e) | Event::OutputTopic(e), Some(ty)) => published_parts(e, ty),
            (Event::ConsumeFromTopic(e), _) => consume_parts(e),
            (Event::Custom(c), _) => Parts {
                context_first: false,
                event_type: &c.event_type,
                meta: &c.meta,
                context: Field::Object(
                    vec![("invoke_context", Field::Invoke(&c.meta.invoke_context))],
                    c.context_fields(),
                ),
                data: Field::Json(c.data()),
            },
            _ => return None,
        })
    }

    /// The document as `json.dumps(event.to_dict())` writes it: grafi's key order, `", "`
    /// separators, ASCII escapes. A decoded grafi document re-encodes to the same bytes.
    pub fn to_json(&self) -> String {
        crate::python_json::encode(self)
    }

    /// The document as a JSON value. A raw event's members held as JSON text (which no
    /// `Value` can hold) stay strings here; [`to_json`](Self::to_json) writes them as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Event::Raw(r) if !r.json_text_members.is_empty() => Value::Object(r.document.clone()),
            other => serde_json::to_value(other).unwrap_or(Value::Null),
        }
    }

    /// `event_context` as JSON text (grafi's formatting), for stores that keep it in a column.
    pub fn context_json(&self) -> String {
        match self.parts() {
            Some(p) => crate::python_json::encode(&p.context),
            None => raw_member(self, "event_context"),
        }
    }

    /// `data` as JSON text (grafi's formatting), for stores that keep it in a column.
    pub fn data_json(&self) -> String {
        match self.parts() {
            Some(p) => crate::python_json::encode(&p.data),
            None => raw_member(self, "data"),
        }
    }
}

fn raw_member(event: &Event, key: &str) -> String {
    match event {
        Event::Raw(r) => match r.document.get(key) {
            Some(Value::String(text))
                if r.is_json_text(key)
                    && serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok() =>
            {
                text.clone()
            }
            value => crate::python_json::encode(value.unwrap_or(&Value::Null)),
        },
        _ => String::from("null"),
    }
}

/// A raw event's document, its JSON-text members written as JSON.
struct RawDocument<'a>(&'a crate::RawEvent);

impl Serialize for RawDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = self.0;
        let mut map = s.serialize_map(Some(raw.document.len()))?;
        for (key, value) in &raw.document {
            match value {
                // Text that is not JSON after all (a hand-built event) stays a string.
                Value::String(text) if raw.is_json_text(key) => {
                    match serde_json::value::RawValue::from_string(text.clone()) {
                        Ok(json) => map.serialize_entry(key, &json)?,
                        Err(_) => map.serialize_entry(key, value)?,
                    }
                }
                value => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Raw(r) if r.json_text_members.is_empty() => r.document.serialize(s),
            Event::Raw(r) => RawDocument(r).serialize(s),
            other => match other.parts() {
                Some(parts) => parts.serialize(s),
                None => s.serialize_none(),
            },
        }
    }
}
