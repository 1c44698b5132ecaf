//! Open the store the environment names (`GRAFI_STORE_URL`, then `DATABASE_URL`, else the
//! in-memory store, said out loud), record an assistant run and read it back. A service that
//! must not run without a database calls `grafi_store::from_env()` instead, which fails when
//! neither variable is set.
//!
//! Run with `cargo run --example from_env -p grafi-store` (in memory), or with
//! `--features postgres` and `GRAFI_STORE_URL=postgres://…` for PostgreSQL.

use grafi_store::grafi_events::{ComponentInfo, Event, InvokeContext, Message};
use grafi_store::StoreError;

#[tokio::main]
async fn main() -> Result<(), StoreError> {
    let (store, selection) = grafi_store::from_env_or_memory().await?;
    eprintln!("store: {} ({})", selection.url, selection.source.describe());
    if selection.fell_back_to_memory() {
        eprintln!(
            "neither GRAFI_STORE_URL nor DATABASE_URL is set: events are kept in memory only"
        );
    }

    let ctx = InvokeContext::new("conversation-1", "request-1");
    let assistant = ComponentInfo::new("TravelConcierge", "ReActAssistant");
    let question = [Message::user("Weather in Tokyo?")];
    store
        .record_events(vec![
            Event::assistant_invoke(ctx.clone(), assistant.clone(), &question),
            Event::assistant_respond(ctx, assistant, &question, &[Message::assistant("Sunny.")]),
        ])
        .await?;

    for event in store.get_agent_events("request-1").await? {
        println!("{}  {}", event.utc(), event.event_type());
    }
    Ok(())
}
