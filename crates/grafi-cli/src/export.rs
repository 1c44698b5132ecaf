//! `grafi-store export`: JSONL on stdout, each line the grafi document of one event.

use std::sync::Arc;

use grafi_events::Event;
use grafi_store::EventStore;

use crate::dialects::DialectCounts;
use crate::out;
use crate::Outcome;

/// Events per page when exporting everything.
const PAGE: usize = 1000;

pub enum Filter {
    All,
    Conversation(String),
    Request(String),
    Event(String),
    Topic(String, Vec<i64>),
}

/// The reader going away (`| head`) ends the export quietly: [`out::StdoutClosed`].
pub async fn run(store: Arc<dyn EventStore>, filter: Filter) -> anyhow::Result<Outcome> {
    let mut stdout = out::Buffered::new(1 << 16);
    let outcome = write_events(&*store, filter, &mut stdout).await?;
    stdout.flush()?;
    Ok(outcome)
}

/// Events named on stderr when they do not decode; beyond this, only counted.
const UNDECODABLE_SHOWN: usize = 10;

async fn write_events(
    store: &dyn EventStore,
    filter: Filter,
    out: &mut out::Buffered,
) -> anyhow::Result<Outcome> {
    let mut undecodable = 0usize;
    let mut dialects = DialectCounts::default();
    let mut write = |out: &mut out::Buffered, events: &[Arc<Event>]| -> anyhow::Result<()> {
        for event in events {
            dialects.add(event);
            out.write_all(event.to_json().as_bytes())?;
            out.write_all(b"\n")?;
            if let Event::Raw(raw) = &**event {
                if let Some(reason) = &raw.decode_error {
                    undecodable += 1;
                    if undecodable <= UNDECODABLE_SHOWN {
                        crate::errln!("exported as stored, does not decode: {reason}");
                    }
                }
            }
        }
        Ok(())
    };
    match filter {
        Filter::All => {
            let mut after = None;
            loop {
                let page = store.get_events_page(after, PAGE).await?;
                write(out, &page.events)?;
                match page.next {
                    Some(next) if !page.events.is_empty() => after = Some(next),
                    _ => break,
                }
            }
        }
        Filter::Conversation(id) => write(out, &store.get_conversation_events(&id).await?)?,
        Filter::Request(id) => write(out, &store.get_agent_events(&id).await?)?,
        Filter::Topic(name, offsets) => {
            write(out, &store.get_topic_events(&name, &offsets).await?)?
        }
        Filter::Event(id) => match store.get_event(&id).await? {
            Some(event) => write(out, &[event])?,
            None => {
                crate::errln!("no event with id {:?}", crate::input::shorten(&id, 80));
                return Ok(Outcome::Incomplete);
            }
        },
    }
    tracing::info!(
        target: "grafi_cli",
        dialects = %dialects.describe(),
        "export written"
    );
    if undecodable > 0 {
        crate::errln!(
            "{undecodable} events do not decode and were exported exactly as stored \
             (see docs/reliability.md)"
        );
    }
    Ok(Outcome::Success)
}
