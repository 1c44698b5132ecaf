//! Decode a document grafi wrote, look inside it, and write it back byte for byte; then make
//! a new event the way grafi would.
//!
//! Run with `cargo run --example round_trip -p grafi-events`.

use grafi_events::{decode_str, ComponentInfo, Event, InvokeContext, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One line of grafi 0.0.24's `events` table, as `event.to_dict()` made it.
    let line = r#"{"event_context": {"consumer_name": "n", "consumer_type": "LLMNode", "topic_name": "agent_input_topic", "offset": 0, "invoke_context": {"conversation_id": "c1", "invoke_id": "i1", "assistant_request_id": "r1", "user_id": "u", "kwargs": {}}}, "event_id": "e1", "event_version": "1.0", "assistant_request_id": "r1", "event_type": "ConsumeFromTopic", "timestamp": "2025-07-08T09:14:27.319099+00:00", "data": "[]"}"#;
    let event = decode_str(line)?;
    println!(
        "{} in conversation {}",
        event.event_type(),
        event.conversation_id()
    );
    println!("topic {:?}", event.topic());
    assert_eq!(event.to_json(), line); // the same bytes Python's json.dumps wrote

    // A new event: fresh uuid4-hex id, timestamp now, grafi's field order.
    let ctx = InvokeContext::new("conversation-1", "request-1").with_user_id("alice");
    let tool = ComponentInfo::new("OpenAI Tool", "LLMTool");
    let invoke = Event::tool_invoke(ctx, tool, &[Message::user("Hello")]);
    println!("{}", invoke.to_json());
    Ok(())
}
