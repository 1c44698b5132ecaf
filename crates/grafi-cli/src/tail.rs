//! `grafi-store tail`: the events after a cursor, as a timeline or as JSONL, and with
//! `--follow` each new one as it is recorded. It ends by printing the cursor to resume from,
//! so a script (or a person) can pick up exactly where it stopped: nothing printed twice,
//! nothing skipped.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use grafi_events::{Event, EventType};
use grafi_store::EventStore;
use grafi_store_core::{Cursor, CursorParseError, Filter};

use crate::interrupt::Interrupt;
use crate::out;
use crate::Outcome;

/// Where `tail` starts (`--from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this cursor (`start`: before every event).
    After(Cursor),
    /// After the last event recorded when `tail` starts: new events only.
    End,
}

/// `--from`: `end`, or a cursor's text (`start`, `g1.…`).
pub fn parse_start(text: &str) -> Result<Start, CursorParseError> {
    match text {
        "end" => Ok(Start::End),
        cursor => cursor.parse().map(Start::After),
    }
}

/// What `tail` was asked for.
pub struct Options {
    pub from: Start,
    pub follow: bool,
    pub filter: Filter,
    pub json: bool,
}

/// How long to wait after a retryable error before reading on: the first wait, and the
/// longest. A subscription whose store is down would otherwise fail, warn and retry as fast
/// as the store fails, filling the terminal with one warning per attempt.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How the reading ended when it did not fail.
enum Stop {
    /// Every event asked for was printed (never when following).
    End,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// Prints the events, then `resume: --from CURSOR` on stderr: the cursor of the last event
/// printed, or the starting one when none was. Also after a store failure (then the error
/// follows), but not when stdout's reader went away: which lines it read is unknown there,
/// and such an end is quiet for every command ([`out::StdoutClosed`]).
///
/// Exit status: 0 at the end of the events, and when `--follow` is stopped by Ctrl-C or
/// SIGTERM (following has no other end); 130 when a tail without `--follow` is stopped
/// before its end.
pub async fn run(store: Arc<dyn EventStore>, options: Options) -> anyhow::Result<Outcome> {
    note_unknown_types(&options.filter);
    let interrupt = Interrupt::listen(
        "stopping after the last event printed",
        "no resume cursor printed (resuming from an earlier one prints some events again)",
    )?;
    let from = match options.from {
        Start::After(cursor) => cursor,
        Start::End => store.end_cursor().await?,
    };
    tracing::info!(target: "grafi_cli", %from, follow = options.follow, "tail started");
    let mut stdout = out::buffered(1 << 16);
    let mut last = from;
    let stopped = print_events(&*store, &options, from, &mut stdout, &mut last, &interrupt).await;
    if let Err(e) = &stopped {
        if out::is_closed(e) {
            return stopped.map(|_| Outcome::Success);
        }
    }
    // Only what has reached stdout counts as printed.
    stdout.flush().map_err(out::write_error)?;
    crate::errln!("resume: --from {last}");
    Ok(match stopped? {
        Stop::Interrupted if !options.follow => Outcome::Interrupted,
        Stop::Interrupted | Stop::End => Outcome::Success,
    })
}

/// Reads and prints until the events end (without `--follow`), a stop is asked for, or the
/// store fails for good; `last` is the cursor of the last event written to `sink`.
///
/// Without `--follow`, [`EventStore::stream_events`] reads every event and the filter is
/// applied here: that stream ends once it has caught up, which a subscription never says.
/// With it, [`EventStore::subscribe`] filters in the store and retries by itself after a
/// retryable error (delivered here to be shown); a permanent error ends it.
async fn print_events<W: Write>(
    store: &dyn EventStore,
    options: &Options,
    from: Cursor,
    sink: &mut W,
    last: &mut Cursor,
    interrupt: &Interrupt,
) -> anyhow::Result<Stop> {
    let mut events = if options.follow {
        store.subscribe(from, options.filter.clone())
    } else {
        store.stream_events(from)
    };
    let mut retry_wait = RETRY_FIRST;
    loop {
        if interrupt.is_set() {
            return Ok(Stop::Interrupted);
        }
        // Events already read (the rest of a page) are written without waiting; before
        // waiting for more, the buffer goes out, so each event shows as soon as it is read.
        let item = match events.next().now_or_never() {
            Some(item) => item,
            None => {
                sink.flush().map_err(out::write_error)?;
                tokio::select! {
                    biased;
                    () = interrupt.wait() => return Ok(Stop::Interrupted),
                    item = events.next() => item,
                }
            }
        };
        match item {
            None => return Ok(Stop::End),
            Some(Ok(positioned)) => {
                retry_wait = RETRY_FIRST;
                if options.follow || options.filter.matches(&positioned.event) {
                    write_event(sink, &positioned.event, options.json)?;
                    *last = positioned.cursor;
                }
            }
            Some(Err(e)) if options.follow && e.is_retryable() => {
                crate::errln!(
                    "warning: {}; following again in {:.1} s",
                    crate::logging::scrub(&e.to_string()),
                    retry_wait.as_secs_f64()
                );
                sink.flush().map_err(out::write_error)?;
                tokio::select! {
                    biased;
                    () = interrupt.wait() => return Ok(Stop::Interrupted),
                    () = tokio::time::sleep(retry_wait) => {}
                }
                retry_wait = (retry_wait * 2).min(RETRY_MAX);
            }
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// One event: its grafi document (`--json`, exactly as `export` writes it), or a timeline
/// line.
fn write_event(sink: &mut impl Write, event: &Event, json: bool) -> anyhow::Result<()> {
    let line = if json {
        event.to_json()
    } else {
        printable(&crate::timeline::tail_line(event))
    };
    sink.write_all(line.as_bytes())
        .and_then(|()| sink.write_all(b"\n"))
        .map_err(out::write_error)
}

/// `line` without control characters: names and messages come from whoever wrote the
/// events, and an escape sequence in them must not reach the terminal as one.
pub(crate) fn printable(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// A `--type` that is none of grafi's types is allowed (a store may hold others), but most
/// likely a typo that would print nothing: say so once.
fn note_unknown_types(filter: &Filter) {
    for name in &filter.event_types {
        if name.parse::<EventType>().is_err() {
            crate::errln!(
                "note: --type {:?} is not one of grafi's event types; only events of exactly \
                 that type are shown",
                crate::input::shorten(name, 80)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures::TryStreamExt;
    use grafi_events::{ComponentInfo, InvokeContext, Message};
    use grafi_store::{EventPage, MemoryEventStore, RecordOutcome, StoreError};
    use grafi_store_core::{PositionPage, Positioned, Wakeup};
    use std::io;
    use tokio::sync::mpsc;

    use super::*;

    const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");

    fn corpus() -> Vec<Event> {
        CORPUS
            .lines()
            .map(|l| grafi_events::decode_str(l).unwrap())
            .collect()
    }

    fn new_events(n: usize) -> Vec<Event> {
        let ctx = InvokeContext::new("tail-conversation", "tail-request");
        (0..n)
            .map(|i| {
                Event::tool_invoke(
                    ctx.clone(),
                    ComponentInfo::new("Search", "FunctionCallTool"),
                    &[Message::user(format!("query {i}"))],
                )
            })
            .collect()
    }

    fn documents<'a>(events: impl IntoIterator<Item = &'a Event>) -> String {
        events.into_iter().map(|e| e.to_json() + "\n").collect()
    }

    fn options(filter: Filter, follow: bool) -> Options {
        Options {
            from: Start::After(Cursor::start()),
            follow,
            filter,
            json: true,
        }
    }

    /// Every event in the store with its cursor.
    async fn positions(store: &dyn EventStore) -> Vec<Positioned> {
        store
            .stream_events(Cursor::start())
            .try_collect()
            .await
            .unwrap()
    }

    /// A tail without --follow: what it printed, the cursor to resume from, and how it ended.
    async fn tail_to_end(
        store: &dyn EventStore,
        filter: Filter,
        from: Cursor,
    ) -> (String, Cursor, anyhow::Result<Stop>) {
        let (_never, interrupt) = Interrupt::manual();
        let mut sink = Vec::new();
        let mut last = from;
        let stop = print_events(
            store,
            &options(filter, false),
            from,
            &mut sink,
            &mut last,
            &interrupt,
        )
        .await;
        (String::from_utf8(sink).unwrap(), last, stop)
    }

    /// Stdout as a pipe: what is written reaches the reader only when flushed.
    struct Pipe {
        pending: Vec<u8>,
        tx: mpsc::UnboundedSender<Vec<u8>>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.pending.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            if !self.pending.is_empty() {
                let _ = self.tx.send(std::mem::take(&mut self.pending));
            }
            Ok(())
        }
    }

    /// Reads from the pipe until `lines` whole lines have arrived (at most 30 s).
    async fn read_lines(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>, lines: usize) -> String {
        let mut text = String::new();
        while text.matches('\n').count() < lines {
            let chunk = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("only {text:?} after 30 s"))
                .expect("the tail is gone");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        text
    }

    /// `--follow` from `from`: runs `drive` (given the pipe's reader) beside it, then asks it
    /// to stop; returns what was left unread in the pipe, the resume cursor and the end.
    async fn follow<F, Fut>(
        store: &dyn EventStore,
        filter: Filter,
        from: Cursor,
        drive: F,
    ) -> (String, Cursor, anyhow::Result<Stop>)
    where
        F: FnOnce(mpsc::UnboundedReceiver<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = mpsc::UnboundedReceiver<Vec<u8>>>,
    {
        let (stop, interrupt) = Interrupt::manual();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut pipe = Pipe {
            pending: Vec::new(),
            tx,
        };
        let mut last = from;
        let options = options(filter, true);
        let tail = print_events(store, &options, from, &mut pipe, &mut last, &interrupt);
        let driver = async {
            let rx = drive(rx).await;
            stop.send(true).unwrap();
            rx
        };
        let (stopped, mut rx) = tokio::join!(tail, driver);
        drop(pipe);
        let mut rest = String::new();
        while let Some(chunk) = rx.recv().await {
            rest.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        (rest, last, stopped)
    }

    #[tokio::test]
    async fn json_prints_the_documents_as_recorded_and_resumes_after_the_last_printed() {
        let store = MemoryEventStore::new();
        store.record_events(corpus()).await.unwrap();
        let (printed, last, stop) = tail_to_end(&store, Filter::all(), Cursor::start()).await;
        assert!(matches!(stop, Ok(Stop::End)));
        assert_eq!(printed, CORPUS);
        let all = positions(&store).await;
        assert_eq!(last, all.last().unwrap().cursor);

        let more = new_events(3);
        let expected = documents(&more);
        store.record_events(more).await.unwrap();
        let (printed, resumed, _) = tail_to_end(&store, Filter::all(), last).await;
        assert_eq!(printed, expected);
        assert_eq!(resumed, positions(&store).await.last().unwrap().cursor);

        // Nothing new: nothing printed, and the cursor to resume from stays.
        let (printed, again, _) = tail_to_end(&store, Filter::all(), resumed).await;
        assert_eq!(printed, "");
        assert_eq!(again, resumed);
    }

    #[tokio::test]
    async fn filters_print_exactly_the_matching_events_with_or_without_follow() {
        let store = MemoryEventStore::new();
        let events = corpus();
        store.record_events(events.clone()).await.unwrap();
        let cursors = positions(&store).await;
        let conversation = events[0].conversation_id().to_owned();
        let request = events[0].assistant_request_id().to_owned();
        type Pick = Box<dyn Fn(&Event) -> bool>;
        let cases: Vec<(Filter, Pick)> = vec![
            (Filter::all().conversation(&conversation), {
                let c = conversation.clone();
                Box::new(move |e: &Event| e.conversation_id() == c)
            }),
            (Filter::all().request(&request), {
                let r = request.clone();
                Box::new(move |e: &Event| e.assistant_request_id() == r)
            }),
            (
                Filter::all()
                    .event_type("ToolInvoke")
                    .event_type("ToolFailed"),
                Box::new(|e: &Event| ["ToolInvoke", "ToolFailed"].contains(&e.event_type())),
            ),
            (
                Filter::all().topic("agent_input_topic"),
                Box::new(|e: &Event| e.topic().map(|t| t.0) == Some("agent_input_topic")),
            ),
            (
                Filter::all()
                    .conversation(&conversation)
                    .event_type("NodeRespond"),
                {
                    let c = conversation.clone();
                    Box::new(move |e: &Event| {
                        e.conversation_id() == c && e.event_type() == "NodeRespond"
                    })
                },
            ),
        ];
        for (filter, pick) in cases {
            let chosen: Vec<usize> = (0..events.len()).filter(|&i| pick(&events[i])).collect();
            assert!(
                !chosen.is_empty() && chosen.len() < events.len(),
                "{filter:?} must choose some events, not all"
            );
            let expected = documents(chosen.iter().map(|&i| &events[i]));
            let last_chosen = cursors[*chosen.last().unwrap()].cursor;

            let (printed, last, _) = tail_to_end(&store, filter.clone(), Cursor::start()).await;
            assert_eq!(printed, expected, "{filter:?}");
            assert_eq!(last, last_chosen, "{filter:?}");

            let (followed, last, stop) =
                follow(&store, filter.clone(), Cursor::start(), |mut rx| {
                    let expected = expected.clone();
                    async move {
                        assert_eq!(read_lines(&mut rx, chosen.len()).await, expected);
                        rx
                    }
                })
                .await;
            assert!(matches!(stop, Ok(Stop::Interrupted)));
            assert_eq!(
                followed, "",
                "{filter:?}: printed more than the matching events"
            );
            assert_eq!(last, last_chosen, "{filter:?}");
        }
    }

    #[tokio::test]
    async fn following_prints_what_is_recorded_after_it_started() {
        let store = MemoryEventStore::new();
        store.record_events(corpus()).await.unwrap();
        let end = store.end_cursor().await.unwrap();
        let new = new_events(1);
        let expected = documents(&new);
        let (rest, last, stop) = follow(&store, Filter::all(), end, |mut rx| async {
            // Nothing before the new event: the corpus was there before `end`.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                rx.try_recv().is_err(),
                "printed an event from before --from end"
            );
            store.record_events(new).await.unwrap();
            assert_eq!(read_lines(&mut rx, 1).await, expected);
            rx
        })
        .await;
        assert!(matches!(stop, Ok(Stop::Interrupted)));
        assert_eq!(rest, "");
        assert_eq!(last, positions(&store).await.last().unwrap().cursor);
    }

    /// A memory store whose position reads fail as scripted (one entry per read, then
    /// success), and whose wake-ups also come every 100 ms, as a database's polling does
    /// (the memory store wakes on writes only).
    struct Flaky {
        inner: MemoryEventStore,
        script: Mutex<VecDeque<Option<StoreError>>>,
    }

    impl Flaky {
        fn new(inner: MemoryEventStore, script: Vec<Option<StoreError>>) -> Self {
            Self {
                inner,
                script: Mutex::new(script.into()),
            }
        }
    }

    struct Polling(Box<dyn Wakeup>);

    #[async_trait]
    impl Wakeup for Polling {
        async fn wait(&mut self) -> Result<(), StoreError> {
            tokio::select! {
                woken = self.0.wait() => woken,
                () = tokio::time::sleep(Duration::from_millis(100)) => Ok(()),
            }
        }
    }

    fn lost_connection() -> StoreError {
        StoreError::Unavailable {
            message: "connection reset".into(),
            outcome_unknown: false,
            source: None,
        }
    }

    fn no_positions() -> StoreError {
        StoreError::Unsupported {
            operation: "read_positions",
            message: "the events table has no grafi_tx column; run `grafi-store migrate run`"
                .into(),
        }
    }

    crate::test_support::store_over_inner!(Flaky {
        async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
            self.inner.record_events(events).await
        }
        async fn get_events_page(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<EventPage, StoreError> {
            self.inner.get_events_page(after, limit).await
        }
        async fn read_positions(
            &self,
            after: &Cursor,
            filter: &Filter,
            limit: usize,
        ) -> Result<PositionPage, StoreError> {
            let scripted = self.script.lock().unwrap().pop_front().flatten();
            match scripted {
                Some(error) => Err(error),
                None => self.inner.read_positions(after, filter, limit).await,
            }
        }
        async fn end_cursor(&self) -> Result<Cursor, StoreError> {
            self.inner.end_cursor().await
        }
        async fn listen(&self) -> Result<Box<dyn Wakeup>, StoreError> {
            Ok(Box::new(Polling(self.inner.listen().await?)))
        }
    });

    #[tokio::test(start_paused = true)]
    async fn following_goes_on_after_retryable_errors_without_losing_or_repeating() {
        let memory = MemoryEventStore::new();
        memory.record_events(corpus()).await.unwrap();
        // The first read works; the next two (after new events) fail, then reads work again.
        let store = Flaky::new(
            memory.clone(),
            vec![None, Some(lost_connection()), Some(lost_connection())],
        );
        let more = new_events(3);
        let expected = format!("{CORPUS}{}", documents(&more));
        let (rest, last, stop) = follow(&store, Filter::all(), Cursor::start(), |mut rx| async {
            let first = read_lines(&mut rx, corpus().len()).await;
            assert_eq!(first, CORPUS);
            memory.record_events(more).await.unwrap();
            let then = read_lines(&mut rx, 3).await;
            assert_eq!(format!("{first}{then}"), expected);
            rx
        })
        .await;
        assert!(matches!(stop, Ok(Stop::Interrupted)));
        assert_eq!(rest, "", "an event was printed twice");
        assert!(
            store.script.lock().unwrap().is_empty(),
            "the errors were not met"
        );
        assert_eq!(last, positions(&memory).await.last().unwrap().cursor);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_ends_following_and_any_error_ends_a_plain_tail() {
        let memory = MemoryEventStore::new();
        memory.record_events(corpus()).await.unwrap();
        let store = Flaky::new(memory.clone(), vec![Some(no_positions())]);
        let (rest, last, stop) = follow(&store, Filter::all(), Cursor::start(), |rx| async {
            // The tail ends by itself; stop it only if it did not.
            tokio::time::sleep(Duration::from_secs(60)).await;
            rx
        })
        .await;
        let error = stop
            .err()
            .expect("a permanent error ends --follow")
            .to_string();
        assert!(error.contains("grafi-store migrate run"), "{error}");
        assert_eq!((rest.as_str(), last), ("", Cursor::start()));

        let store = Flaky::new(memory, vec![Some(lost_connection())]);
        let (printed, last, stop) = tail_to_end(&store, Filter::all(), Cursor::start()).await;
        let error = stop.err().expect("an error ends a tail without --follow");
        assert!(error.to_string().contains("connection reset"), "{error}");
        assert_eq!((printed.as_str(), last), ("", Cursor::start()));
    }

    #[test]
    fn a_tail_line_says_when_which_request_what_and_who() {
        let events = corpus();
        let line = crate::timeline::tail_line(&events[0]);
        assert!(
            line.starts_with(
                "2025-07-08T09:14:27.318Z  fc6a060a…  AssistantInvoke   TravelConcierge"
            ),
            "{line}"
        );
        assert!(
            line.contains("← \"What's the weather going to be like in Tokyo"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn from_takes_end_and_cursors_and_names_what_it_refuses() {
        assert_eq!(parse_start("end"), Ok(Start::End));
        assert_eq!(parse_start("start"), Ok(Start::After(Cursor::start())));
        assert_eq!(parse_start("g1.7.42"), Ok(Start::After(Cursor::at(7, 42))));
        let refused = parse_start("g1.7").unwrap_err().to_string();
        assert!(refused.contains("\"g1.7\""), "{refused}");
        assert!(parse_start("END").is_err());
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(
            printable("a\u{1b}[31mb\tc\u{9b}d"),
            "a\u{fffd}[31mb\u{fffd}c\u{fffd}d"
        );
        assert_eq!(printable("→ \"Tokyo\" ✓"), "→ \"Tokyo\" ✓");
    }
}
