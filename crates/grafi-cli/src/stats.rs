//! `grafi-store stats`: what is in a store, read page by page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use grafi_events::{Event, EventType};
use grafi_store::{EventStore, Selection};

use crate::Outcome;

const PAGE: usize = 1000;

#[derive(Default)]
struct RequestOutcome {
    responded: bool,
    failed: bool,
}

pub async fn run(store: Arc<dyn EventStore>, selection: &Selection) -> anyhow::Result<Outcome> {
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut conversations: HashSet<String> = HashSet::new();
    let mut requests: HashMap<String, RequestOutcome> = HashMap::new();
    let mut total = 0usize;
    let mut undecodable = 0usize;
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut after = None;
    loop {
        let page = store.get_events_page(after, PAGE).await?;
        for event in &page.events {
            total += 1;
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
                Event::Raw(raw) if raw.decode_error.is_some() => {
                    undecodable += 1;
                    // `infinity` and its kin are no point in time.
                    if raw
                        .decode_error
                        .as_ref()
                        .is_some_and(|e| e.path == "timestamp")
                    {
                        continue;
                    }
                }
                _ => {}
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

    println!("store: {}", selection.url);
    println!("events: {total}");
    if undecodable > 0 {
        println!("  of which do not decode (kept as stored): {undecodable}");
    }
    if total == 0 {
        return Ok(Outcome::Success);
    }
    // Built-in types in grafi's order, then any other type alphabetically.
    let width = by_type.keys().map(String::len).max().unwrap_or(0).max(16);
    for ty in EventType::ALL {
        if let Some(n) = by_type.remove(ty.as_str()) {
            println!("  {:<width$}  {n:>8}", ty.as_str());
        }
    }
    for (ty, n) in &by_type {
        println!(
            "  {:<width$}  {n:>8}  (not a grafi 0.0.24 type)",
            crate::input::shorten(ty, 40)
        );
    }
    if let Some((first, last)) = span {
        println!(
            "time span: {} → {}",
            first.format("%Y-%m-%d %H:%M:%S"),
            last.format("%Y-%m-%d %H:%M:%S")
        );
    }
    println!("conversations: {}", conversations.len());
    let succeeded = requests
        .values()
        .filter(|r| r.responded && !r.failed)
        .count();
    let failed = requests.values().filter(|r| r.failed).count();
    let open = requests.len() - succeeded - failed;
    println!(
        "requests: {} ({succeeded} succeeded, {failed} failed, {open} without an assistant outcome)",
        requests.len()
    );
    match succeeded + failed {
        0 => println!("success rate: n/a (no request has an assistant outcome)"),
        n => println!(
            "success rate: {:.1}% ({succeeded} of {n} requests with an outcome)",
            100.0 * succeeded as f64 / n as f64
        ),
    }
    Ok(Outcome::Success)
}
