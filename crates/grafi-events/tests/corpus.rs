//! The real grafi 0.0.24 corpus decodes into typed events and re-encodes byte for byte.

use std::collections::BTreeMap;

use grafi_events::{decode_str, Event, EventType};
use serde_json::Value;

mod common;
use common::corpus_lines as corpus;

#[test]
fn every_line_decodes_typed_and_reencodes_byte_for_byte() {
    let lines = corpus();
    assert_eq!(lines.len(), 211);
    for (n, line) in lines.iter().enumerate() {
        let event = decode_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        assert!(
            event.builtin_type().is_some(),
            "line {} decoded untyped",
            n + 1
        );
        assert_eq!(&event.to_json(), line, "line {} differs", n + 1);
        // And semantically, through serde's value model.
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event.to_value(), original, "line {}", n + 1);
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
        (EventType::AssistantInvoke, 12),
        (EventType::AssistantRespond, 10),
        (EventType::AssistantFailed, 3),
        (EventType::WorkflowInvoke, 12),
        (EventType::WorkflowRespond, 10),
        (EventType::WorkflowFailed, 3),
        (EventType::NodeInvoke, 24),
        (EventType::NodeRespond, 22),
        (EventType::NodeFailed, 3),
        (EventType::ToolInvoke, 25),
        (EventType::ToolRespond, 22),
        (EventType::ToolFailed, 3),
        (EventType::PublishToTopic, 24),
        (EventType::ConsumeFromTopic, 29),
        (EventType::OutputTopic, 9),
    ];
    assert_eq!(counts, expected.into_iter().collect());
}

#[test]
fn every_message_list_in_the_corpus_decodes() {
    let mut messages = 0;
    for line in corpus() {
        let event = decode_str(&line).unwrap();
        let mut lists: Vec<_> = event
            .input_messages()
            .into_iter()
            .chain(event.output_messages())
            .collect();
        if let Event::NodeInvoke(e) = &event {
            lists.extend(
                e.input_data
                    .consumed()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| &c.data),
            );
        }
        for list in lists {
            messages += list
                .decode()
                .unwrap_or_else(|e| panic!("{}: {e}", event.event_id()))
                .len();
        }
    }
    assert!(messages > 300, "only {messages} messages decoded");
}

#[test]
fn accessors_read_the_identifying_fields() {
    let lines = corpus();
    let conversations: std::collections::BTreeSet<_> = lines
        .iter()
        .map(|l| decode_str(l).unwrap().conversation_id().to_owned())
        .collect();
    let requests: std::collections::BTreeSet<_> = lines
        .iter()
        .map(|l| decode_str(l).unwrap().assistant_request_id().to_owned())
        .collect();
    assert_eq!((conversations.len(), requests.len()), (4, 13));

    let first = decode_str(&lines[0]).unwrap();
    assert_eq!(first.event_id(), "28e6525e81504ac49a737aa8616e06b3");
    assert_eq!(first.utc().to_rfc3339(), "2025-07-08T09:14:27.318683+00:00");
    let max_offset = lines
        .iter()
        .filter_map(|l| decode_str(l).unwrap().topic().map(|(_, o)| o))
        .max();
    assert_eq!(max_offset, Some(2_147_483_647));
}
