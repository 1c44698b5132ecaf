//! Typed events → grafi documents, in grafi's key order.
//!
//! Serialisation goes straight from the typed event to the output (no intermediate
//! `serde_json::Value`), which keeps the record path to one pass over each document.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::event::Event;
use crate::message::MessageList;
use crate::model::*;

/// A value inside a document, borrowed from the typed event.
enum Field<'a> {
    Str(&'a str),
    Strs(&'a [String]),
    Int(i64),
    Invoke(&'a InvokeContext),
    Json(&'a Value),
    Messages(&'a MessageList),
    Consumed(&'a [ConsumeFromTopic]),
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
            Field::Messages(v) => v.serialize(s),
            Field::Consumed(events) => {
                let mut seq = s.serialize_seq(Some(events.len()))?;
                for e in *events {
                    seq.serialize_element(&consume_parts(e))?;
                }
                seq.end()
            }
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

fn context<'a>(meta: &'a EventMeta, mut fields: Vec<(&'a str, Field<'a>)>) -> Field<'a> {
    fields.push(("invoke_context", Field::Invoke(&meta.invoke_context)));
    Field::Object(fields, &meta.unknown.context)
}

fn component_context<'a>(
    meta: &'a EventMeta,
    keys: [&'static str; 3],
    c: &'a ComponentInfo,
) -> Field<'a> {
    context(
        meta,
        vec![
            (keys[0], Field::Str(&c.id)),
            (keys[1], Field::Str(&c.name)),
            (keys[2], Field::Str(&c.type_name)),
        ],
    )
}

fn node_context<'a>(meta: &'a EventMeta, n: &'a NodeInfo) -> Field<'a> {
    context(
        meta,
        vec![
            ("node_id", Field::Str(&n.id)),
            ("subscribed_topics", Field::Strs(&n.subscribed_topics)),
            ("publish_to_topics", Field::Strs(&n.publish_to_topics)),
            ("node_name", Field::Str(&n.name)),
            ("node_type", Field::Str(&n.type_name)),
        ],
    )
}

fn data<'a>(meta: &'a EventMeta, fields: Vec<(&'a str, Field<'a>)>) -> Field<'a> {
    Field::Object(fields, &meta.unknown.data)
}

fn consume_parts(e: &ConsumeFromTopic) -> Parts<'_> {
    Parts {
        context_first: true,
        event_type: "ConsumeFromTopic",
        meta: &e.meta,
        context: context(
            &e.meta,
            vec![
                ("consumer_name", Field::Str(&e.consumer_name)),
                ("consumer_type", Field::Str(&e.consumer_type)),
                ("topic_name", Field::Str(&e.topic_name)),
                ("offset", Field::Int(e.offset)),
            ],
        ),
        data: Field::Messages(&e.data),
    }
}

fn published_parts<'a>(
    e: &'a PublishToTopic,
    event_type: &'a str,
    context_first: bool,
) -> Parts<'a> {
    Parts {
        context_first,
        event_type,
        meta: &e.meta,
        context: context(
            &e.meta,
            vec![
                ("consumed_event_ids", Field::Strs(&e.consumed_event_ids)),
                ("publisher_name", Field::Str(&e.publisher_name)),
                ("publisher_type", Field::Str(&e.publisher_type)),
                ("topic_name", Field::Str(&e.topic_name)),
                ("offset", Field::Int(e.offset)),
            ],
        ),
        data: Field::Messages(&e.data),
    }
}

const ASSISTANT: [&str; 3] = ["assistant_id", "assistant_name", "assistant_type"];
const WORKFLOW: [&str; 3] = ["workflow_id", "workflow_name", "workflow_type"];
const TOOL: [&str; 3] = ["tool_id", "tool_name", "tool_type"];

fn invoke_parts<'a>(e: &'a ComponentInvoke, ty: &'a str, keys: [&'static str; 3]) -> Parts<'a> {
    Parts {
        context_first: false,
        event_type: ty,
        meta: &e.meta,
        context: component_context(&e.meta, keys, &e.component),
        data: data(
            &e.meta,
            vec![("input_data", Field::Messages(&e.input_data))],
        ),
    }
}

fn respond_parts<'a>(e: &'a ComponentRespond, ty: &'a str, keys: [&'static str; 3]) -> Parts<'a> {
    Parts {
        context_first: false,
        event_type: ty,
        meta: &e.meta,
        context: component_context(&e.meta, keys, &e.component),
        data: data(
            &e.meta,
            vec![
                ("input_data", Field::Messages(&e.input_data)),
                ("output_data", Field::Messages(&e.output_data)),
            ],
        ),
    }
}

fn failed_parts<'a>(e: &'a ComponentFailed, ty: &'a str, keys: [&'static str; 3]) -> Parts<'a> {
    Parts {
        context_first: false,
        event_type: ty,
        meta: &e.meta,
        context: component_context(&e.meta, keys, &e.component),
        data: data(
            &e.meta,
            vec![
                ("input_data", Field::Messages(&e.input_data)),
                ("error", Field::Json(&e.error)),
            ],
        ),
    }
}

impl Event {
    /// The event laid out as its document; `None` for raw events (their document is kept).
    pub(crate) fn parts(&self) -> Option<Parts<'_>> {
        let ty = self.event_type();
        Some(match self {
            Event::AssistantInvoke(e) => invoke_parts(e, ty, ASSISTANT),
            Event::WorkflowInvoke(e) => invoke_parts(e, ty, WORKFLOW),
            Event::ToolInvoke(e) => invoke_parts(e, ty, TOOL),
            Event::AssistantRespond(e) => respond_parts(e, ty, ASSISTANT),
            Event::WorkflowRespond(e) => respond_parts(e, ty, WORKFLOW),
            Event::ToolRespond(e) => respond_parts(e, ty, TOOL),
            Event::AssistantFailed(e) => failed_parts(e, ty, ASSISTANT),
            Event::WorkflowFailed(e) => failed_parts(e, ty, WORKFLOW),
            Event::ToolFailed(e) => failed_parts(e, ty, TOOL),
            Event::NodeInvoke(e) => Parts {
                context_first: false,
                event_type: ty,
                meta: &e.meta,
                context: node_context(&e.meta, &e.component),
                data: data(
                    &e.meta,
                    vec![("input_data", Field::Consumed(&e.input_data))],
                ),
            },
            Event::NodeRespond(e) => Parts {
                context_first: false,
                event_type: ty,
                meta: &e.meta,
                context: node_context(&e.meta, &e.component),
                data: data(
                    &e.meta,
                    vec![
                        ("input_data", Field::Consumed(&e.input_data)),
                        ("output_data", Field::Messages(&e.output_data)),
                    ],
                ),
            },
            Event::NodeFailed(e) => Parts {
                context_first: false,
                event_type: ty,
                meta: &e.meta,
                context: node_context(&e.meta, &e.component),
                data: data(
                    &e.meta,
                    vec![
                        ("input_data", Field::Consumed(&e.input_data)),
                        ("error", Field::Json(&e.error)),
                    ],
                ),
            },
            Event::TopicEvent(e) => Parts {
                context_first: false,
                event_type: ty,
                meta: &e.meta,
                context: context(
                    &e.meta,
                    vec![
                        ("topic_name", Field::Str(&e.topic_name)),
                        ("offset", Field::Int(e.offset)),
                    ],
                ),
                data: Field::Messages(&e.data),
            },
            Event::PublishToTopic(e) => published_parts(e, ty, true),
            Event::OutputTopic(e) => published_parts(e, ty, false),
            Event::ConsumeFromTopic(e) => consume_parts(e),
            Event::Custom(c) => Parts {
                context_first: false,
                event_type: ty,
                meta: &c.meta,
                context: Field::Object(
                    vec![("invoke_context", Field::Invoke(&c.meta.invoke_context))],
                    c.context_fields(),
                ),
                data: Field::Json(c.data()),
            },
            Event::Raw(_) => return None,
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
