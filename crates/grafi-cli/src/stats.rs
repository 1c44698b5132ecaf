//! `grafi-store stats`: what is in a store, read page by page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use grafi_events::{Event, EventType};
use grafi_store::{EventStore, Selection};
use serde::Serialize;

use crate::dialects::DialectCounts;
use crate::{outln, Outcome};

const PAGE: usize = 1000;

#[derive(Default)]
struct RequestOutcome {
    responded: bool,
    failed: bool,
}

/// `--json`: its help, which lists the fields of [`Stats`].
pub const JSON_HELP: &str = "Print one JSON document on stdout instead of the report. Fields:
  store: the store URL, password replaced by ***
  events: events stored
  undecodable: events stored that do not decode (exported as they are)
  by_type: {event type: count}, grafi's types in grafi's order, then others alphabetically
  unknown_types: the types in by_type that grafi 0.0.24 does not have
  by_dialect: events by grafi dialect, {\"0.0.24\": n, \"0.0.36\": n, \"other\": n} (other: \
user-registered or unknown types)
  first_timestamp, last_timestamp: RFC 3339 UTC, microseconds; null without events
  conversations: distinct conversation ids
  requests: distinct assistant request ids
  requests_succeeded: requests with an AssistantRespond and no AssistantFailed
  requests_failed: requests with an AssistantFailed
  requests_without_outcome: requests with neither
  success_rate: requests_succeeded / (requests_succeeded + requests_failed), 0 to 1; null when both are 0";

/// `stats --json`: one document on stdout (field names are stable).
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// The store URL, password replaced by `***`.
    pub store: String,
    /// Events stored.
    pub events: usize,
    /// Events stored that do not decode (kept and exported exactly as stored).
    pub undecodable: usize,
    /// Events by `event_type`: grafi's types in grafi's order, then any other type
    /// alphabetically.
    pub by_type: TypeCounts,
    /// The types in `by_type` that grafi 0.0.24 does not have.
    pub unknown_types: Vec<String>,
    /// Events by the grafi dialect of their documents.
    pub by_dialect: DialectCounts,
    /// The earliest event timestamp, RFC 3339 in UTC with microseconds; `null` without
    /// events (or when no timestamp decodes).
    pub first_timestamp: Option<String>,
    /// The latest event timestamp, as `first_timestamp`.
    pub last_timestamp: Option<String>,
    /// Distinct `conversation_id`s.
    pub conversations: usize,
    /// Distinct `assistant_request_id`s.
    pub requests: usize,
    /// Requests with an `AssistantRespond` and no `AssistantFailed`.
    pub requests_succeeded: usize,
    /// Requests with an `AssistantFailed`.
    pub requests_failed: usize,
    /// Requests with neither.
    pub requests_without_outcome: usize,
    /// `requests_succeeded / (requests_succeeded + requests_failed)`, from 0 to 1; `null`
    /// when no request has an outcome.
    pub success_rate: Option<f64>,
}

/// `{type: count}` in insertion order (serde_json's map keeps it: `preserve_order`).
pub type TypeCounts = serde_json::Map<String, serde_json::Value>;

pub async fn run(
    store: Arc<dyn EventStore>,
    selection: &Selection,
    json: bool,
) -> anyhow::Result<Outcome> {
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut conversations: HashSet<String> = HashSet::new();
    let mut requests: HashMap<String, RequestOutcome> = HashMap::new();
    let mut total = 0usize;
    let mut by_dialect = DialectCounts::default();
    let mut undecodable = 0usize;
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut after = None;
    loop {
        let page = store.get_events_page(after, PAGE).await?;
        for event in &page.events {
            total += 1;
            by_dialect.add(event);
            *by_type.entry(event.event_type().to_owned()).or_default() += 1;
            if !conversations.contains(event.conversation_id()) {
                conversations.insert(event.conversation_id().to_owned());
            }
            let request = requests
                .entry(event.assistant_request_id().to_owned())
                .or_default();
            match &**event {
                Event::AssistantRespond(_) => request.responded = true,
                Event::AssistantFailed(_) => request.failed = true,
                Event::Raw(raw) if raw.decode_error.is_some() => undecodable += 1,
                _ => {}
            }
            // `infinity` and its kin (years Python cannot read) are no point in the span.
            if !event.timestamp().python_can_read_back() {
                continue;
            }
            let t = event.utc();
            span = Some(match span {
                Some((lo, hi)) => (lo.min(t), hi.max(t)),
                None => (t, t),
            });
        }
        match page.next {
            Some(next) if !page.events.is_empty() => after = Some(next),
            _ => break,
        }
    }

    let succeeded = requests
        .values()
        .filter(|r| r.responded && !r.failed)
        .count();
    let failed = requests.values().filter(|r| r.failed).count();
    // Built-in types in grafi's order, then any other type alphabetically.
    let mut types: Vec<(String, usize, bool)> = Vec::with_capacity(by_type.len());
    for ty in EventType::ALL {
        if let Some(n) = by_type.remove(ty.as_str()) {
            types.push((ty.as_str().to_owned(), n, true));
        }
    }
    types.extend(by_type.into_iter().map(|(ty, n)| (ty, n, false)));
    let summary = Stats {
        store: selection.url.to_string(),
        events: total,
        undecodable,
        by_type: types
            .iter()
            .map(|(ty, n, _)| (ty.clone(), serde_json::Value::from(*n)))
            .collect(),
        unknown_types: types
            .iter()
            .filter(|(_, _, known)| !known)
            .map(|(ty, _, _)| ty.clone())
            .collect(),
        by_dialect,
        first_timestamp: span.map(|(first, _)| first.to_rfc3339_opts(SecondsFormat::Micros, true)),
        last_timestamp: span.map(|(_, last)| last.to_rfc3339_opts(SecondsFormat::Micros, true)),
        conversations: conversations.len(),
        requests: requests.len(),
        requests_succeeded: succeeded,
        requests_failed: failed,
        requests_without_outcome: requests.len() - succeeded - failed,
        success_rate: match succeeded + failed {
            0 => None,
            n => Some(succeeded as f64 / n as f64),
        },
    };
    if json {
        crate::out::json(&summary)?;
    } else {
        print_human(&summary, &types, span)?;
    }
    Ok(Outcome::Success)
}

fn print_human(
    s: &Stats,
    types: &[(String, usize, bool)],
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> anyhow::Result<()> {
    outln!("store: {}", s.store)?;
    outln!("events: {}", s.events)?;
    if s.undecodable > 0 {
        outln!(
            "  of which do not decode (kept as stored): {}",
            s.undecodable
        )?;
    }
    if s.events == 0 {
        return Ok(());
    }
    outln!("dialects: {}", s.by_dialect.describe())?;
    let width = types
        .iter()
        .map(|(ty, ..)| ty.len())
        .max()
        .unwrap_or(0)
        .max(16);
    for (ty, n, known) in types {
        if *known {
            outln!("  {ty:<width$}  {n:>8}")?;
        } else {
            outln!(
                "  {:<width$}  {n:>8}  (not a grafi type)",
                crate::input::shorten(ty, 40)
            )?;
        }
    }
    if let Some((first, last)) = span {
        outln!(
            "time span: {} → {}",
            first.format("%Y-%m-%d %H:%M:%S"),
            last.format("%Y-%m-%d %H:%M:%S")
        )?;
    }
    outln!("conversations: {}", s.conversations)?;
    outln!(
        "requests: {} ({} succeeded, {} failed, {} without an assistant outcome)",
        s.requests,
        s.requests_succeeded,
        s.requests_failed,
        s.requests_without_outcome
    )?;
    match s.success_rate {
        None => outln!("success rate: n/a (no request has an assistant outcome)")?,
        Some(rate) => outln!(
            "success rate: {:.1}% ({} of {} requests with an outcome)",
            100.0 * rate,
            s.requests_succeeded,
            s.requests_succeeded + s.requests_failed
        )?,
    }
    Ok(())
}
