//! The fast path of decoding: a built-in event read straight from JSON text by typed serde
//! visitors, without building a `serde_json::Value` document first.
//!
//! Why: building the document (a map per object, a `String` per key, then moving fields out of
//! it) costs about as much as reading the text, and stores decode every row they return.
//!
//! The fast path only takes documents of exactly the shape grafi writes: every field known,
//! none repeated, every type as expected. Anything else makes it give up (`None`) and the
//! caller decodes the general way ([`crate::decode`]), which builds the same event or names
//! the error. So the two paths cannot disagree on what they both accept: on every input the
//! fast path takes, they build equal events (tested on the corpus, by property and on the
//! edge cases the fast path refuses).

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::event::Event;
use crate::event_type::EventType;
use crate::kwargs::Kwargs;
use crate::message::MessageList;
use crate::model::*;
use crate::timestamp::Timestamp;

/// The envelope fields a stored row keeps in columns of their own, and the JSON text of the
/// two it keeps as JSON. Built by stores to call
/// [`EventRegistry::decode_parts_fast`](crate::EventRegistry::decode_parts_fast).
#[derive(Debug, Clone, Copy)]
pub struct StoredParts<'a> {
    /// `event_id`.
    pub event_id: &'a str,
    /// `event_type`.
    pub event_type: &'a str,
    /// `event_version` (grafi writes `"1.0"`).
    pub event_version: &'a str,
    /// `assistant_request_id`.
    pub assistant_request_id: &'a str,
    /// `timestamp`, already read from its column.
    pub timestamp: &'a Timestamp,
    /// The JSON text of `event_context`.
    pub event_context: &'a str,
    /// The JSON text of `data`.
    pub data: &'a str,
}

/// Reads a whole document and its built-in type, or `None` if it is not of the plain shape
/// or its `event_type` is not a built-in one. The caller checks that the registry still uses
/// the built-in decoder for that type, then calls [`assemble_document`].
pub(crate) fn decode_document(json: &str) -> Option<(EventType, FastDocument)> {
    let MapOnly(doc) = serde_json::from_str::<MapOnly<FastDocument>>(json).ok()?;
    let ty = doc.event_type.parse().ok()?;
    Some((ty, doc))
}

/// Builds the event of a document [`decode_document`] read.
pub(crate) fn assemble_document(ty: EventType, doc: FastDocument) -> Option<Event> {
    let timestamp = Timestamp::parse(&doc.timestamp).ok()?;
    let meta = MetaParts {
        event_id: doc.event_id,
        event_version: doc.event_version,
        assistant_request_id: doc.assistant_request_id,
        timestamp,
    };
    assemble(ty, meta, doc.event_context, doc.data)
}

/// Decodes a stored row of the built-in type `ty` from its parts.
pub(crate) fn decode_parts(ty: EventType, parts: StoredParts<'_>) -> Option<Event> {
    let MapOnly(context) = serde_json::from_str::<MapOnly<Context>>(parts.event_context).ok()?;
    // A topic event's `data` is a message list's JSON string: kept escaped until read. (Only
    // here, where the column is its own text: inside a document serde cannot hand the same
    // value over as either raw text or an object.)
    let data = if parts.data.trim_start().starts_with('"') {
        let ListLiteral(list) = serde_json::from_str(parts.data).ok()?;
        Data::Text(list)
    } else {
        serde_json::from_str(parts.data).ok()?
    };
    let meta = MetaParts {
        event_id: parts.event_id.to_owned(),
        event_version: Some(parts.event_version.to_owned()),
        assistant_request_id: Some(parts.assistant_request_id.to_owned()),
        timestamp: parts.timestamp.clone(),
    };
    assemble(ty, meta, context, data)
}

/// `Some` for any value that is present, `null` included: "absent" and `null` mean different
/// things to grafi's decoder, so they must not merge as they would in `Option<T>`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `T` read from a JSON object only. serde's derived structs also accept an array (fields by
/// position), which the general path refuses: without this, `["c", "i", "r"]` would pass for
/// an `invoke_context`.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(MapOnly)
    }
}

/// For `deserialize_with`: a field that must be a JSON object.
fn map_only<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    MapOnly::deserialize(d).map(|MapOnly(value)| value)
}

/// A message list's JSON string, left escaped until read
/// ([`MessageList::from_string_literal`]).
struct ListLiteral(MessageList);

impl<'de> Deserialize<'de> for ListLiteral {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        MessageList::from_string_literal(raw)
            .map(ListLiteral)
            .ok_or_else(|| de::Error::custom("not the JSON string of a message list"))
    }
}

/// A whole document: at the top level with any `data` ([`Data`]), or one consumed event
/// inside a node event's `input_data`, whose `data` is a message list ([`ListLiteral`]).
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FastDocument<D = Data> {
    event_id: String,
    #[serde(default, deserialize_with = "present")]
    event_version: Option<String>,
    #[serde(default, deserialize_with = "present")]
    assistant_request_id: Option<String>,
    event_type: String,
    timestamp: String,
    #[serde(deserialize_with = "map_only")]
    event_context: Context,
    data: D,
}

#[derive(DeriveDeserialize, Default)]
#[serde(deny_unknown_fields)]
struct FastInvokeContext {
    conversation_id: String,
    invoke_id: String,
    assistant_request_id: String,
    #[serde(default, deserialize_with = "present")]
    user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "kwargs_text")]
    kwargs: Option<Option<Kwargs>>,
}

/// Kwargs nested deeper than this go the general way. Parsed on their own (as
/// [`kwargs_text`] does) they escape the parser's limit of 127 levels, which counts from the
/// top of the document. The fast path meets kwargs at level 7 at most (a consumed event's,
/// inside a node event's `data`), so 7 + 120 - 1 levels stay within the limit, and the fast
/// path never accepts a document the general path refuses.
const FAST_KWARGS_DEPTH: usize = 120;

/// `kwargs`, present (`null` included): the raw text, decoded through the per-thread memory of
/// recent kwargs texts, so the events of one request share one map (see [`Kwargs`]).
fn kwargs_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Kwargs>>, D::Error> {
    let raw = <&'de RawValue>::deserialize(d)?;
    if raw.get() == "null" {
        return Ok(Some(None));
    }
    match crate::kwargs::from_object_text(raw, FAST_KWARGS_DEPTH) {
        Some(kwargs) => Ok(Some(Some(kwargs))),
        None => Err(de::Error::custom(
            "kwargs: not an object, or too deep for the fast path",
        )),
    }
}

impl From<FastInvokeContext> for InvokeContext {
    /// Absent `user_id` / `kwargs` read as grafi's defaults (`""`, `{}`), as in the general path.
    fn from(c: FastInvokeContext) -> Self {
        InvokeContext {
            conversation_id: c.conversation_id,
            invoke_id: c.invoke_id,
            assistant_request_id: c.assistant_request_id,
            user_id: c.user_id.unwrap_or_else(|| Some(String::new())),
            kwargs: c.kwargs.unwrap_or_else(|| Some(Kwargs::default())),
            extra: Map::new(),
        }
    }
}

/// `event_context` of any built-in type: every field any family knows, each optional here;
/// [`assemble`] takes what the type needs and refuses leftovers.
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct Context {
    #[serde(deserialize_with = "map_only")]
    invoke_context: FastInvokeContext,
    #[serde(default, deserialize_with = "present")]
    assistant_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    assistant_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    assistant_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    workflow_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    workflow_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    workflow_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tool_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tool_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tool_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    node_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    node_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    node_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    subscribed_topics: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    publish_to_topics: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    topic_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    offset: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    publisher_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    publisher_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    consumed_event_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    consumer_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    consumer_type: Option<String>,
}

impl Context {
    /// Whether any field is still untaken (the general path would keep it as unknown).
    fn has_leftovers(&self) -> bool {
        let strings = [
            &self.assistant_id,
            &self.assistant_name,
            &self.assistant_type,
            &self.workflow_id,
            &self.workflow_name,
            &self.workflow_type,
            &self.tool_id,
            &self.tool_name,
            &self.tool_type,
            &self.node_id,
            &self.node_name,
            &self.node_type,
            &self.topic_name,
            &self.publisher_name,
            &self.publisher_type,
            &self.consumer_name,
            &self.consumer_type,
        ];
        strings.iter().any(|s| s.is_some())
            || self.subscribed_topics.is_some()
            || self.publish_to_topics.is_some()
            || self.consumed_event_ids.is_some()
            || self.offset.is_some()
    }

    fn component(&mut self, ty: EventType) -> Option<ComponentInfo> {
        let (id, name, type_name) = match ty {
            EventType::AssistantInvoke
            | EventType::AssistantRespond
            | EventType::AssistantFailed => (
                &mut self.assistant_id,
                &mut self.assistant_name,
                &mut self.assistant_type,
            ),
            EventType::WorkflowInvoke | EventType::WorkflowRespond | EventType::WorkflowFailed => (
                &mut self.workflow_id,
                &mut self.workflow_name,
                &mut self.workflow_type,
            ),
            _ => (&mut self.tool_id, &mut self.tool_name, &mut self.tool_type),
        };
        Some(ComponentInfo {
            id: id.take()?,
            name: name.take()?,
            type_name: type_name.take()?,
        })
    }

    fn node(&mut self) -> Option<NodeInfo> {
        Some(NodeInfo {
            id: self.node_id.take()?,
            name: self.node_name.take()?,
            type_name: self.node_type.take()?,
            subscribed_topics: self.subscribed_topics.take().unwrap_or_default(),
            publish_to_topics: self.publish_to_topics.take().unwrap_or_default(),
        })
    }
}

/// `data`: a message list's JSON text (topic events) or an object (everything else).
pub(crate) enum Data {
    Text(MessageList),
    Fields(DataFields),
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an object")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Data, E> {
                Ok(Data::Text(MessageList::from_json(s)))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Data, E> {
                Ok(Data::Text(MessageList::from_json(s)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Data, A::Error> {
                DataFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Data::Fields)
            }
        }
        d.deserialize_any(DataVisitor)
    }
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataFields {
    #[serde(default, deserialize_with = "present")]
    input_data: Option<Input>,
    #[serde(default, deserialize_with = "present")]
    output_data: Option<ListLiteral>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// `data.input_data`: a message list's JSON string, or (node events) the consumed events.
enum Input {
    Text(MessageList),
    Consumed(Vec<FastDocument<ListLiteral>>),
}

impl<'de> Deserialize<'de> for Input {
    /// Read as raw text first, so that a message list stays escaped: the consumed events of a
    /// node event are then parsed from that text (a second pass over it, for node events only).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        if raw.get().starts_with('[') {
            let docs: Vec<MapOnly<FastDocument<ListLiteral>>> =
                serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
            return Ok(Input::Consumed(
                docs.into_iter().map(|MapOnly(doc)| doc).collect(),
            ));
        }
        MessageList::from_string_literal(raw)
            .map(Input::Text)
            .ok_or_else(|| de::Error::custom("not a message list or consumed events"))
    }
}

/// The envelope fields, before the defaults are applied.
struct MetaParts {
    event_id: String,
    event_version: Option<String>,
    assistant_request_id: Option<String>,
    timestamp: Timestamp,
}

impl MetaParts {
    /// The same defaults as the general path's `Envelope::finish`.
    fn finish(self, invoke_context: InvokeContext) -> EventMeta {
        EventMeta {
            dialect: crate::dialect::Dialect::V0_0_24,
            assistant_request_id: self
                .assistant_request_id
                .unwrap_or_else(|| invoke_context.assistant_request_id.clone()),
            event_id: self.event_id,
            event_version: self
                .event_version
                .unwrap_or_else(|| EVENT_VERSION.to_owned()),
            timestamp: self.timestamp,
            invoke_context,
            unknown: UnknownFields::default(),
        }
    }
}

/// The event of type `ty`, if the parts hold exactly what that type needs.
fn assemble(ty: EventType, meta: MetaParts, mut ctx: Context, data: Data) -> Option<Event> {
    let invoke_context = InvokeContext::from(std::mem::take(&mut ctx.invoke_context));
    let event = match ty {
        EventType::TopicEvent
        | EventType::PublishToTopic
        | EventType::OutputTopic
        | EventType::ConsumeFromTopic => topic_family(ty, meta, invoke_context, &mut ctx, data)?,
        _ => {
            let Data::Fields(fields) = data else {
                return None;
            };
            component_family(ty, meta, invoke_context, &mut ctx, fields)?
        }
    };
    (!ctx.has_leftovers()).then_some(event)
}

fn topic_family(
    ty: EventType,
    meta: MetaParts,
    invoke_context: InvokeContext,
    ctx: &mut Context,
    data: Data,
) -> Option<Event> {
    let Data::Text(data) = data else {
        return None;
    };
    let meta = meta.finish(invoke_context);
    Some(match ty {
        EventType::TopicEvent => Event::TopicEvent(TopicEvent {
            meta,
            topic_name: ctx.topic_name.take()?,
            topic_type: None,
            offset: ctx.offset.take()?,
            data,
        }),
        EventType::ConsumeFromTopic => Event::ConsumeFromTopic(consumed(meta, ctx, data)?),
        _ => {
            let published = PublishToTopic {
                meta,
                consumed_event_ids: ctx.consumed_event_ids.take().unwrap_or_default(),
                publisher_name: ctx.publisher_name.take()?,
                publisher_type: ctx.publisher_type.take()?,
                topic_name: ctx.topic_name.take()?,
                topic_type: None,
                offset: ctx.offset.take()?,
                data,
            };
            if ty == EventType::OutputTopic {
                Event::OutputTopic(published)
            } else {
                Event::PublishToTopic(published)
            }
        }
    })
}

fn consumed(meta: EventMeta, ctx: &mut Context, data: MessageList) -> Option<ConsumeFromTopic> {
    Some(ConsumeFromTopic {
        meta,
        consumer_name: ctx.consumer_name.take()?,
        consumer_type: ctx.consumer_type.take()?,
        topic_name: ctx.topic_name.take()?,
        topic_type: None,
        offset: ctx.offset.take()?,
        data,
    })
}

/// One consumed event inside a node event: a whole ConsumeFromTopic document.
fn consumed_document(doc: FastDocument<ListLiteral>) -> Option<ConsumeFromTopic> {
    if doc.event_type != EventType::ConsumeFromTopic.as_str() {
        return None;
    }
    let doc = FastDocument {
        event_id: doc.event_id,
        event_version: doc.event_version,
        assistant_request_id: doc.assistant_request_id,
        event_type: doc.event_type,
        timestamp: doc.timestamp,
        event_context: doc.event_context,
        data: Data::Text(doc.data.0),
    };
    match assemble_document(EventType::ConsumeFromTopic, doc)? {
        Event::ConsumeFromTopic(consumed) => Some(consumed),
        _ => None,
    }
}

fn component_family(
    ty: EventType,
    meta: MetaParts,
    invoke_context: InvokeContext,
    ctx: &mut Context,
    data: DataFields,
) -> Option<Event> {
    let DataFields {
        input_data,
        output_data,
        error,
    } = data;
    let is_node = matches!(
        ty,
        EventType::NodeInvoke | EventType::NodeRespond | EventType::NodeFailed
    );
    let is_respond = matches!(
        ty,
        EventType::AssistantRespond
            | EventType::WorkflowRespond
            | EventType::ToolRespond
            | EventType::NodeRespond
    );
    let is_failed = matches!(
        ty,
        EventType::AssistantFailed
            | EventType::WorkflowFailed
            | EventType::ToolFailed
            | EventType::NodeFailed
    );
    // A field this type does not read would be kept as unknown by the general path.
    if output_data.is_some() != is_respond || error.is_some() != is_failed {
        return None;
    }
    let meta = meta.finish(invoke_context);
    if is_node {
        let Input::Consumed(docs) = input_data? else {
            return None;
        };
        let component = ctx.node()?;
        let input_data = Payload::Consumed(
            docs.into_iter()
                .map(consumed_document)
                .collect::<Option<Vec<_>>>()?,
        );
        return Some(match ty {
            EventType::NodeInvoke => Event::NodeInvoke(Invoke {
                meta,
                component,
                input_data,
            }),
            EventType::NodeRespond => Event::NodeRespond(Respond {
                meta,
                component,
                input_data,
                output_data: Payload::Messages(output_data?.0),
            }),
            _ => Event::NodeFailed(Failed {
                meta,
                component,
                input_data,
                error: error?,
                error_details: None,
            }),
        });
    }
    let Input::Text(input_data) = input_data? else {
        return None;
    };
    let input_data = Payload::Messages(input_data);
    let component = ctx.component(ty)?;
    Some(match ty {
        EventType::AssistantInvoke => Event::AssistantInvoke(Invoke {
            meta,
            component,
            input_data,
        }),
        EventType::WorkflowInvoke => Event::WorkflowInvoke(Invoke {
            meta,
            component,
            input_data,
        }),
        EventType::ToolInvoke => Event::ToolInvoke(Invoke {
            meta,
            component,
            input_data,
        }),
        EventType::AssistantRespond | EventType::WorkflowRespond | EventType::ToolRespond => {
            let respond = Respond {
                meta,
                component,
                input_data,
                output_data: Payload::Messages(output_data?.0),
            };
            match ty {
                EventType::AssistantRespond => Event::AssistantRespond(respond),
                EventType::WorkflowRespond => Event::WorkflowRespond(respond),
                _ => Event::ToolRespond(respond),
            }
        }
        _ => {
            let failed = Failed {
                meta,
                component,
                input_data,
                error: error?,
                error_details: None,
            };
            match ty {
                EventType::AssistantFailed => Event::AssistantFailed(failed),
                EventType::WorkflowFailed => Event::WorkflowFailed(failed),
                _ => Event::ToolFailed(failed),
            }
        }
    })
}
