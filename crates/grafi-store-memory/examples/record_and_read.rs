//! Record an agent run in the in-memory store and read it back three ways.
//!
//! Run with `cargo run --example record_and_read -p grafi-store-memory`.

use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
use grafi_store_core::{EventStore, StoreError};
use grafi_store_memory::MemoryEventStore;

#[tokio::main]
async fn main() -> Result<(), StoreError> {
    let store = MemoryEventStore::new();
    let ctx = InvokeContext::new("conversation-1", "request-1").with_user_id("alice");
    let assistant = ComponentInfo::new("TravelConcierge", "ReActAssistant");
    let tool = ComponentInfo::new("Weather API", "FunctionCallTool");
    let question = [Message::user("Weather in Tokyo?")];

    let outcome = store
        .record_events(vec![
            Event::assistant_invoke(ctx.clone(), assistant.clone(), &question),
            Event::tool_invoke(ctx.clone(), tool.clone(), &question),
            Event::tool_failed(ctx.clone(), tool, &question, "timed out after 30 s"),
            Event::assistant_respond(ctx, assistant, &question, &[Message::assistant("Sunny.")]),
        ])
        .await?;
    println!(
        "recorded {}, duplicates {}",
        outcome.recorded, outcome.duplicates
    );

    // Everything one assistant request did, in recording order.
    for event in store.get_agent_events("request-1").await? {
        println!(
            "{}  {:<18} {}",
            event.utc(),
            event.event_type(),
            event.event_id()
        );
    }

    // What failed in the conversation.
    for event in store.get_conversation_events("conversation-1").await? {
        if let Some(error) = event.error() {
            println!("{} failed: {error}", event.event_type());
        }
    }

    // One event by id, as grafi's JSON document.
    let first = store.get_events().await?[0].event_id().to_owned();
    if let Some(event) = store.get_event(&first).await? {
        println!("{}", event.to_json());
    }
    Ok(())
}
