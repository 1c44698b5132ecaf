//! `grafi-store import FILE|-`: JSONL → `record_events`, in batches.
//!
//! A reader thread decodes and checks lines while the previous batch is being written, and
//! hands them over in chunks: whenever it has decoded a batch, and whenever it is about to
//! read more input, which may block (a pipe that pauses). The writer gathers chunks into
//! batches of `--batch-size`; a batch that is not full after `--flush-after` is written as
//! it is, so input that trickles in is stored soon after it arrives.
//!
//! Lines that cannot be stored are reported and skipped; a batch the store still refuses
//! (`InvalidEvent`, e.g. a limit of that backend) loses only the refused event and is
//! retried; transient store failures are retried with a bounded backoff; a permanent one
//! stops the import with the count of what was stored. Recording is idempotent, so running
//! the same import again is always safe.
//!
//! Ctrl-C or SIGTERM stops the import at a batch boundary: the batch being written completes
//! (or fails) as usual, no other is started, and the summary names the last line fully
//! handled, to resume after (exit status 130). A second one ends the process at once.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use grafi_events::Event;
use grafi_store::{EventStore, RecordOutcome, StoreError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::dialects::DialectCounts;
use crate::input::{self, Lines, Problem, Report, Verdict};
use crate::interrupt::Interrupt;
use crate::{outln, Outcome};

/// Attempts of one batch after a transient failure (the first try included).
const MAX_ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Hand invalid lines over at least this often even if no valid event fills a chunk.
const MAX_PENDING_PROBLEMS: usize = 1000;
/// Chunks decoded ahead of the writer (a chunk is at most a batch, and usually what one
/// read of the input held).
const CHUNKS_AHEAD: usize = 8;

/// `--flush-after`: `1s`, `500ms`, `2m`; `0` writes whatever has arrived without waiting.
pub fn parse_flush_after(text: &str) -> Result<Duration, String> {
    crate::migrate::parse_timeout(text).map(|t| t.0.unwrap_or(Duration::ZERO))
}

/// `--json`: its help, which lists the fields of [`Summary`].
pub const JSON_HELP: &str = "Print one JSON document on stdout when the import ends (completed, \
interrupted or stopped by a failure) instead of the summary line (problems still go to \
stderr; a file or store that cannot be opened prints no document, only the error). Fields:
  status: \"completed\", \"interrupted\" (Ctrl-C or SIGTERM; exit status 130) or \"failed\" \
(the error is also on stderr)
  imported: events stored by this run
  duplicates: events already stored (same event_id), not stored again
  erased: events whose event_id was erased (grafi-store erase), not stored again
  invalid: lines reported as not storable (invalid, too long, or refused by the store)
  by_dialect: events read by grafi dialect, {\"0.0.24\": n, \"0.0.36\": n, \"other\": n}
  last_line: every line up to this one (from 1; 0: none) is handled: stored, a duplicate, \
blank or reported; `tail -n +<last_line + 1>` is the input left
  seconds: time taken
  events_per_second: (imported + duplicates + erased) / seconds
  error: why the import stopped (\"failed\"), else null
  problems: the problems shown on stderr (the first 100), each {line, event_id (null when \
unknown), message}
  problems_not_listed: reported lines not in problems (all are in --errors FILE)
  errors_file: the --errors FILE, or null";

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The whole input was handled.
    Completed,
    /// Ctrl-C or SIGTERM: stopped at a batch boundary.
    Interrupted,
    /// A store failure or an input error stopped it.
    Failed,
}

/// `import --json`: one document on stdout when the import ends (field names are stable).
/// An import that cannot start (the file or the store does not open) prints none.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// `"completed"`, `"interrupted"` (Ctrl-C or SIGTERM) or `"failed"`.
    pub status: Status,
    /// Events stored by this run.
    pub imported: usize,
    /// Events already stored (same `event_id`): not stored again.
    pub duplicates: usize,
    /// Events whose `event_id` was erased: not stored again.
    pub erased: usize,
    /// Lines reported as not storable: invalid, too long, or refused by the store.
    pub invalid: usize,
    /// Events read, by the grafi dialect of their documents (`{"0.0.24": n, "0.0.36": n,
    /// "other": n}`).
    pub by_dialect: DialectCounts,
    /// Every line up to this one (numbered from 1; 0: none) is handled: stored, counted as a
    /// duplicate, blank, or reported. `tail -n +<last_line + 1>` is what is left to import.
    pub last_line: usize,
    /// Time taken, in seconds.
    pub seconds: f64,
    /// `(imported + duplicates + erased) / seconds`.
    pub events_per_second: f64,
    /// Why the import stopped when `status` is `"failed"` (password scrubbed), else `null`.
    pub error: Option<String>,
    /// The problems shown on stderr (the first 100): `{line, event_id, message}`.
    pub problems: &'a [Problem],
    /// Reported lines not listed in `problems` (`--errors FILE` has every one).
    pub problems_not_listed: usize,
    /// The `--errors` file, or `null`.
    pub errors_file: Option<String>,
}

/// Decoded lines, in input order.
#[derive(Default)]
struct Chunk {
    events: Vec<Event>,
    lines: Vec<usize>,
    problems: Vec<Problem>,
    bytes_read: u64,
    /// Every line up to this one is in this chunk or an earlier one (or blank).
    last_line: usize,
}

impl Chunk {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.problems.is_empty()
    }
}

/// The events waiting for their batch to fill.
struct Pending {
    events: Vec<Event>,
    lines: Vec<usize>,
    /// When the first of them arrived.
    since: tokio::time::Instant,
}

#[derive(Default)]
struct Totals {
    outcome: RecordOutcome,
    /// The events read, by dialect (stored, duplicate, or refused by the store).
    read: DialectCounts,
    invalid: usize,
    /// The first line of the batch whose failure stopped the import.
    failed_at: Option<usize>,
}

pub async fn run(
    store: Arc<dyn EventStore>,
    path: &str,
    batch_size: usize,
    flush_after: Duration,
    options: &input::Options,
    json: bool,
) -> anyhow::Result<Outcome> {
    let interrupt = Interrupt::listen(
        "stopping at the next batch boundary",
        "the batch being written may or may not be stored (running the same import again is \
         safe)",
    )?;
    let (lines, total_bytes) = Lines::open(path, options.max_line_bytes)?;
    let mut report = Report::new(options.errors.as_deref())?;
    let bar = progress_bar(total_bytes);
    crate::logging::set_progress(Some(bar.clone()));
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Chunk>>(CHUNKS_AHEAD);
    let source = path.to_owned();
    let reader = std::thread::spawn(move || read_chunks(lines, batch_size, &source, tx));

    let mut totals = Totals::default();
    let mut failure = None;
    let mut pending = Pending {
        events: Vec::with_capacity(batch_size.min(10_000)),
        lines: Vec::with_capacity(batch_size.min(10_000)),
        since: tokio::time::Instant::now(),
    };
    let mut reader_done = false;
    let mut interrupted = false;
    // Every line up to this one has been received from the reader.
    let mut received_through = 0usize;
    loop {
        if interrupt.is_set() {
            interrupted = true;
            break;
        }
        // Wait for more only as long as the oldest pending event may wait, and not once the
        // user asks to stop.
        let waiting = !pending.events.is_empty();
        let next = tokio::select! {
            biased;
            () = interrupt.wait() => {
                interrupted = true;
                break;
            }
            next = rx.recv() => next,
            () = tokio::time::sleep_until(pending.since + flush_after), if waiting => {
                if let Err(e) = flush(&*store, &mut pending, &mut totals, &mut report, &bar).await {
                    failure = Some(e);
                    break;
                }
                continue;
            }
        };
        let chunk = match next {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                // The reader stops after its error.
                reader_done = true;
                failure = Some(e);
                break;
            }
            None => {
                reader_done = true;
                break;
            }
        };
        for problem in &chunk.problems {
            if report.add(problem) {
                bar.suspend(|| crate::errln!("{problem}"));
            }
        }
        totals.invalid += chunk.problems.len();
        bar.set_position(chunk.bytes_read);
        received_through = received_through.max(chunk.last_line);
        for (event, line) in chunk.events.into_iter().zip(chunk.lines) {
            if pending.events.is_empty() {
                pending.since = tokio::time::Instant::now();
            }
            totals.read.add(&event);
            pending.events.push(event);
            pending.lines.push(line);
            // Once a stop is asked for, no batch is started.
            if pending.events.len() >= batch_size && !interrupt.is_set() {
                if let Err(e) = flush(&*store, &mut pending, &mut totals, &mut report, &bar).await {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }
    // What was read before the input ended or failed is still stored (after a store
    // failure nothing is pending), unless the user asked to stop.
    if !pending.events.is_empty() {
        if interrupt.is_set() {
            interrupted = true;
        } else if let Err(e) = flush(&*store, &mut pending, &mut totals, &mut report, &bar).await {
            failure.get_or_insert(e);
        }
    }
    // Stop the reader: it fails its next send once the receiver is gone. If it is waiting
    // for input that may never come (a pipe held open), leave it: it ends with the process.
    drop(rx);
    if reader_done {
        let _ = reader.join();
    }
    bar.finish_and_clear();
    crate::logging::set_progress(None);
    if let Some(note) = report.omitted() {
        crate::errln!("{note}");
    }

    let last_line = match (totals.failed_at, pending.lines.first()) {
        (Some(failed), _) => failed - 1,
        (None, Some(&first)) => first - 1,
        (None, None) => received_through,
    };
    let secs = started.elapsed().as_secs_f64();
    let handled = totals.outcome.recorded + totals.outcome.duplicates + totals.outcome.erased;
    let rate = if secs > 0.0 {
        handled as f64 / secs
    } else {
        0.0
    };
    let status = match (&failure, interrupted) {
        (Some(_), _) => Status::Failed,
        (None, true) => Status::Interrupted,
        (None, false) => Status::Completed,
    };
    let printed = if json {
        crate::out::json(&Summary {
            status,
            imported: totals.outcome.recorded,
            duplicates: totals.outcome.duplicates,
            erased: totals.outcome.erased,
            invalid: totals.invalid,
            by_dialect: totals.read.clone(),
            last_line,
            seconds: secs,
            events_per_second: rate,
            error: failure
                .as_ref()
                .map(|e| crate::logging::scrub(&format!("{e:#}"))),
            problems: report.shown(),
            problems_not_listed: report.total() - report.shown().len(),
            errors_file: report.file().map(|p| p.display().to_string()),
        })
    } else {
        let seen = match totals.read.describe() {
            seen if seen.is_empty() => seen,
            seen => format!("; read {seen}"),
        };
        // Erased events are rare: named only when there were some.
        let erased = match totals.outcome.erased {
            0 => String::new(),
            n => format!(", erased {n}"),
        };
        outln!(
            "imported {}, duplicates {}{erased}, invalid {} in {:.2} s ({:.0} events/s){seen}",
            totals.outcome.recorded,
            totals.outcome.duplicates,
            totals.invalid,
            secs,
            rate
        )
    };
    if status == Status::Interrupted {
        crate::errln!("{}", resume_hint(path, last_line));
    }
    let written = report.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    match printed {
        // Interrupted: that is what the exit status says, stdout or not.
        Err(e) if interrupted && crate::out::is_closed(&e) => {}
        printed => printed?,
    }
    written?;
    Ok(if interrupted {
        Outcome::Interrupted
    } else if totals.invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Incomplete
    })
}

/// What to tell the user after an interruption: what is done, and how to go on.
fn resume_hint(path: &str, last_line: usize) -> String {
    let mut hint = String::from("interrupted: stopped at a batch boundary; ");
    if last_line == 0 {
        hint.push_str(
            "no line was fully handled yet. To resume, run the same import again (events \
             already stored count as duplicates).",
        );
        return hint;
    }
    let next = last_line + 1;
    hint.push_str(&format!(
        "lines 1 to {last_line} are handled (stored, duplicates, blank or reported).\n\
         To resume, run the same import again (events already stored count as duplicates), \
         or import only what follows line {last_line}: "
    ));
    if path == "-" {
        hint.push_str(&format!(
            "the same input through `tail -n +{next}`, into `grafi-store import -`"
        ));
    } else {
        hint.push_str(&format!(
            "tail -n +{next} {} | grafi-store import -  (with the same --store and options)",
            shell_quote(path)
        ));
    }
    hint
}

/// `text` as one shell word.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Records the pending events as one batch.
async fn flush(
    store: &dyn EventStore,
    pending: &mut Pending,
    totals: &mut Totals,
    report: &mut Report,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let capacity = pending.events.capacity();
    let events = std::mem::replace(&mut pending.events, Vec::with_capacity(capacity));
    let lines = std::mem::replace(&mut pending.lines, Vec::with_capacity(capacity));
    let first_line = lines.first().copied();
    let last_line = lines.last().copied();
    let count = events.len();
    match record_batch(store, events, lines, bar).await {
        Ok((outcome, refused)) => {
            tracing::debug!(
                target: "grafi_cli",
                events = count,
                first_line,
                last_line,
                recorded = outcome.recorded,
                duplicates = outcome.duplicates,
                erased = outcome.erased,
                refused = refused.len(),
                "batch written"
            );
            totals.outcome += outcome;
            totals.invalid += refused.len();
            for problem in &refused {
                if report.add(problem) {
                    bar.suspend(|| crate::errln!("{problem}"));
                }
            }
            bar.set_message(format!(
                "{} events",
                totals.outcome.recorded + totals.outcome.duplicates + totals.outcome.erased
            ));
            Ok(())
        }
        Err(e) => {
            totals.failed_at = first_line;
            let at = first_line.map_or(String::new(), |l| format!(" at line {l}"));
            Err(anyhow!(
                "import stopped{at}: {e}; {} events were stored before the failure \
                 (re-running the import is safe: stored events count as duplicates)",
                totals.outcome.recorded
            ))
        }
    }
}

fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total_bytes {
        Some(len) => {
            let bar = ProgressBar::new(len);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} read, {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }
    }
}

/// The reader thread: decodes lines into chunks of valid events plus the problems found.
fn read_chunks(
    mut lines: Lines,
    batch_size: usize,
    source: &str,
    tx: mpsc::Sender<anyhow::Result<Chunk>>,
) {
    let max_line_bytes = lines.max_line_bytes();
    let mut chunk = Chunk::default();
    let mut open = true;
    // The last line judged.
    let mut judged = 0usize;
    // Hands the chunk over (false once the writer is gone).
    let send = |chunk: &mut Chunk, bytes_read: u64, last_line: usize| {
        chunk.bytes_read = bytes_read;
        chunk.last_line = last_line;
        let capacity = chunk.events.len();
        let next = Chunk {
            events: Vec::with_capacity(capacity),
            lines: Vec::with_capacity(capacity),
            ..Chunk::default()
        };
        tx.blocking_send(Ok(std::mem::replace(chunk, next))).is_ok()
    };
    loop {
        let next = lines.next_line_with(|bytes_read| {
            // The next read may wait for input: let the writer have what is decoded.
            if open && !chunk.is_empty() {
                open = send(&mut chunk, bytes_read, judged);
            }
        });
        if !open {
            return;
        }
        let (line_no, line) = match next {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => {
                let bytes_read = lines.bytes_read();
                if chunk.is_empty() || send(&mut chunk, bytes_read, judged) {
                    let _ = tx.blocking_send(Err(anyhow!("cannot read {source}: {e}")));
                }
                return;
            }
        };
        match input::judge(line_no, line, max_line_bytes, false) {
            Verdict::Blank => {}
            Verdict::Valid(event) => {
                chunk.events.push(*event);
                chunk.lines.push(line_no);
            }
            Verdict::Invalid(problem) => chunk.problems.push(problem),
        }
        judged = line_no;
        if (chunk.events.len() >= batch_size || chunk.problems.len() >= MAX_PENDING_PROBLEMS)
            && !send(&mut chunk, lines.bytes_read(), judged)
        {
            return;
        }
    }
    // Also when empty: the writer learns where the input ended (trailing blank lines).
    let bytes_read = lines.bytes_read();
    send(&mut chunk, bytes_read, judged);
}

/// Records one batch: drops (and reports) events the store refuses, retries transient
/// failures, gives up on a permanent one.
async fn record_batch(
    store: &dyn EventStore,
    mut events: Vec<Event>,
    mut lines: Vec<usize>,
    bar: &ProgressBar,
) -> Result<(RecordOutcome, Vec<Problem>), StoreError> {
    let mut refused = Vec::new();
    let mut attempt = 1;
    loop {
        if events.is_empty() {
            return Ok((RecordOutcome::default(), refused));
        }
        match store.record_events(events.clone()).await {
            Ok(outcome) => return Ok((outcome, refused)),
            Err(StoreError::InvalidEvent {
                event_id,
                index,
                reason,
            }) if index < events.len() => {
                events.remove(index);
                let line = lines.remove(index);
                refused.push(Problem::event(
                    line,
                    Some(event_id).filter(|id| !id.is_empty()),
                    format!("refused by the store: {reason}"),
                ));
            }
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << (attempt - 1))
                    .min(MAX_BACKOFF);
                bar.suspend(|| {
                    crate::errln!(
                        "warning: {e}; retrying in {:.1} s (attempt {}/{MAX_ATTEMPTS})",
                        backoff.as_secs_f64(),
                        attempt + 1
                    )
                });
                tokio::time::sleep(backoff).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use grafi_events::{ComponentInfo, InvokeContext, Message};
    use grafi_store::{EventPage, InvalidReason, MemoryEventStore};

    use super::*;

    /// A memory store that fails its first `transient` writes, and refuses one event id the
    /// way a backend with a stricter limit would.
    struct Flaky {
        inner: MemoryEventStore,
        transient: AtomicUsize,
        refuse: String,
    }

    crate::test_support::store_over_inner!(Flaky {
        async fn record_events(&self, events: Vec<Event>) -> Result<RecordOutcome, StoreError> {
            if self
                .transient
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError::Unavailable {
                    message: "connection reset".into(),
                    outcome_unknown: true,
                    source: None,
                });
            }
            if let Some(index) = events.iter().position(|e| e.event_id() == self.refuse) {
                return Err(StoreError::InvalidEvent {
                    event_id: self.refuse.clone(),
                    index,
                    reason: InvalidReason::TooLarge { size: 10, limit: 5 },
                });
            }
            self.inner.record_events(events).await
        }
        async fn get_events_page(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<EventPage, StoreError> {
            self.inner.get_events_page(after, limit).await
        }
    });

    fn events(n: usize) -> Vec<Event> {
        let ctx = InvokeContext::new("c", "r");
        (0..n)
            .map(|i| {
                Event::tool_invoke(
                    ctx.clone(),
                    ComponentInfo::new("t", "T"),
                    &[Message::user(format!("{i}"))],
                )
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_refused_events_dropped() {
        let batch = events(5);
        let store = Flaky {
            inner: MemoryEventStore::new(),
            transient: AtomicUsize::new(2),
            refuse: batch[3].event_id().to_owned(),
        };
        let (outcome, refused) = record_batch(
            &store,
            batch,
            vec![10, 11, 12, 13, 14],
            &ProgressBar::hidden(),
        )
        .await
        .unwrap();
        assert_eq!(outcome.recorded, 4);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].line, 13);
        assert!(refused[0].to_string().starts_with("line 13: event \""));
        assert_eq!(store.inner.len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_stays_down_stops_the_batch() {
        let store = Flaky {
            inner: MemoryEventStore::new(),
            transient: AtomicUsize::new(usize::MAX),
            refuse: String::new(),
        };
        let err = record_batch(&store, events(3), vec![1, 2, 3], &ProgressBar::hidden())
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(
            store.transient.load(Ordering::SeqCst),
            usize::MAX - MAX_ATTEMPTS as usize
        );
        assert!(store.inner.is_empty());
    }
}
