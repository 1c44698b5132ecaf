//! The grafi dialect the suite's generated events are written in, so one suite runs unchanged
//! on a backend (or a table) that holds either dialect.
//!
//! A test binary names its dialect once (the macros' `dialect:` argument); it is a process
//! global because clauses spawn tasks and threads that a task-local would not reach, and each
//! test binary is a process of its own.

use std::sync::OnceLock;

use grafi_events::{
    ConsumeFromTopic, Dialect, Event, EventMeta, MessageList, Payload, PublishToTopic,
    UnknownFields,
};

static SUITE_DIALECT: OnceLock<Dialect> = OnceLock::new();

/// Sets the dialect of this test binary's generated events (the macros call it).
///
/// # Panics
/// When the binary already runs the suite in another dialect: give each dialect its own test
/// file.
pub fn set_suite_dialect(dialect: Dialect) {
    let set = *SUITE_DIALECT.get_or_init(|| dialect);
    assert_eq!(
        set, dialect,
        "one suite dialect per test binary: run the other dialect from another test file"
    );
}

/// The dialect generated events are written in: 0.0.24 unless the binary named another.
pub fn suite_dialect() -> Dialect {
    SUITE_DIALECT.get().copied().unwrap_or_default()
}

/// `event`, built by grafi-events' constructors (which write 0.0.24), in the suite's dialect.
///
/// For grafi 0.0.36 the messages move to where grafi 0.0.36 keeps them: an assistant's or
/// workflow's input into an embedded PublishToTopic event, its answer into an embedded
/// ConsumeFromTopic event, a node's output into an embedded PublishToTopic event; topics get a
/// type, and an OutputTopic becomes what grafi 0.0.36 records instead, a PublishToTopic to an
/// `AgentOutputTopic`. (A TopicEvent, which grafi 0.0.36 cannot store, stays one, and is
/// refused.) The embedded events' ids derive from the event's, so a fixture stays deterministic.
pub fn in_suite_dialect(event: Event) -> Event {
    match suite_dialect() {
        Dialect::V0_0_36 => as_036(event),
        _ => event,
    }
}

/// [`in_suite_dialect`] for a batch.
pub fn all_in_suite_dialect(events: Vec<Event>) -> Vec<Event> {
    events.into_iter().map(in_suite_dialect).collect()
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

fn consumed(of: &EventMeta, payload: &Payload) -> Payload {
    Payload::Consumed(vec![ConsumeFromTopic {
        meta: embedded_meta(of, "out"),
        consumer_name: "conformance_workflow".into(),
        consumer_type: "EventDrivenWorkflow".into(),
        topic_name: "agent_output_topic".into(),
        topic_type: Some("AgentOutputTopic".into()),
        offset: 0,
        data: messages(payload),
    }])
}

fn consumed_036(payload: &mut Payload) {
    if let Payload::Consumed(events) = payload {
        for c in events {
            c.meta.dialect = Dialect::V0_0_36;
            c.topic_type.get_or_insert_with(|| "Topic".into());
        }
    }
}

fn as_036(mut event: Event) -> Event {
    match &mut event {
        Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) => {
            e.input_data = published(&e.meta, &e.input_data);
        }
        Event::AssistantRespond(e) | Event::WorkflowRespond(e) => {
            e.input_data = published(&e.meta, &e.input_data);
            e.output_data = consumed(&e.meta, &e.output_data);
        }
        Event::AssistantFailed(e) | Event::WorkflowFailed(e) => {
            e.input_data = published(&e.meta, &e.input_data);
        }
        Event::NodeInvoke(e) => consumed_036(&mut e.input_data),
        Event::NodeRespond(e) => {
            consumed_036(&mut e.input_data);
            e.output_data = published(&e.meta, &e.output_data);
        }
        Event::NodeFailed(e) => consumed_036(&mut e.input_data),
        Event::PublishToTopic(e) => {
            e.topic_type.get_or_insert_with(|| "Topic".into());
        }
        // grafi 0.0.36 has no OutputTopic: what grafi 0.0.24 recorded as one, it records as a
        // publication to an AgentOutputTopic.
        Event::OutputTopic(e) => {
            let mut e = e.clone();
            e.topic_type = Some("AgentOutputTopic".into());
            event = Event::PublishToTopic(e);
        }
        Event::ConsumeFromTopic(e) => {
            e.topic_type.get_or_insert_with(|| "Topic".into());
        }
        _ => {}
    }
    if event.builtin_type().is_some() {
        if let Some(meta) = event.meta_mut() {
            meta.dialect = Dialect::V0_0_36;
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::agent_trace;

    /// The conversion writes what grafi 0.0.36 can read: every event fits its dialect's
    /// shapes and decodes back to itself from its document.
    #[test]
    fn a_trace_in_0_0_36_fits_the_dialect_and_round_trips() {
        let trace: Vec<Event> = agent_trace("c", 2, 0).into_iter().map(as_036).collect();
        for event in &trace {
            assert_eq!(event.dialect(), Some(Dialect::V0_0_36));
            assert_eq!(event.shape_error(), None, "{}", event.event_type());
            let back = grafi_events::decode_str(&event.to_json()).unwrap();
            assert_eq!(&back, event);
        }
    }
}
