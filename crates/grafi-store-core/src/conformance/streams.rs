//! Streams and subscriptions: every event exactly once, in position order, resumable from
//! any delivered cursor, filters exact. Run by [`streams_suite!`](crate::streams_suite) on a
//! fresh, empty store per scenario.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use grafi_events::Event;

use super::{agent_trace, simple_events};
use crate::{Cursor, EventStore, EventStream, Filter, Positioned, StoreError};

/// How long a subscription may take to deliver an event that was recorded: generous, since a
/// backend may only poll.
const DELIVERY: Duration = Duration::from_secs(20);

async fn record(store: &dyn EventStore, events: Vec<Event>) {
    store.record_events(events).await.expect("record_events");
}

async fn stream_all(store: &dyn EventStore, from: Cursor) -> Vec<Positioned> {
    store
        .stream_events(from)
        .try_collect()
        .await
        .expect("stream_events")
}

/// `stream_events(from)` once it delivers `count` events. A stream delivers only final
/// positions, and a backend may hold recent events back while an older write anywhere is
/// still open (PostgreSQL: any transaction of the cluster, such as a parallel test's); every
/// attempt must be a prefix of the last, and the whole must come within [`DELIVERY`].
pub(crate) async fn stream_eventually(
    store: &dyn EventStore,
    from: Cursor,
    count: usize,
) -> Vec<Positioned> {
    let started = tokio::time::Instant::now();
    let mut previous: Vec<String> = Vec::new();
    loop {
        let items = stream_all(store, from).await;
        let now = ids(&items);
        assert!(
            now.len() <= count && now.starts_with(&previous),
            "a later stream is not a continuation of an earlier one"
        );
        if now.len() == count {
            return items;
        }
        assert!(
            started.elapsed() < DELIVERY,
            "stream_events delivered {} of {count} events for {DELIVERY:?}",
            now.len()
        );
        previous = now;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(items: &[Positioned]) -> Vec<String> {
    items
        .iter()
        .map(|p| p.event.event_id().to_owned())
        .collect()
}

fn event_ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}

/// The next `n` items of a subscription, each within [`DELIVERY`]; retryable errors are
/// counted and skipped (the subscription goes on), a permanent one fails the test.
async fn take(subscription: &mut EventStream<'_>, n: usize) -> Vec<Positioned> {
    let mut items = Vec::with_capacity(n);
    let mut errors = 0;
    while items.len() < n {
        match tokio::time::timeout(DELIVERY, subscription.next()).await {
            Err(_) => panic!(
                "subscription delivered {} of {n} events, then nothing for {DELIVERY:?}",
                items.len()
            ),
            Ok(None) => panic!("subscription ended after {} of {n} events", items.len()),
            Ok(Some(Ok(item))) => items.push(item),
            Ok(Some(Err(error))) if error.is_retryable() && errors < 100 => errors += 1,
            Ok(Some(Err(error))) => panic!("subscription failed: {error}"),
        }
    }
    items
}

/// Nothing more arrives within `wait` (what a subscription must not deliver).
async fn nothing_more(subscription: &mut EventStream<'_>, wait: Duration) {
    if let Ok(Some(item)) = tokio::time::timeout(wait, subscription.next()).await {
        panic!(
            "subscription delivered more than expected: {:?}",
            item.map(|p| p.event.event_id().to_owned())
        );
    }
}

fn assert_strictly_increasing(items: &[Positioned]) {
    for pair in items.windows(2) {
        assert!(
            pair[0].cursor < pair[1].cursor,
            "cursors out of order: {} then {}",
            pair[0].cursor,
            pair[1].cursor
        );
    }
}

/// `stream_events` from the start delivers every event once, in recording order (for one
/// writer at a time), with strictly increasing cursors; on an empty store it delivers
/// nothing, and `end_cursor` is where a reader of new events only starts.
pub async fn stream_delivers_every_event_once_in_order(store: &dyn EventStore) {
    assert!(stream_all(store, Cursor::start()).await.is_empty());
    let empty_end = store.end_cursor().await.expect("end_cursor");
    let mut recorded = Vec::new();
    for batch in 0..4 {
        let events = agent_trace(&format!("conv-stream-{batch}"), 2, batch * 10);
        recorded.extend(event_ids(&events));
        record(store, events).await;
    }
    // More than one page.
    let many = simple_events("conv-stream-many", "req-stream-many", 1_200);
    recorded.extend(event_ids(&many));
    record(store, many).await;
    let streamed = stream_eventually(store, Cursor::start(), recorded.len()).await;
    assert_eq!(ids(&streamed), recorded);
    assert_strictly_increasing(&streamed);
    assert_eq!(
        ids(&stream_eventually(store, empty_end, recorded.len()).await),
        recorded,
        "the end cursor of the empty store precedes everything recorded after it"
    );
    let end = store.end_cursor().await.expect("end_cursor");
    // At or after the last event (a backend may skip ahead over positions nobody can take).
    assert!(streamed.last().is_some_and(|last| last.cursor <= end));
    assert!(stream_all(store, end).await.is_empty());
    let later = simple_events("conv-stream-later", "req-stream-later", 3);
    record(store, later.clone()).await;
    assert_eq!(
        ids(&stream_eventually(store, end, later.len()).await),
        event_ids(&later)
    );
}

/// Resuming from any delivered cursor, also after printing and parsing it, gives exactly
/// the events after it.
pub async fn resuming_from_any_cursor_gets_exactly_the_rest(store: &dyn EventStore) {
    let trace = agent_trace("conv-resume", 4, 0);
    let count = trace.len() + 40;
    record(store, trace).await;
    record(store, simple_events("conv-resume", "req-resume", 40)).await;
    // Once final, always final: every later stream is complete.
    let all = stream_eventually(store, Cursor::start(), count).await;
    let all_ids = ids(&all);
    for (i, item) in all.iter().enumerate() {
        let text = item.cursor.to_string();
        let cursor: Cursor = text.parse().expect("a printed cursor parses");
        assert_eq!(cursor, item.cursor);
        let rest = stream_all(store, cursor).await;
        assert_eq!(ids(&rest), all_ids[i + 1..], "resuming after #{i} ({text})");
    }
}

/// A subscription delivers what is stored, then each new event as it is recorded, in order,
/// once; a second subscription resuming from a delivered cursor gets exactly the rest.
pub async fn subscription_catches_up_then_follows(store: &dyn EventStore) {
    let before = simple_events("conv-sub", "req-sub-1", 30);
    record(store, before.clone()).await;
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    let caught_up = take(&mut subscription, before.len()).await;
    assert_eq!(ids(&caught_up), event_ids(&before));

    let mut expected = Vec::new();
    for batch in 0..5 {
        let events = simple_events("conv-sub", &format!("req-sub-new-{batch}"), 7);
        expected.extend(event_ids(&events));
        record(store, events).await;
        let delivered = take(&mut subscription, 7).await;
        assert_eq!(ids(&delivered), expected[batch * 7..]);
    }
    nothing_more(&mut subscription, Duration::from_millis(300)).await;
    drop(subscription);

    let everything = stream_eventually(store, Cursor::start(), before.len() + 35).await;
    let resume_after = &everything[before.len() + 10];
    let mut resumed = store.subscribe(resume_after.cursor, Filter::all());
    let rest = take(&mut resumed, everything.len() - before.len() - 11).await;
    assert_eq!(ids(&rest), ids(&everything[before.len() + 11..]));
    nothing_more(&mut resumed, Duration::from_millis(300)).await;
}

/// Each filter delivers exactly the events [`Filter::matches`] accepts, in order: nothing
/// else before the next matching event.
pub async fn subscription_filters_are_exact(store: &dyn EventStore) {
    let a = agent_trace("conv-filter-a", 3, 0);
    let b = agent_trace("conv-filter-b", 2, 50);
    let first_request = a[0].assistant_request_id().to_owned();
    record(store, a.clone()).await;
    record(store, b.clone()).await;
    let mut stored = a.len() + b.len();
    let all: Vec<Event> = a.iter().chain(&b).cloned().collect();
    let topic = all
        .iter()
        .find_map(|e| e.topic().map(|(name, _)| name.to_owned()))
        .expect("the trace has topic events");
    let filters = [
        Filter::all().conversation("conv-filter-b"),
        Filter::all().request(first_request.clone()),
        Filter::all()
            .event_type("ToolInvoke")
            .event_type("PublishToTopic"),
        Filter::all().topic(topic),
        Filter::all()
            .conversation("conv-filter-a")
            .event_type("ConsumeFromTopic"),
        Filter::all().conversation("no-such-conversation"),
    ];
    for filter in filters {
        // Everything stored now, earlier scenarios' additions included.
        let expected: Vec<String> = stream_eventually(store, Cursor::start(), stored)
            .await
            .iter()
            .filter(|p| filter.matches(&p.event))
            .map(|p| p.event.event_id().to_owned())
            .collect();
        let mut subscription = store.subscribe(Cursor::start(), filter.clone());
        let delivered = take(&mut subscription, expected.len()).await;
        assert_eq!(ids(&delivered), expected, "{filter:?}");
        // A matching event recorded now must be the very next delivery: nothing else slips in.
        let sentinel = all
            .iter()
            .find(|e| filter.matches(e))
            .cloned()
            .map(|e| {
                let mut fresh = agent_trace(e.conversation_id(), 1, 900);
                fresh.retain(|f| filter.matches(f));
                fresh
            })
            .unwrap_or_default();
        if let Some(next) = sentinel.first() {
            record(store, sentinel.clone()).await;
            stored += sentinel.len();
            let delivered = take(&mut subscription, 1).await;
            assert_eq!(delivered[0].event.event_id(), next.event_id(), "{filter:?}");
        } else {
            record(store, simple_events("conv-unmatched", "req-unmatched", 3)).await;
            stored += 3;
            nothing_more(&mut subscription, Duration::from_millis(500)).await;
        }
    }
}

/// Eight concurrent writers, one following subscriber: it delivers every event exactly once
/// with strictly increasing cursors, in the order a later full stream gives.
pub async fn subscription_under_concurrent_writers_skips_and_repeats_nothing(
    store: &dyn EventStore,
) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 15;
    let total = WRITERS * BATCHES * PER_BATCH;
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    let writers = (0..WRITERS).map(|w| async move {
        for b in 0..BATCHES {
            let events = simple_events(&format!("conv-w{w}"), &format!("req-w{w}-{b}"), PER_BATCH);
            store.record_events(events).await.expect("record_events");
        }
    });
    let (delivered, ()) = futures::join!(take(&mut subscription, total), async {
        futures::future::join_all(writers).await;
    });
    let unique: HashSet<&str> = delivered.iter().map(|p| p.event.event_id()).collect();
    assert_eq!(unique.len(), total, "an event was delivered twice");
    assert_strictly_increasing(&delivered);
    assert_eq!(
        ids(&delivered),
        ids(&stream_eventually(store, Cursor::start(), total).await)
    );
    nothing_more(&mut subscription, Duration::from_millis(300)).await;
}

/// The streaming forms of the conversation and request reads give what the `Vec` reads give.
pub async fn streaming_reads_equal_vec_reads(store: &dyn EventStore) {
    let trace = agent_trace("conv-streamed", 3, 0);
    let request = trace[0].assistant_request_id().to_owned();
    record(store, trace).await;
    record(store, simple_events("conv-streamed", "req-streamed", 1_100)).await;
    record(store, simple_events("conv-other", "req-other", 5)).await;
    let streamed: Vec<Arc<Event>> = store
        .stream_conversation_events("conv-streamed")
        .try_collect()
        .await
        .unwrap();
    let read = store
        .get_conversation_events("conv-streamed")
        .await
        .unwrap();
    assert_eq!(streamed.len(), read.len());
    assert!(streamed
        .iter()
        .zip(&read)
        .all(|(a, b)| a.event_id() == b.event_id()));
    for request in [request.as_str(), "req-streamed", "no-such-request"] {
        let streamed: Vec<Arc<Event>> = store
            .stream_agent_events(request)
            .try_collect()
            .await
            .unwrap();
        let read = store.get_agent_events(request).await.unwrap();
        assert_eq!(streamed.len(), read.len(), "{request}");
        assert!(streamed
            .iter()
            .zip(&read)
            .all(|(a, b)| a.event_id() == b.event_id()));
    }
}

/// Closing the store ends its subscriptions with [`StoreError::Closed`].
pub async fn closing_ends_subscriptions(store: &dyn EventStore) {
    record(store, simple_events("conv-close-sub", "req-close-sub", 2)).await;
    let mut subscription = store.subscribe(Cursor::start(), Filter::all());
    take(&mut subscription, 2).await;
    store.close().await.unwrap();
    match tokio::time::timeout(DELIVERY, subscription.next()).await {
        Ok(Some(Err(StoreError::Closed { .. }))) => {}
        other => panic!(
            "expected Closed, got {:?}",
            other.map(|o| o.map(|r| r.map(|p| p.cursor)))
        ),
    }
    assert!(tokio::time::timeout(DELIVERY, subscription.next())
        .await
        .expect("the stream ends")
        .is_none());
}
