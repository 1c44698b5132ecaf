//! The real grafi 0.0.36 corpus decodes into typed events of dialect 0.0.36 and re-encodes
//! byte for byte.

use std::collections::BTreeMap;

use grafi_events::{decode_str, Dialect, Event, EventType, Payload};
use serde_json::Value;

mod common;
use common::{corpus36_lines as corpus, corpus_lines as corpus24};

#[test]
fn every_line_decodes_typed_and_reencodes_byte_for_byte() {
    let lines = corpus();
    assert_eq!(lines.len(), 201);
    for (n, line) in lines.iter().enumerate() {
        let event = decode_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        assert!(
            event.builtin_type().is_some(),
            "line {} decoded untyped",
            n + 1
        );
        assert_eq!(event.dialect(), Some(Dialect::V0_0_36), "line {}", n + 1);
        assert_eq!(&event.to_json(), line, "line {} differs", n + 1);
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event.to_value(), original, "line {}", n + 1);
        // Nothing the 0.0.36 model names is left over as an unknown field, but `model`
        // (an assistant's optional field, kept in place after `invoke_context`).
        let meta = event.meta().unwrap();
        assert!(
            meta.unknown.top.is_empty(),
            "line {}: {:?}",
            n + 1,
            meta.unknown.top
        );
        assert!(
            meta.unknown.data.is_empty(),
            "line {}: {:?}",
            n + 1,
            meta.unknown.data
        );
        let context: Vec<_> = meta.unknown.context.keys().collect();
        assert!(
            context.is_empty() || context == ["model"],
            "line {}: {context:?}",
            n + 1
        );
    }
}

#[test]
fn the_other_corpus_stays_in_its_own_dialect() {
    for line in corpus24() {
        assert_eq!(decode_str(&line).unwrap().dialect(), Some(Dialect::V0_0_24));
    }
}

#[test]
fn counts_by_type_match_the_fixture_readme() {
    let mut counts: BTreeMap<EventType, usize> = BTreeMap::new();
    for line in corpus() {
        *counts
            .entry(decode_str(&line).unwrap().builtin_type().unwrap())
            .or_default() += 1;
    }
    let expected = [
        (EventType::AssistantInvoke, 9),
        (EventType::AssistantRespond, 8),
        (EventType::AssistantFailed, 2),
        (EventType::WorkflowInvoke, 9),
        (EventType::WorkflowRespond, 8),
        (EventType::WorkflowFailed, 2),
        (EventType::NodeInvoke, 24),
        (EventType::NodeRespond, 23),
        (EventType::NodeFailed, 2),
        (EventType::ToolInvoke, 24),
        (EventType::ToolRespond, 23),
        (EventType::ToolFailed, 2),
        (EventType::PublishToTopic, 31),
        (EventType::ConsumeFromTopic, 34),
    ];
    assert_eq!(counts, expected.into_iter().collect());
}

/// The shapes the fixture README describes, read through the typed model.
#[test]
fn payloads_have_the_shapes_grafi_writes() {
    let (mut published_inputs, mut consumed_outputs, mut details, mut typed_topics) = (0, 0, 0, 0);
    for line in corpus() {
        let event = decode_str(&line).unwrap();
        match &event {
            Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) => {
                let published = e
                    .input_data
                    .published()
                    .expect("an embedded PublishToTopic");
                assert_eq!(published.meta.dialect, Dialect::V0_0_36);
                assert!(published.topic_type.is_some());
                published_inputs += 1;
            }
            Event::AssistantRespond(e) | Event::WorkflowRespond(e) => {
                assert!(e.output_data.consumed().is_some());
                consumed_outputs += 1;
            }
            Event::ToolInvoke(e) => {
                let messages = e.input_data.messages().unwrap().decode().unwrap();
                assert!(!messages.is_empty() || e.input_data.messages().unwrap().as_str() == "[]");
            }
            Event::NodeRespond(e) => assert!(matches!(e.output_data, Payload::Published(_))),
            Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
                details += usize::from(e.error_details.is_some());
            }
            Event::NodeFailed(e) => details += usize::from(e.error_details.is_some()),
            Event::PublishToTopic(e) => typed_topics += usize::from(e.topic_type.is_some()),
            Event::ConsumeFromTopic(e) => typed_topics += usize::from(e.topic_type.is_some()),
            _ => {}
        }
    }
    assert_eq!(published_inputs, 18);
    assert_eq!(consumed_outputs, 16);
    assert_eq!(typed_topics, 65);
    assert!(details >= 6, "{details} failures with error_details");
}

#[test]
fn topic_reads_see_the_topic_name() {
    let (line, event) = corpus()
        .into_iter()
        .map(|l| (decode_str(&l).unwrap(), l))
        .find_map(|(e, l)| (e.builtin_type() == Some(EventType::PublishToTopic)).then_some((l, e)))
        .unwrap();
    let (name, offset) = event.topic().unwrap();
    let doc: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(name, doc["event_context"]["name"]);
    assert_eq!(offset, doc["event_context"]["offset"].as_i64().unwrap());
    assert!(event.is_topic_record());
}

/// A damaged 0.0.36 document is refused with the event id and the path of the field, also
/// deep inside an embedded event; fields grafi 0.0.36 does not write are kept in place.
#[test]
fn errors_name_the_event_and_the_field_and_unknown_fields_are_kept() {
    let line = corpus()
        .into_iter()
        .find(|l| l.contains("\"event_type\": \"AssistantInvoke\""))
        .unwrap();
    let mut doc: Value = serde_json::from_str(&line).unwrap();
    let id = doc["event_id"].as_str().unwrap().to_owned();

    let mut wrong = doc.clone();
    wrong["data"]["input_data"] = Value::String("[]".into());
    let err = grafi_events::EventRegistry::builtin()
        .decode_value(wrong)
        .unwrap_err();
    assert_eq!(err.event_id.as_deref(), Some(id.as_str()));
    assert_eq!(err.path, "data.input_data", "{err}");

    let mut deep = doc.clone();
    deep["data"]["input_data"]["event_context"]["offset"] = Value::String("x".into());
    let err = grafi_events::EventRegistry::builtin()
        .decode_value(deep)
        .unwrap_err();
    assert_eq!(err.path, "data.input_data.event_context.offset", "{err}");

    doc["event_context"]["added_by_a_later_grafi"] = serde_json::json!({"b": 1, "a": [2]});
    doc["data"]["input_data"]["event_context"]["z"] = Value::Null;
    let text = grafi_events::python_json::to_string(&doc);
    let event = decode_str(&text).unwrap();
    assert_eq!(event.dialect(), Some(Dialect::V0_0_36));
    assert_eq!(event.to_json(), text);
}
