//! Benchmark data: the real grafi corpus, replicated with fresh ids.
//!
//! Every benchmark uses the same realistic rows: the 210 corpus events other than the single
//! ~200 KB outlier (≈ 2 KB each on average), copied with fresh event ids and regrouped into
//! conversations of 100 events (10 requests of 10), so store sizes and conversation reads
//! look like production traffic rather than synthetic one-liners.
//!
//! The grafi 0.0.36 data ([`corpus36_lines`], [`dataset36`]) is built the same way from grafi
//! 0.0.36's real corpus (201 events of ≈ 3.4 KB, none above 20 KB), for the benchmarks of the
//! 0.0.36 table layout.

use grafi_events::{new_id, Event};

/// Events per conversation in [`dataset`].
pub const CONVERSATION_LEN: usize = 100;

/// The corpus documents, as text (one per line).
pub fn corpus_lines() -> Vec<&'static str> {
    include_str!("../../fixtures/grafi-0.0.24/events.jsonl")
        .lines()
        .collect()
}

/// The corpus decoded, without the one outlier above 100 KB.
pub fn corpus_events() -> Vec<Event> {
    corpus_lines()
        .into_iter()
        .filter(|l| l.len() < 100_000)
        .map(|l| grafi_events::decode_str(l).expect("corpus decodes"))
        .filter(|e| e.meta().is_some())
        .collect()
}

/// grafi 0.0.36's corpus documents, as text (one per line).
pub fn corpus36_lines() -> Vec<&'static str> {
    include_str!("../../fixtures/grafi-0.0.36/events.jsonl")
        .lines()
        .collect()
}

/// grafi 0.0.36's corpus decoded (every event of it; none is above 20 KB).
pub fn corpus36_events() -> Vec<Event> {
    corpus36_lines()
        .into_iter()
        .map(|l| grafi_events::decode_str(l).expect("corpus decodes"))
        .filter(|e| e.meta().is_some())
        .collect()
}

/// `n` realistic events with fresh ids, in conversations of [`CONVERSATION_LEN`].
/// Conversation `k` is named `bench-conv-{k}`.
pub fn dataset(n: usize) -> Vec<Event> {
    replicate(corpus_events(), n)
}

/// [`dataset`] from grafi 0.0.36's corpus: the same ids, requests and conversations.
pub fn dataset36(n: usize) -> Vec<Event> {
    replicate(corpus36_events(), n)
}

fn replicate(templates: Vec<Event>, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut event = templates[i % templates.len()].clone();
            let conversation = i / CONVERSATION_LEN;
            let request = i / 10;
            let meta = event.meta_mut().expect("typed event");
            meta.event_id = new_id();
            meta.assistant_request_id = format!("bench-req-{request}");
            meta.invoke_context.assistant_request_id = meta.assistant_request_id.clone();
            meta.invoke_context.conversation_id = format!("bench-conv-{conversation}");
            event
        })
        .collect()
}

/// Average encoded size of the dataset's events, in bytes (for the report).
pub fn average_event_bytes(events: &[Event]) -> usize {
    events.iter().map(|e| e.to_json().len()).sum::<usize>() / events.len().max(1)
}

/// The PostgreSQL server the benches create their scratch databases on: `DATABASE_URL`, or
/// the local server as `postgres`.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Where criterion writes its results, found as criterion finds it.
pub fn criterion_home() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let output = std::process::Command::new(std::env::var_os("CARGO")?)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()
                .ok()?;
            let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            Some(metadata["target_directory"].as_str()?.into())
        })
        .unwrap_or_else(|| "target".into());
    target.join("criterion")
}
