//! Documents → typed events, for the sixteen built-in types.

use serde_json::{Map, Value};

use crate::context::InvokeContext;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::event::Event;
use crate::event_type::EventType;
use crate::fields::{join, wrong_type, Fields};
use crate::message::MessageList;
use crate::model::*;
use crate::timestamp::Timestamp;

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
        })
    }

    pub(crate) fn data_path(&self) -> String {
        join(&self.base, "data")
    }

    /// The envelope as [`EventMeta`], keeping every field nobody took.
    pub(crate) fn finish(self, context: Fields, data_rest: Map<String, Value>) -> EventMeta {
        EventMeta {
            dialect: crate::dialect::Dialect::V0_0_24,
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
            dialect: crate::dialect::Dialect::V0_0_24,
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

/// Decodes a document of a built-in type. Errors carry the path but not yet the event id.
pub(crate) fn decode_builtin(ty: EventType, doc: Map<String, Value>) -> Result<Event, DecodeError> {
    let env = Envelope::open(doc, "")?;
    Ok(match ty {
        EventType::AssistantInvoke => Event::AssistantInvoke(invoke(env, "assistant")?),
        EventType::AssistantRespond => Event::AssistantRespond(respond(env, "assistant")?),
        EventType::AssistantFailed => Event::AssistantFailed(failed(env, "assistant")?),
        EventType::WorkflowInvoke => Event::WorkflowInvoke(invoke(env, "workflow")?),
        EventType::WorkflowRespond => Event::WorkflowRespond(respond(env, "workflow")?),
        EventType::WorkflowFailed => Event::WorkflowFailed(failed(env, "workflow")?),
        EventType::ToolInvoke => Event::ToolInvoke(invoke(env, "tool")?),
        EventType::ToolRespond => Event::ToolRespond(respond(env, "tool")?),
        EventType::ToolFailed => Event::ToolFailed(failed(env, "tool")?),
        EventType::NodeInvoke => {
            let (env, mut ctx, data) = env.split();
            let component = node_info(&mut ctx)?;
            let mut d = Fields::from_value(data, env.data_path())?;
            let input_data = consumed_list(&mut d)?;
            Event::NodeInvoke(Invoke {
                meta: env.finish(ctx, d.into_rest()),
                component,
                input_data,
            })
        }
        EventType::NodeRespond => {
            let (env, mut ctx, data) = env.split();
            let component = node_info(&mut ctx)?;
            let mut d = Fields::from_value(data, env.data_path())?;
            let input_data = consumed_list(&mut d)?;
            let output_data = MessageList::take(&mut d, "output_data")?;
            Event::NodeRespond(Respond {
                meta: env.finish(ctx, d.into_rest()),
                component,
                input_data,
                output_data,
            })
        }
        EventType::NodeFailed => {
            let (env, mut ctx, data) = env.split();
            let component = node_info(&mut ctx)?;
            let mut d = Fields::from_value(data, env.data_path())?;
            let input_data = consumed_list(&mut d)?;
            let error = d.take_value("error")?;
            Event::NodeFailed(Failed {
                meta: env.finish(ctx, d.into_rest()),
                component,
                input_data,
                error,
            })
        }
        EventType::TopicEvent => {
            let (env, mut ctx, data) = env.split();
            let topic_name = ctx.take_str("topic_name")?;
            let offset = ctx.take_i64("offset")?;
            let data = MessageList::from_value(data, env.data_path())?;
            Event::TopicEvent(TopicEvent {
                meta: env.finish(ctx, Map::new()),
                topic_name,
                offset,
                data,
            })
        }
        EventType::PublishToTopic => Event::PublishToTopic(published(env)?),
        EventType::OutputTopic => Event::OutputTopic(published(env)?),
        EventType::ConsumeFromTopic => Event::ConsumeFromTopic(consumed(env)?),
    })
}

fn component_info(ctx: &mut Fields, family: &str) -> Result<ComponentInfo, DecodeError> {
    Ok(ComponentInfo {
        id: ctx.take_str(&format!("{family}_id"))?,
        name: ctx.take_str(&format!("{family}_name"))?,
        type_name: ctx.take_str(&format!("{family}_type"))?,
    })
}

fn node_info(ctx: &mut Fields) -> Result<NodeInfo, DecodeError> {
    Ok(NodeInfo {
        id: ctx.take_str("node_id")?,
        subscribed_topics: ctx.take_str_list_or_empty("subscribed_topics")?,
        publish_to_topics: ctx.take_str_list_or_empty("publish_to_topics")?,
        name: ctx.take_str("node_name")?,
        type_name: ctx.take_str("node_type")?,
    })
}

fn invoke(env: Envelope, family: &str) -> Result<ComponentInvoke, DecodeError> {
    let (env, mut ctx, data) = env.split();
    let component = component_info(&mut ctx, family)?;
    let mut d = Fields::from_value(data, env.data_path())?;
    let input_data = MessageList::take(&mut d, "input_data")?;
    Ok(Invoke {
        meta: env.finish(ctx, d.into_rest()),
        component,
        input_data,
    })
}

fn respond(env: Envelope, family: &str) -> Result<ComponentRespond, DecodeError> {
    let (env, mut ctx, data) = env.split();
    let component = component_info(&mut ctx, family)?;
    let mut d = Fields::from_value(data, env.data_path())?;
    let input_data = MessageList::take(&mut d, "input_data")?;
    let output_data = MessageList::take(&mut d, "output_data")?;
    Ok(Respond {
        meta: env.finish(ctx, d.into_rest()),
        component,
        input_data,
        output_data,
    })
}

fn failed(env: Envelope, family: &str) -> Result<ComponentFailed, DecodeError> {
    let (env, mut ctx, data) = env.split();
    let component = component_info(&mut ctx, family)?;
    let mut d = Fields::from_value(data, env.data_path())?;
    let input_data = MessageList::take(&mut d, "input_data")?;
    let error = d.take_value("error")?;
    Ok(Failed {
        meta: env.finish(ctx, d.into_rest()),
        component,
        input_data,
        error,
    })
}

fn published(env: Envelope) -> Result<PublishToTopic, DecodeError> {
    let (env, mut ctx, data) = env.split();
    let consumed_event_ids = ctx.take_str_list_or_empty("consumed_event_ids")?;
    let publisher_name = ctx.take_str("publisher_name")?;
    let publisher_type = ctx.take_str("publisher_type")?;
    let topic_name = ctx.take_str("topic_name")?;
    let offset = ctx.take_i64("offset")?;
    let data = MessageList::from_value(data, env.data_path())?;
    Ok(PublishToTopic {
        meta: env.finish(ctx, Map::new()),
        consumed_event_ids,
        publisher_name,
        publisher_type,
        topic_name,
        offset,
        data,
    })
}

fn consumed(env: Envelope) -> Result<ConsumeFromTopic, DecodeError> {
    let (env, mut ctx, data) = env.split();
    let consumer_name = ctx.take_str("consumer_name")?;
    let consumer_type = ctx.take_str("consumer_type")?;
    let topic_name = ctx.take_str("topic_name")?;
    let offset = ctx.take_i64("offset")?;
    let data = MessageList::from_value(data, env.data_path())?;
    Ok(ConsumeFromTopic {
        meta: env.finish(ctx, Map::new()),
        consumer_name,
        consumer_type,
        topic_name,
        offset,
        data,
    })
}

/// `data.input_data` of node events: whole ConsumeFromTopic documents.
fn consumed_list(d: &mut Fields) -> Result<Vec<ConsumeFromTopic>, DecodeError> {
    let path = d.path_of("input_data");
    match d.take_value("input_data")? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = format!("{path}[{i}]");
                let doc = match item {
                    Value::Object(m) => m,
                    other => return Err(wrong_type(item_path, "ConsumeFromTopic object", &other)),
                };
                let env = Envelope::open(doc, &item_path)?;
                if env.event_type != EventType::ConsumeFromTopic.as_str() {
                    return Err(DecodeError::new(
                        join(&item_path, "event_type"),
                        DecodeErrorKind::InvalidValue(format!(
                            "expected \"ConsumeFromTopic\", found {:?}",
                            env.event_type
                        )),
                    ));
                }
                consumed(env)
            })
            .collect(),
        other => Err(wrong_type(
            path,
            "array of ConsumeFromTopic objects",
            &other,
        )),
    }
}
