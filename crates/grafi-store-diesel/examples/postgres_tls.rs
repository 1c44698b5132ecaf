//! Connect to PostgreSQL over TLS with the server's certificate and host name checked
//! (`sslmode=verify-full`), record an event and read it back.
//!
//! The connection string comes from `GRAFI_PG_URL`, for example
//! `postgres://app:secret@db.example.com:5432/agents?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem`
//! (`sslrootcert=system` trusts the operating system's roots; without `sslrootcert`,
//! `~/.postgresql/root.crt` if it exists, else the system's). Connecting creates the `events`
//! table if the database has none.
//!
//! Run with `GRAFI_PG_URL=… cargo run --example postgres_tls -p grafi-store-diesel`.

use std::env::{self, VarError};
use std::process::ExitCode;

use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
use grafi_store_core::{EventStore, StoreError};
use grafi_store_diesel::{ConnectionSettings, DieselEventStore, SslMode};

const URL_VAR: &str = "GRAFI_PG_URL";

#[tokio::main]
async fn main() -> ExitCode {
    let url = match env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        Ok(_) | Err(VarError::NotPresent) => {
            eprintln!(
                "{URL_VAR} is not set. Set it to a PostgreSQL connection string with \
                 sslmode=verify-full, e.g.\n  \
                 {URL_VAR}='postgres://app@db.example.com:5432/agents?sslmode=verify-full&sslrootcert=/path/to/ca.pem'"
            );
            return ExitCode::from(2);
        }
        Err(VarError::NotUnicode(_)) => {
            eprintln!("{URL_VAR} is not valid UTF-8");
            return ExitCode::from(2);
        }
    };
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        // Errors name the server but never contain the password.
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), StoreError> {
    // Refuse anything weaker than verify-full before connecting (`PGSSLMODE` counts too).
    let settings = ConnectionSettings::parse(url)?;
    if settings.ssl_mode() != SslMode::VerifyFull {
        return Err(StoreError::Config(format!(
            "{URL_VAR} ({settings}) must ask for sslmode=verify-full"
        )));
    }

    let store = DieselEventStore::builder(url).connect().await?;
    println!("connected to {}", store.connection());

    let ctx = InvokeContext::new("conversation-1", "request-1");
    let tool = ComponentInfo::new("OpenAI Tool", "LLMTool");
    let question = [Message::user("Hello")];
    let event = Event::tool_invoke(ctx, tool, &question);
    let id = event.event_id().to_owned();

    let outcome = store.record_event(event).await?;
    println!(
        "recorded {}, duplicates {}",
        outcome.recorded, outcome.duplicates
    );
    if let Some(stored) = store.get_event(&id).await? {
        println!("{}", stored.to_json());
    }
    Ok(())
}
