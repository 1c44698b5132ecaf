//! The fast path of decoding: a built-in event read straight from JSON text by typed serde
//! visitors, without building a `serde_json::Value` document first.
//!
//! Why: building the document (a map per object, a `String` per key, then moving fields out of
//! it) costs about as much as reading the text, and stores decode every row they return.
//!
//! The fast path only takes documents of exactly the shape grafi writes, in either dialect:
//! every field one the dialect's wire table ([`crate::wire`]) names, none repeated, every
//! type as expected. Anything else makes it give up (`None`) and the
//! caller decodes the general way ([`crate::decode`]), which builds the same event or names
//! the error. So the two paths cannot disagree on what they both accept: on every input the
//! fast path takes, they build equal events (tested on the corpus, by property and on the
//! edge cases the fast path refuses).

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::dialect::Dialect;
use crate::event::Event;
use crate::event_type::EventType;
use crate::kwargs::Kwargs;
use crate::message::MessageList;
use crate::model::*;
use crate::timestamp::Timestamp;
use crate::wire::{self, data_shape, has_error_details, ContextFields, Ctx, Family, Kind, Shape};

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

/// `event_context` of any built-in type in any dialect: `invoke_context`, and every other key
/// some dialect's wire table names ([`wire::context_key`]), each once; [`assemble`] takes what
/// the type needs in the dialect the keys show and refuses leftovers. A key no dialect names,
/// a repeated key or a value of another kind makes the fast path give up.
struct Context {
    invoke_context: Option<FastInvokeContext>,
    /// `(key index, value)` in document order: a handful per context, so a short list is
    /// cheaper to fill, move and search than a slot per key.
    values: Vec<(usize, CtxValue)>,
}

impl Context {
    fn find(&self, index: usize) -> Option<usize> {
        self.values.iter().position(|(k, _)| *k == index)
    }
}

enum CtxValue {
    Str(String),
    List(Vec<String>),
    Int(i64),
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContextVisitor;
        impl<'de> Visitor<'de> for ContextVisitor {
            type Value = Context;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event_context object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
                let mut ctx = Context {
                    invoke_context: None,
                    values: Vec::with_capacity(8),
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "invoke_context" {
                        if ctx.invoke_context.is_some() {
                            return Err(de::Error::duplicate_field("invoke_context"));
                        }
                        let MapOnly(invoke) = map.next_value()?;
                        ctx.invoke_context = Some(invoke);
                        continue;
                    }
                    let Some((i, kind)) = wire::context_key(&key) else {
                        return Err(de::Error::custom("a key no dialect names"));
                    };
                    if ctx.find(i).is_some() {
                        return Err(de::Error::custom("a repeated key"));
                    }
                    let value = match kind {
                        Kind::Str => CtxValue::Str(map.next_value()?),
                        Kind::List => CtxValue::List(map.next_value()?),
                        Kind::Int => CtxValue::Int(map.next_value()?),
                        Kind::Object => return Err(de::Error::custom("an unexpected object")),
                    };
                    ctx.values.push((i, value));
                }
                if ctx.invoke_context.is_none() {
                    return Err(de::Error::missing_field("invoke_context"));
                }
                Ok(ctx)
            }
        }
        d.deserialize_map(ContextVisitor)
    }
}

impl Context {
    /// The dialect the keys show, as the general path reads it.
    fn dialect(&self) -> Dialect {
        wire::dialect_of_keys(|i| self.find(i).is_some()).unwrap_or_default()
    }

    /// Takes the fields `family` has in `dialect`; `None` when one is missing (the general
    /// path names it) or another is left over (the general path keeps it as unknown).
    fn take(&mut self, dialect: Dialect, family: Family) -> Option<ContextFields> {
        let mut f = ContextFields::default();
        for &(field, index) in wire::indexed_layout(dialect, family) {
            let Some(i) = index else {
                continue; // invoke_context
            };
            let value = self.find(i).map(|at| self.values.swap_remove(at).1);
            match (field, value) {
                // grafi defaults these lists when absent, as the general path does.
                (Ctx::SubscribedTopics | Ctx::PublishToTopics | Ctx::ConsumedEventIds, None) => {}
                (Ctx::SubscribedTopics, Some(CtxValue::List(v))) => f.subscribed_topics = v,
                (Ctx::PublishToTopics, Some(CtxValue::List(v))) => f.publish_to_topics = v,
                (Ctx::ConsumedEventIds, Some(CtxValue::List(v))) => f.consumed_event_ids = v,
                (Ctx::Offset, Some(CtxValue::Int(v))) => f.offset = v,
                (Ctx::TopicType, Some(CtxValue::Str(v))) => f.topic_type = Some(v),
                (field, Some(CtxValue::Str(v))) => match field {
                    Ctx::Id => f.id = v,
                    Ctx::Name => f.name = v,
                    Ctx::Type => f.type_name = v,
                    Ctx::PublisherName => f.publisher_name = v,
                    Ctx::PublisherType => f.publisher_type = v,
                    Ctx::ConsumerName => f.consumer_name = v,
                    Ctx::ConsumerType => f.consumer_type = v,
                    Ctx::TopicName => f.topic_name = v,
                    _ => return None,
                },
                _ => return None,
            }
        }
        self.values.is_empty().then_some(f)
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
    output_data: Option<Input>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error_details: Option<Value>,
}

/// A `data` slot of a component event, in whichever shape it came: a message list's JSON
/// string, an array (consumed events, or a grafi 0.0.36 tool's messages), or one embedded
/// document. [`assemble`] checks it against the shape the wire table gives the slot.
enum Input {
    Text(MessageList),
    Consumed(Vec<FastDocument<ListLiteral>>),
    /// A message array's text, as `json.dumps` writes it (what the general path keeps).
    Messages(MessageList),
    Published(Box<FastDocument<ListLiteral>>),
}

impl<'de> Deserialize<'de> for Input {
    /// Read as raw text first, so that a message list stays escaped: the consumed events of a
    /// node event are then parsed from that text (a second pass over it, for node events only).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        match raw.get().as_bytes().first() {
            Some(b'[') => {
                if let Ok(docs) =
                    serde_json::from_str::<Vec<MapOnly<FastDocument<ListLiteral>>>>(raw.get())
                {
                    return Ok(Input::Consumed(
                        docs.into_iter().map(|MapOnly(doc)| doc).collect(),
                    ));
                }
                let list: Value = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
                Ok(Input::Messages(MessageList::from_json(
                    crate::python_json::to_string(&list),
                )))
            }
            Some(b'{') => {
                let MapOnly(doc) = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
                Ok(Input::Published(Box::new(doc)))
            }
            _ => MessageList::from_string_literal(raw)
                .map(Input::Text)
                .ok_or_else(|| de::Error::custom("not a message list or consumed events")),
        }
    }
}

impl Input {
    /// The payload, if it has `shape`.
    fn into_payload(self, shape: Shape, dialect: Dialect) -> Option<Payload> {
        Some(match (shape, self) {
            (Shape::MessageText, Input::Text(list)) => Payload::Messages(list),
            (Shape::MessageArray, Input::Messages(list)) => Payload::Messages(list),
            // `[]` parses as no consumed events; as a message array it is the same text.
            (Shape::MessageArray, Input::Consumed(docs)) if docs.is_empty() => {
                Payload::Messages(MessageList::from_json("[]"))
            }
            (Shape::ConsumedList, Input::Consumed(docs)) => Payload::Consumed(
                docs.into_iter()
                    .map(|doc| embedded_consumed(doc, dialect))
                    .collect::<Option<Vec<_>>>()?,
            ),
            (Shape::Published, Input::Published(doc)) => {
                Payload::Published(Box::new(embedded_published(*doc, dialect)?))
            }
            _ => return None,
        })
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
    fn finish(self, invoke_context: InvokeContext, dialect: Dialect) -> EventMeta {
        EventMeta {
            dialect,
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

/// The event of type `ty`, if the parts hold exactly what that type needs in the dialect
/// its context shows.
fn assemble(ty: EventType, meta: MetaParts, mut ctx: Context, data: Data) -> Option<Event> {
    let dialect = ctx.dialect();
    let family = Family::of(ty);
    let invoke_context = InvokeContext::from(ctx.invoke_context.take()?);
    let fields = ctx.take(dialect, family)?;
    let meta = meta.finish(invoke_context, dialect);
    match (family, data) {
        (Family::Publish | Family::Consume | Family::Topic, Data::Text(data)) => {
            Some(topic_event(ty, meta, fields, data))
        }
        (Family::Publish | Family::Consume | Family::Topic, Data::Fields(_)) => None,
        (_, Data::Fields(data)) => component_event(ty, family, meta, fields, data),
        (_, Data::Text(_)) => None,
    }
}

fn topic_event(ty: EventType, meta: EventMeta, f: ContextFields, data: MessageList) -> Event {
    match ty {
        EventType::TopicEvent => Event::TopicEvent(f.topic_event(meta, data)),
        EventType::ConsumeFromTopic => Event::ConsumeFromTopic(f.consumed(meta, data)),
        EventType::OutputTopic => Event::OutputTopic(f.published(meta, data)),
        _ => Event::PublishToTopic(f.published(meta, data)),
    }
}

/// One embedded document of type `ty` (inside a component event's `data`), in the dialect of
/// the event that embeds it (the general path reads each in its own; they must agree).
fn embedded(doc: FastDocument<ListLiteral>, ty: EventType, dialect: Dialect) -> Option<Event> {
    if doc.event_type != ty.as_str() {
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
    assemble_document(ty, doc).filter(|e| e.dialect() == Some(dialect))
}

fn embedded_consumed(doc: FastDocument<ListLiteral>, dialect: Dialect) -> Option<ConsumeFromTopic> {
    match embedded(doc, EventType::ConsumeFromTopic, dialect)? {
        Event::ConsumeFromTopic(consumed) => Some(consumed),
        _ => None,
    }
}

fn embedded_published(doc: FastDocument<ListLiteral>, dialect: Dialect) -> Option<PublishToTopic> {
    match embedded(doc, EventType::PublishToTopic, dialect)? {
        Event::PublishToTopic(published) => Some(published),
        _ => None,
    }
}

fn component_event(
    ty: EventType,
    family: Family,
    meta: EventMeta,
    f: ContextFields,
    data: DataFields,
) -> Option<Event> {
    let DataFields {
        input_data,
        output_data,
        error,
        error_details,
    } = data;
    let name = ty.as_str();
    let is_respond = name.ends_with("Respond");
    let is_failed = name.ends_with("Failed");
    let dialect = meta.dialect;
    // A field this type does not read would be kept as unknown by the general path.
    if output_data.is_some() != is_respond
        || error.is_some() != is_failed
        || (error_details.is_some() && !(is_failed && has_error_details(dialect)))
    {
        return None;
    }
    let input_data = input_data?.into_payload(data_shape(dialect, family, false), dialect)?;
    let output_data = match output_data {
        Some(output) => Some(output.into_payload(data_shape(dialect, family, true), dialect)?),
        None => None,
    };
    if family == Family::Node {
        let component = f.node();
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
                output_data: output_data?,
            }),
            _ => Event::NodeFailed(Failed {
                meta,
                component,
                input_data,
                error: error?,
                error_details,
            }),
        });
    }
    let component = f.component();
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
                output_data: output_data?,
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
                error_details,
            };
            match ty {
                EventType::AssistantFailed => Event::AssistantFailed(failed),
                EventType::WorkflowFailed => Event::WorkflowFailed(failed),
                _ => Event::ToolFailed(failed),
            }
        }
    })
}
