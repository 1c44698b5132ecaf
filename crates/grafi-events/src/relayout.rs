//! Building grafi 0.0.36 events in Rust: the constructors lay events out as grafi 0.0.24
//! records them, and [`Event::into_grafi_0_0_36`] moves what differs to where grafi 0.0.36
//! keeps it.

use crate::dialect::Dialect;
use crate::event::Event;
use crate::message::MessageList;
use crate::model::*;

impl Event {
    /// This event, built by this crate's constructors (grafi 0.0.24's layout), laid out the
    /// way grafi 0.0.36 records the same step, for a service that writes to a grafi 0.0.36
    /// table:
    ///
    /// * an assistant's or workflow's input becomes the PublishToTopic event that started it
    ///   (grafi's `NoneTopic` at offset -1, as grafi records a request's input), its answer
    ///   the ConsumeFromTopic event that read it from the `agent_output_topic`;
    /// * a node's output becomes the PublishToTopic event it published (to no named topic);
    /// * topics get a type (`Topic`), and an `OutputTopic` becomes what grafi 0.0.36 records
    ///   instead, a PublishToTopic to an `AgentOutputTopic` (a `TopicEvent`, which grafi 0.0.36
    ///   cannot store, is laid out too, and stores refuse it).
    ///
    /// The embedded events' ids derive from this event's (`<id>-in`, `<id>-out`). This is for
    /// building events, not for converting stored documents: it supplies what a 0.0.24
    /// document does not record. An event already in grafi 0.0.36, a user-registered one
    /// and a raw one are returned unchanged.
    ///
    /// ```
    /// use grafi_events::{ComponentInfo, Dialect, Event, InvokeContext, Message};
    /// let event = Event::assistant_invoke(
    ///     InvokeContext::new("conv-1", "req-1"),
    ///     ComponentInfo::new("Concierge", "ReActAssistant"),
    ///     &[Message::user("Hello")],
    /// )
    /// .into_grafi_0_0_36();
    /// assert_eq!(event.dialect(), Some(Dialect::V0_0_36));
    /// assert_eq!(event.shape_error(), None);
    /// assert_eq!(event.input_messages().unwrap().decode().unwrap()[0].content.as_text(), Some("Hello"));
    /// ```
    pub fn into_grafi_0_0_36(self) -> Event {
        if self.builtin_type().is_none() || self.meta().map(|m| m.dialect) != Some(Dialect::V0_0_24)
        {
            return self;
        }
        let mut event = match self {
            Event::OutputTopic(mut e) => {
                e.topic_type = Some("AgentOutputTopic".into());
                Event::PublishToTopic(e)
            }
            other => other,
        };
        match &mut event {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) => {
                e.input_data = published(&e.meta, &e.input_data);
            }
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) => {
                e.input_data = published(&e.meta, &e.input_data);
                e.output_data = consumed(&e.meta, &e.component, &e.output_data);
            }
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) => {
                e.input_data = published(&e.meta, &e.input_data);
            }
            Event::NodeInvoke(e) => typed_consumed(&mut e.input_data),
            Event::NodeFailed(e) => typed_consumed(&mut e.input_data),
            Event::NodeRespond(e) => {
                typed_consumed(&mut e.input_data);
                e.output_data = published(&e.meta, &e.output_data);
            }
            Event::PublishToTopic(e) => {
                e.topic_type.get_or_insert_with(|| "Topic".into());
            }
            Event::ConsumeFromTopic(e) => {
                e.topic_type.get_or_insert_with(|| "Topic".into());
            }
            Event::TopicEvent(e) => {
                e.topic_type.get_or_insert_with(|| "Topic".into());
            }
            _ => {}
        }
        if let Some(meta) = event.meta_mut() {
            meta.dialect = Dialect::V0_0_36;
        }
        event
    }
}

fn embedded_meta(of: &EventMeta, suffix: &str) -> EventMeta {
    EventMeta {
        event_id: format!("{}-{suffix}", of.event_id),
        unknown: UnknownFields::default(),
        dialect: Dialect::V0_0_36,
        ..of.clone()
    }
}

fn messages(payload: &Payload) -> MessageList {
    payload.messages().cloned().unwrap_or_default()
}

fn published(of: &EventMeta, payload: &Payload) -> Payload {
    Payload::Published(Box::new(PublishToTopic {
        meta: embedded_meta(of, "in"),
        consumed_event_ids: Vec::new(),
        publisher_name: String::new(),
        publisher_type: String::new(),
        topic_name: String::new(),
        topic_type: Some("NoneTopic".into()),
        offset: -1,
        data: messages(payload),
    }))
}

fn consumed(of: &EventMeta, by: &ComponentInfo, payload: &Payload) -> Payload {
    Payload::Consumed(vec![ConsumeFromTopic {
        meta: embedded_meta(of, "out"),
        consumer_name: by.name.clone(),
        consumer_type: by.type_name.clone(),
        topic_name: "agent_output_topic".into(),
        topic_type: Some("AgentOutputTopic".into()),
        offset: 0,
        data: messages(payload),
    }])
}

fn typed_consumed(payload: &mut Payload) {
    if let Payload::Consumed(events) = payload {
        for c in events {
            c.meta.dialect = Dialect::V0_0_36;
            c.topic_type.get_or_insert_with(|| "Topic".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        ComponentInfo, ConsumeFromTopic, Dialect, Event, InvokeContext, Message, NodeInfo,
    };

    fn every_kind() -> Vec<Event> {
        let ctx = || InvokeContext::new("c", "r");
        let c = ComponentInfo::new("C", "CType");
        let n = NodeInfo::new("N", "LLMNode");
        let m = [Message::user("hi")];
        let consumed = ConsumeFromTopic::new(ctx(), ("N", "LLMNode"), ("in", 0), &m);
        vec![
            Event::assistant_invoke(ctx(), c.clone(), &m),
            Event::assistant_respond(ctx(), c.clone(), &m, &m),
            Event::workflow_failed(ctx(), c.clone(), &m, "boom"),
            Event::tool_respond(ctx(), c.clone(), &m, &m),
            Event::node_invoke(ctx(), n.clone(), vec![consumed.clone()]),
            Event::node_respond(ctx(), n.clone(), vec![consumed.clone()], &m),
            Event::node_failed(ctx(), n, vec![consumed.clone()], "boom"),
            Event::publish_to_topic(ctx(), ("N", "LLMNode"), ("out", 1), vec![], &m),
            Event::output_topic(ctx(), ("N", "LLMNode"), ("out", 2), vec![], &m),
            Event::ConsumeFromTopic(consumed),
        ]
    }

    /// Every kind fits grafi 0.0.36's shapes, decodes back to itself from its document, and
    /// keeps its messages; a second call changes nothing.
    #[test]
    fn every_kind_fits_0_0_36_and_round_trips() {
        for built in every_kind() {
            let before = built.input_messages().map(|m| m.as_str().to_owned());
            let event = built.into_grafi_0_0_36();
            assert_eq!(event.dialect(), Some(Dialect::V0_0_36));
            assert_eq!(event.shape_error(), None, "{}", event.event_type());
            assert_eq!(
                event.input_messages().map(|m| m.as_str().to_owned()),
                before
            );
            let back = crate::decode_str(&event.to_json()).unwrap();
            assert_eq!(back, event);
            assert_eq!(event.clone().into_grafi_0_0_36(), event);
        }
    }
}
