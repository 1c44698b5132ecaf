//! `grafi-store export`: JSONL on stdout, each line the grafi document of one event.

use std::io::Write;
use std::sync::Arc;

use futures::TryStreamExt;
use grafi_events::Event;
use grafi_store::EventStore;
use grafi_store_core::Erasure;

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
    /// Everything held about one user (an access request): the events erasing them would
    /// remove.
    User(String),
}

/// The reader going away (`| head`) ends the export quietly: [`out::StdoutClosed`].
pub async fn run(store: Arc<dyn EventStore>, filter: Filter) -> anyhow::Result<Outcome> {
    let mut stdout = out::buffered(1 << 16);
    let outcome = write_events(&store, filter, &mut stdout).await?;
    stdout.flush().map_err(out::write_error)?;
    Ok(outcome)
}

/// Events named on stderr when they do not decode; beyond this, only counted.
const UNDECODABLE_SHOWN: usize = 10;

/// Writes each event's document as one line, and counts what it wrote.
struct Writer<'a, W> {
    sink: &'a mut W,
    undecodable: usize,
    dialects: DialectCounts,
}

impl<W: Write> Writer<'_, W> {
    fn write(&mut self, event: &Event) -> anyhow::Result<()> {
        self.dialects.add(event);
        self.sink
            .write_all(event.to_json().as_bytes())
            .and_then(|()| self.sink.write_all(b"\n"))
            .map_err(out::write_error)?;
        if let Event::Raw(raw) = event {
            if let Some(reason) = &raw.decode_error {
                self.undecodable += 1;
                if self.undecodable <= UNDECODABLE_SHOWN {
                    crate::errln!("exported as stored, does not decode: {reason}");
                }
            }
        }
        Ok(())
    }
}

/// Every read streams or pages, so memory stays bounded by a page whatever the store holds (a
/// conversation or a request is one read on a backend without a bounded stream for it; a
/// user's events are one read).
async fn write_events(
    store: &Arc<dyn EventStore>,
    filter: Filter,
    sink: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let mut writer = Writer {
        sink,
        undecodable: 0,
        dialects: DialectCounts::default(),
    };
    match filter {
        Filter::All => write_all(store, &mut writer).await?,
        Filter::Conversation(id) => {
            let mut events = store.stream_conversation_events(&id);
            while let Some(event) = events.try_next().await? {
                writer.write(&event)?;
            }
        }
        Filter::Request(id) => {
            let mut events = store.stream_agent_events(&id);
            while let Some(event) = events.try_next().await? {
                writer.write(&event)?;
            }
        }
        Filter::Topic(name, offsets) => {
            for event in store.get_topic_events(&name, &offsets).await? {
                writer.write(&event)?;
            }
        }
        Filter::User(id) => {
            for event in store.subject_events(&Erasure::User(id)).await? {
                writer.write(&event)?;
            }
        }
        Filter::Event(id) => match store.get_event(&id).await? {
            Some(event) => writer.write(&event)?,
            None => {
                crate::errln!("no event with id {:?}", crate::input::shorten(&id, 80));
                return Ok(Outcome::Incomplete);
            }
        },
    }
    tracing::info!(
        target: "grafi_cli",
        dialects = %writer.dialects.describe(),
        "export written"
    );
    if writer.undecodable > 0 {
        crate::errln!(
            "{} events do not decode and were exported exactly as stored \
             (see docs/reliability.md)",
            writer.undecodable
        );
    }
    Ok(Outcome::Success)
}

/// The whole store, page by page in recording order: a plain read of everything committed,
/// one page in memory at a time.
///
/// Not [`EventStore::stream_events`], though it is bounded too: a stream delivers only
/// events whose position is final, and on PostgreSQL that waits for every transaction that
/// started earlier anywhere on the server (another database's included) to end. An export
/// taken beside a long transaction would silently leave out everything committed after it
/// began; a backup must not. `tail` follows positions, and a later `tail --from` picks such
/// events up.
///
/// The next page is read while this one is written: reading (the server printing rows, the
/// store decoding them) and writing (encoding documents) each take about half the time, and
/// one after the other left a core idle half of it. Two pages are in memory at most.
async fn write_all(
    store: &Arc<dyn EventStore>,
    writer: &mut Writer<'_, impl Write>,
) -> anyhow::Result<()> {
    let fetch = |after: Option<u64>| {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.get_events_page(after, PAGE).await })
    };
    let mut reading = Some(fetch(None));
    while let Some(read) = reading.take() {
        let page = read.await??;
        if let Some(next) = page.next.filter(|_| !page.events.is_empty()) {
            reading = Some(fetch(Some(next)));
        }
        for event in &page.events {
            writer.write(event)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use grafi_events::{ComponentInfo, InvokeContext, Message};
    use grafi_store::StoreError;
    use grafi_store::{EventPage, MemoryEventStore, RecordOutcome};
    use grafi_store_core::{Cursor, Filter as PositionFilter, PositionPage};

    use super::*;

    const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");
    const CORPUS36: &str = include_str!("../../../fixtures/grafi-0.0.36/events.jsonl");

    /// A memory store whose positions are never final yet, as on PostgreSQL while an older
    /// transaction anywhere on the server is open: its position reads find nothing. Counts
    /// its page reads.
    struct HeldBack {
        inner: MemoryEventStore,
        page_reads: AtomicUsize,
    }

    crate::test_support::store_over_inner!(HeldBack {
        async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
            self.inner.record_events(events).await
        }
        async fn get_events_page(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<EventPage, StoreError> {
            self.page_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_events_page(after, limit).await
        }
        async fn read_positions(
            &self,
            after: &Cursor,
            _filter: &PositionFilter,
            _limit: usize,
        ) -> Result<PositionPage, StoreError> {
            Ok(PositionPage::new(Vec::new(), *after, false))
        }
    });

    async fn export(store: Arc<dyn EventStore>, filter: Filter) -> String {
        let mut sink = Vec::new();
        let outcome = write_events(&store, filter, &mut sink).await.unwrap();
        assert_eq!(outcome, Outcome::Success);
        String::from_utf8(sink).unwrap()
    }

    /// Both real corpora, then more events than two pages hold.
    async fn filled() -> (MemoryEventStore, String) {
        let store = MemoryEventStore::new();
        let ctx = InvokeContext::new("export-conversation", "export-request");
        let generated: Vec<Event> = (0..2_100)
            .map(|i| {
                Event::tool_invoke(
                    ctx.clone(),
                    ComponentInfo::new("Search", "FunctionCallTool"),
                    &[Message::user(format!("query {i}"))],
                )
            })
            .collect();
        let mut expected = format!("{CORPUS}{CORPUS36}");
        for event in &generated {
            expected.push_str(&event.to_json());
            expected.push('\n');
        }
        let decoded = CORPUS
            .lines()
            .chain(CORPUS36.lines())
            .map(|l| grafi_events::decode_str(l).unwrap());
        store.record_events(decoded.collect()).await.unwrap();
        store.record_events(generated).await.unwrap();
        (store, expected)
    }

    #[tokio::test]
    async fn the_whole_store_is_every_event_committed_final_or_not() {
        let (memory, expected) = filled().await;
        assert!(expected.lines().count() > 2 * PAGE);
        assert_eq!(
            export(Arc::new(memory.clone()), Filter::All).await,
            expected
        );
        let held_back = Arc::new(HeldBack {
            inner: memory,
            page_reads: AtomicUsize::new(0),
        });
        assert_eq!(export(held_back.clone(), Filter::All).await, expected);
        assert!(held_back.page_reads.load(Ordering::SeqCst) > 2);
    }

    #[tokio::test]
    async fn a_conversation_or_a_request_is_its_lines_of_the_corpus() {
        let (memory, _) = filled().await;
        let corpus: Vec<(&str, Event)> = CORPUS
            .lines()
            .map(|l| (l, grafi_events::decode_str(l).unwrap()))
            .collect();
        let lines_where = |pick: &dyn Fn(&Event) -> bool| -> String {
            corpus
                .iter()
                .filter(|(_, e)| pick(e))
                .map(|(l, _)| format!("{l}\n"))
                .collect()
        };
        let conversation = corpus[0].1.conversation_id().to_owned();
        let expected = lines_where(&|e| e.conversation_id() == conversation);
        assert!(expected.lines().count() > 1);
        assert_eq!(
            export(
                Arc::new(memory.clone()),
                Filter::Conversation(conversation.clone())
            )
            .await,
            expected
        );
        let request = corpus[0].1.assistant_request_id().to_owned();
        let expected = lines_where(&|e| e.assistant_request_id() == request);
        assert!(expected.lines().count() > 1);
        assert_eq!(
            export(Arc::new(memory.clone()), Filter::Request(request)).await,
            expected
        );
        assert_eq!(
            export(Arc::new(memory.clone()), Filter::Request("none".into())).await,
            ""
        );
    }

    /// A user's export is what erasing them would remove, written as `export` writes every
    /// event: the lines of both corpora that name the user or one of their conversations,
    /// and nothing else.
    #[tokio::test]
    async fn a_user_is_the_lines_naming_them_or_their_conversations() {
        let (memory, _) = filled().await;
        let store: Arc<dyn EventStore> = Arc::new(memory.clone());
        let lines: Vec<&str> = CORPUS.lines().chain(CORPUS36.lines()).collect();
        for user in ["cust_dana_w", "u_7f3a9c", "u_4c1e88", "bob"] {
            let conversations: Vec<String> = lines
                .iter()
                .filter(|l| l.contains(&format!("\"user_id\": \"{user}\"")))
                .map(|l| {
                    grafi_events::decode_str(l)
                        .unwrap()
                        .conversation_id()
                        .to_owned()
                })
                .collect();
            let expected: String = lines
                .iter()
                .filter(|l| l.contains(user) || conversations.iter().any(|c| l.contains(c)))
                .map(|l| format!("{l}\n"))
                .collect();
            let subject: String = memory
                .subject_events(&Erasure::User(user.into()))
                .await
                .unwrap()
                .iter()
                .map(|e| e.to_json() + "\n")
                .collect();
            let exported = export(Arc::clone(&store), Filter::User(user.into())).await;
            assert!(exported.lines().count() > 1, "{user}");
            assert_eq!(exported, expected, "{user}");
            assert_eq!(exported, subject, "{user}");
        }
        assert_eq!(
            export(Arc::clone(&store), Filter::User("nobody".into())).await,
            ""
        );
        let mut sink = Vec::new();
        let error = write_events(&store, Filter::User(String::new()), &mut sink)
            .await
            .unwrap_err();
        assert!(crate::is_usage_error(&error), "{error:#}");
        assert!(sink.is_empty());
    }
}
