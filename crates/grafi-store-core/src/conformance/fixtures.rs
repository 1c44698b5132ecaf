//! Events for the scenarios: the real grafi corpus and generated traces.

use grafi_events::{
    new_id, ComponentInfo, ConsumeFromTopic, Event, InvokeContext, Message, NodeInfo,
};
use serde_json::json;

use super::dialect::{all_in_suite_dialect, in_suite_dialect};

/// The real grafi 0.0.24 corpus, as JSON lines: 211 documents written by the Python library
/// (`fixtures/grafi-0.0.24/events.jsonl` of the grafi-rs repository; the crate's
/// `corpus/grafi-0.0.24.jsonl` is a symlink to it, so the package carries its contents).
pub const GRAFI_CORPUS_JSONL: &str = include_str!("../../corpus/grafi-0.0.24.jsonl");

/// The real grafi 0.0.24 corpus (211 events in 4 conversations and 13 requests), decoded.
pub fn grafi_corpus() -> Vec<Event> {
    GRAFI_CORPUS_JSONL
        .lines()
        .map(|line| grafi_events::decode_str(line).expect("the grafi corpus decodes"))
        .collect()
}

/// The real grafi 0.0.36 corpus, as JSON lines: 201 documents written by the Python library
/// (`fixtures/grafi-0.0.36/events.jsonl`, packaged as `corpus/grafi-0.0.36.jsonl`).
pub const GRAFI_036_CORPUS_JSONL: &str = include_str!("../../corpus/grafi-0.0.36.jsonl");

/// The real grafi 0.0.36 corpus (201 events in 4 conversations and 11 requests), decoded.
pub fn grafi_036_corpus() -> Vec<Event> {
    GRAFI_036_CORPUS_JSONL
        .lines()
        .map(|line| grafi_events::decode_str(line).expect("the grafi 0.0.36 corpus decodes"))
        .collect()
}

/// A realistic request trace, in the suite's dialect ([`super::suite_dialect`]): assistant → workflow → nodes ↔ topics → tools, `requests`
/// requests long, in one conversation. Topic offsets start at `first_offset`.
pub fn agent_trace(conversation_id: &str, requests: usize, first_offset: i64) -> Vec<Event> {
    let mut events = Vec::new();
    for r in 0..requests {
        let request_id = new_id();
        let ctx = InvokeContext::new(conversation_id, &request_id)
            .with_user_id("user-42")
            .with_kwarg("locale", json!("en-GB"));
        let assistant = ComponentInfo::new("TravelConcierge", "ReActAssistant");
        let workflow = ComponentInfo::new("travel_react_workflow", "EventDrivenWorkflow");
        let node = NodeInfo::new("PlannerLLMNode", "LLMNode");
        let tool = ComponentInfo::new("OpenAITool", "OpenAITool");
        let question = [Message::user(format!("Question {r}: weather in Tokyo?"))];
        let answer = [Message::assistant(format!("Answer {r}: sunny, 31 °C."))];
        let offset = first_offset + r as i64;
        let published = Event::publish_to_topic(
            ctx.clone(),
            ("travel_react_workflow", "EventDrivenWorkflow"),
            ("agent_input_topic", offset),
            vec![],
            &question,
        );
        let consumed = ConsumeFromTopic::new(
            ctx.clone(),
            ("PlannerLLMNode", "LLMNode"),
            ("agent_input_topic", offset),
            &question,
        );
        events.push(Event::assistant_invoke(
            ctx.clone(),
            assistant.clone(),
            &question,
        ));
        events.push(Event::workflow_invoke(
            ctx.clone(),
            workflow.clone(),
            &question,
        ));
        events.push(published);
        events.push(Event::ConsumeFromTopic(consumed.clone()));
        events.push(Event::node_invoke(
            ctx.clone(),
            node.clone(),
            vec![consumed.clone()],
        ));
        events.push(Event::tool_invoke(ctx.clone(), tool.clone(), &question));
        if r % 4 == 3 {
            events.push(Event::tool_failed(
                ctx.clone(),
                tool,
                &question,
                "HTTP 429: rate limited",
            ));
            events.push(Event::node_failed(
                ctx.clone(),
                node,
                vec![consumed],
                "tool failed",
            ));
            events.push(Event::workflow_failed(
                ctx.clone(),
                workflow,
                &question,
                "node failed",
            ));
            events.push(Event::assistant_failed(
                ctx,
                assistant,
                &question,
                "workflow failed",
            ));
        } else {
            events.push(Event::tool_respond(ctx.clone(), tool, &question, &answer));
            events.push(Event::node_respond(
                ctx.clone(),
                node,
                vec![consumed.clone()],
                &answer,
            ));
            events.push(Event::output_topic(
                ctx.clone(),
                ("PlannerLLMNode", "LLMNode"),
                ("agent_output_topic", offset),
                vec![consumed.meta.event_id.clone()],
                &answer,
            ));
            events.push(Event::workflow_respond(
                ctx.clone(),
                workflow,
                &question,
                &answer,
            ));
            events.push(Event::assistant_respond(ctx, assistant, &question, &answer));
        }
    }
    all_in_suite_dialect(events)
}

/// `n` small tool events in one conversation and request.
pub fn simple_events(conversation_id: &str, request_id: &str, n: usize) -> Vec<Event> {
    let ctx = InvokeContext::new(conversation_id, request_id);
    let tool = ComponentInfo::new("calculator", "FunctionCallTool");
    (0..n)
        .map(|i| {
            in_suite_dialect(Event::tool_invoke(
                ctx.clone(),
                tool.clone(),
                &[Message::user(format!("2 + {i}"))],
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_corpus_has_all_211_documents() {
        let corpus = super::grafi_corpus();
        assert_eq!(corpus.len(), 211);
        assert_eq!(super::GRAFI_CORPUS_JSONL.lines().count(), 211);
    }
}
