//! Documents → typed events, for the sixteen built-in types.

use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::dialect::Dialect;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::event::Event;
use crate::event_type::EventType;
use crate::fields::{join, wrong_type, Fields};
use crate::message::MessageList;
use crate::model::*;
use crate::timestamp::Timestamp;
use crate::wire::{
    context_layout, data_shape, has_error_details, ContextFields, Ctx, Family, Shape,
};

/// The envelope of a document, taken apart; the family decoders take their fields from
/// `context` and `data`, then [`Envelope::finish`] keeps whatever is left.
pub(crate) struct Envelope {
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    event_version: String,
    assistant_request_id: Option<String>,
    timestamp: Timestamp,
    invoke_context: InvokeContext,
    top: Fields,
    pub(crate) context: Fields,
    pub(crate) data: Value,
    base: String,
    dialect: Dialect,
}

impl Envelope {
    pub(crate) fn open(doc: Map<String, Value>, base: &str) -> Result<Self, DecodeError> {
        let mut top = Fields::new(doc, base);
        let event_id = top.take_str("event_id")?;
        let event_type = top.take_str("event_type")?;
        let event_version = match top.take_opt_value("event_version") {
            None => EVENT_VERSION.to_owned(),
            Some(Value::String(s)) => s,
            Some(other) => return Err(wrong_type(top.path_of("event_version"), "string", &other)),
        };
        let assistant_request_id = match top.take_opt_value("assistant_request_id") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(wrong_type(
                    top.path_of("assistant_request_id"),
                    "string",
                    &other,
                ))
            }
        };
        let ts_path = top.path_of("timestamp");
        let timestamp = Timestamp::parse(&top.take_str("timestamp")?).map_err(|mut e| {
            e.path = ts_path;
            e
        })?;
        let mut context = top.take_object("event_context")?;
        let dialect = Dialect::of_context(context.as_map()).unwrap_or_default();
        let invoke_context = InvokeContext::decode(context.take_object("invoke_context")?)?;
        let data = top.take_value("data")?;
        Ok(Self {
            event_id,
            event_type,
            event_version,
            assistant_request_id,
            timestamp,
            invoke_context,
            top,
            context,
            data,
            base: base.to_owned(),
            dialect,
        })
    }

    /// The dialect the document's `event_context` is written in.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn data_path(&self) -> String {
        join(&self.base, "data")
    }

    /// The envelope as [`EventMeta`], keeping every field nobody took.
    pub(crate) fn finish(self, context: Fields, data_rest: Map<String, Value>) -> EventMeta {
        EventMeta {
            dialect: self.dialect,
            assistant_request_id: self
                .assistant_request_id
                .unwrap_or_else(|| self.invoke_context.assistant_request_id.clone()),
            event_id: self.event_id,
            event_version: self.event_version,
            timestamp: self.timestamp,
            invoke_context: self.invoke_context,
            unknown: UnknownFields {
                top: self.top.into_rest(),
                context: context.into_rest(),
                data: data_rest,
            },
        }
    }

    /// `event_context` without `invoke_context`, for custom decoders.
    pub(crate) fn context_peek(&self) -> &Map<String, Value> {
        self.context.as_map()
    }

    /// The envelope of a custom event: its payload owns `event_context` and `data`.
    pub(crate) fn finish_custom(self) -> EventMeta {
        EventMeta {
            dialect: self.dialect,
            assistant_request_id: self
                .assistant_request_id
                .unwrap_or_else(|| self.invoke_context.assistant_request_id.clone()),
            event_id: self.event_id,
            event_version: self.event_version,
            timestamp: self.timestamp,
            invoke_context: self.invoke_context,
            unknown: UnknownFields {
                top: self.top.into_rest(),
                ..UnknownFields::default()
            },
        }
    }

    fn split(mut self) -> (Self, Fields, Value) {
        let context = std::mem::replace(&mut self.context, Fields::new(Map::new(), ""));
        let data = std::mem::take(&mut self.data);
        (self, context, data)
    }
}

/// Decodes a document of a built-in type, in the dialect its `event_context` shows (0.0.24
/// where it shows neither, so errors name 0.0.24's fields). Errors carry the path but not yet
/// the event id.
pub(crate) fn decode_builtin(ty: EventType, doc: Map<String, Value>) -> Result<Event, DecodeError> {
    decode_envelope(ty, Envelope::open(doc, "")?)
}

fn decode_envelope(ty: EventType, env: Envelope) -> Result<Event, DecodeError> {
    let family = Family::of(ty);
    Ok(match family {
        Family::Publish => {
            let published = published(env)?;
            match ty {
                EventType::OutputTopic => Event::OutputTopic(published),
                _ => Event::PublishToTopic(published),
            }
        }
        Family::Consume => Event::ConsumeFromTopic(consumed(env)?),
        Family::Topic => {
            let (env, ctx, data) = env.split();
            let (c, rest) = take_context(env.dialect(), family, ctx)?;
            let data = MessageList::from_value(data, env.data_path())?;
            Event::TopicEvent(c.topic_event(env.finish(rest, Map::new()), data))
        }
        Family::Node => {
            let (env, ctx, data) = env.split();
            let dialect = env.dialect();
            let (c, ctx_rest) = take_context(dialect, family, ctx)?;
            let component = c.node();
            let (slots, rest) = DataSlots::take(dialect, family, ty, data, env.data_path())?;
            let meta = env.finish(ctx_rest, rest);
            match ty {
                EventType::NodeInvoke => Event::NodeInvoke(slots.invoke(meta, component)),
                EventType::NodeRespond => Event::NodeRespond(slots.respond(meta, component)),
                _ => Event::NodeFailed(slots.failed(meta, component)),
            }
        }
        Family::Assistant | Family::Workflow | Family::Tool => {
            let (env, ctx, data) = env.split();
            let dialect = env.dialect();
            let (c, ctx_rest) = take_context(dialect, family, ctx)?;
            let component = c.component();
            let (slots, rest) = DataSlots::take(dialect, family, ty, data, env.data_path())?;
            let meta = env.finish(ctx_rest, rest);
            match ty {
                EventType::AssistantInvoke => Event::AssistantInvoke(slots.invoke(meta, component)),
                EventType::WorkflowInvoke => Event::WorkflowInvoke(slots.invoke(meta, component)),
                EventType::ToolInvoke => Event::ToolInvoke(slots.invoke(meta, component)),
                EventType::AssistantRespond => {
                    Event::AssistantRespond(slots.respond(meta, component))
                }
                EventType::WorkflowRespond => {
                    Event::WorkflowRespond(slots.respond(meta, component))
                }
                EventType::ToolRespond => Event::ToolRespond(slots.respond(meta, component)),
                EventType::AssistantFailed => Event::AssistantFailed(slots.failed(meta, component)),
                EventType::WorkflowFailed => Event::WorkflowFailed(slots.failed(meta, component)),
                _ => Event::ToolFailed(slots.failed(meta, component)),
            }
        }
    })
}

/// Takes the `event_context` fields `family` has in `dialect`, by the wire table's names;
/// returns them and what is left (the fields the dialect does not name).
fn take_context(
    dialect: Dialect,
    family: Family,
    mut ctx: Fields,
) -> Result<(ContextFields, Fields), DecodeError> {
    let mut v = ContextFields::default();
    for &(field, key) in context_layout(dialect, family) {
        match field {
            Ctx::Id => v.id = ctx.take_str(key)?,
            Ctx::Name => v.name = ctx.take_str(key)?,
            Ctx::Type => v.type_name = ctx.take_str(key)?,
            Ctx::InvokeContext => {}
            Ctx::SubscribedTopics => v.subscribed_topics = ctx.take_str_list_or_empty(key)?,
            Ctx::PublishToTopics => v.publish_to_topics = ctx.take_str_list_or_empty(key)?,
            Ctx::ConsumedEventIds => v.consumed_event_ids = ctx.take_str_list_or_empty(key)?,
            Ctx::PublisherName => v.publisher_name = ctx.take_str(key)?,
            Ctx::PublisherType => v.publisher_type = ctx.take_str(key)?,
            Ctx::ConsumerName => v.consumer_name = ctx.take_str(key)?,
            Ctx::ConsumerType => v.consumer_type = ctx.take_str(key)?,
            Ctx::TopicName => v.topic_name = ctx.take_str(key)?,
            Ctx::TopicType => v.topic_type = Some(ctx.take_str(key)?),
            Ctx::Offset => v.offset = ctx.take_i64(key)?,
        }
    }
    Ok((v, ctx))
}

/// The `data` of a component event: its slots, read by the dialect's shapes.
struct DataSlots {
    input: Payload,
    output: Option<Payload>,
    error: Option<Value>,
    error_details: Option<Value>,
}

impl DataSlots {
    fn take(
        dialect: Dialect,
        family: Family,
        ty: EventType,
        data: Value,
        path: String,
    ) -> Result<(Self, Map<String, Value>), DecodeError> {
        let mut d = Fields::from_value(data, path)?;
        let input = take_payload(&mut d, "input_data", data_shape(dialect, family, false))?;
        let name = ty.as_str();
        let (output, error, error_details) = if name.ends_with("Respond") {
            let output = take_payload(&mut d, "output_data", data_shape(dialect, family, true))?;
            (Some(output), None, None)
        } else if name.ends_with("Failed") {
            let error = d.take_value("error")?;
            let details = if has_error_details(dialect) {
                d.take_opt_value("error_details")
            } else {
                None
            };
            (None, Some(error), details)
        } else {
            (None, None, None)
        };
        let slots = DataSlots {
            input,
            output,
            error,
            error_details,
        };
        Ok((slots, d.into_rest()))
    }

    fn invoke<C>(self, meta: EventMeta, component: C) -> Invoke<C> {
        Invoke {
            meta,
            component,
            input_data: self.input,
        }
    }

    fn respond<C>(self, meta: EventMeta, component: C) -> Respond<C> {
        Respond {
            meta,
            component,
            input_data: self.input,
            output_data: self
                .output
                .unwrap_or_else(|| Payload::Messages(MessageList::default())),
        }
    }

    fn failed<C>(self, meta: EventMeta, component: C) -> Failed<C> {
        Failed {
            meta,
            component,
            input_data: self.input,
            error: self.error.unwrap_or(Value::Null),
            error_details: self.error_details,
        }
    }
}

/// Reads one `data` slot in the shape the wire table gives it.
fn take_payload(d: &mut Fields, key: &str, shape: Shape) -> Result<Payload, DecodeError> {
    Ok(match shape {
        Shape::MessageText => Payload::Messages(MessageList::take(d, key)?),
        Shape::MessageArray => {
            let path = d.path_of(key);
            match d.take_value(key)? {
                list @ Value::Array(_) => {
                    Payload::Messages(MessageList::from_json(crate::python_json::to_string(&list)))
                }
                other => return Err(wrong_type(path, "array of messages", &other)),
            }
        }
        Shape::Published => {
            let path = d.path_of(key);
            let doc = match d.take_value(key)? {
                Value::Object(m) => m,
                other => return Err(wrong_type(path, "PublishToTopic object", &other)),
            };
            let env = embedded(doc, &path, EventType::PublishToTopic)?;
            Payload::Published(Box::new(published(env)?))
        }
        Shape::ConsumedList => Payload::Consumed(consumed_list(d, key)?),
    })
}

/// An embedded document, checked to be of type `expected`.
fn embedded(
    doc: Map<String, Value>,
    path: &str,
    expected: EventType,
) -> Result<Envelope, DecodeError> {
    let env = Envelope::open(doc, path)?;
    if env.event_type != expected.as_str() {
        return Err(DecodeError::new(
            join(path, "event_type"),
            DecodeErrorKind::InvalidValue(format!(
                "expected {:?}, found {:?}",
                expected.as_str(),
                env.event_type
            )),
        ));
    }
    Ok(env)
}

fn published(env: Envelope) -> Result<PublishToTopic, DecodeError> {
    let (env, ctx, data) = env.split();
    let (c, rest) = take_context(env.dialect(), Family::Publish, ctx)?;
    let data = MessageList::from_value(data, env.data_path())?;
    Ok(c.published(env.finish(rest, Map::new()), data))
}

fn consumed(env: Envelope) -> Result<ConsumeFromTopic, DecodeError> {
    let (env, ctx, data) = env.split();
    let (c, rest) = take_context(env.dialect(), Family::Consume, ctx)?;
    let data = MessageList::from_value(data, env.data_path())?;
    Ok(c.consumed(env.finish(rest, Map::new()), data))
}

/// A list of whole ConsumeFromTopic documents (`data.input_data` of node events).
fn consumed_list(d: &mut Fields, key: &str) -> Result<Vec<ConsumeFromTopic>, DecodeError> {
    let path = d.path_of(key);
    match d.take_value(key)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = format!("{path}[{i}]");
                let doc = match item {
                    Value::Object(m) => m,
                    other => return Err(wrong_type(item_path, "ConsumeFromTopic object", &other)),
                };
                consumed(embedded(doc, &item_path, EventType::ConsumeFromTopic)?)
            })
            .collect(),
        other => Err(wrong_type(
            path,
            "array of ConsumeFromTopic objects",
            &other,
        )),
    }
}
