//! Bad input, through the store API: what is refused (a typed error naming the event and its
//! index, nothing of the call written) and what is data (accepted and returned unchanged).
//! Run by [`bad_input_suite!`](crate::bad_input_suite); each function returns the figures the
//! test prints.

use grafi_events::{ComponentInfo, Event, EventRegistry, InvokeContext, Message, Timestamp};
use serde_json::{json, Value};

use super::{assert_same_event, in_suite_dialect, simple_events};
use crate::{EventStore, InvalidReason, Limits, StoreError};

/// The per-event size limit the suite configures a store with (through the backend's
/// `setup_with_limits`) for [`refuses_above_the_size_limit`]: 1 MiB.
pub const SIZE_LIMIT: usize = 1 << 20;

/// The default [`Limits`] with `max_event_bytes` set: what the suite hands the backend's
/// `setup_with_limits`.
pub fn limits_with_max_event_bytes(max_event_bytes: usize) -> Limits {
    Limits {
        max_event_bytes,
        ..Limits::default()
    }
}

/// `depth` nested arrays around a string.
fn nested(depth: usize) -> Value {
    let mut v = json!("bottom");
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

fn tool(ctx: InvokeContext, text: &str) -> Event {
    in_suite_dialect(Event::tool_invoke(
        ctx,
        ComponentInfo::new("t", "FunctionCallTool"),
        &[Message::user(text)],
    ))
}

/// Puts `bad` at index 2 of a batch of 5 good events; the call must fail with
/// `InvalidEvent` naming it, and write nothing. Returns the reason.
async fn refused(store: &dyn EventStore, label: &str, bad: Event) -> InvalidReason {
    let conv = format!("conv-refused-{label}");
    let mut batch = simple_events(&conv, "req-refused", 4);
    let bad_id = bad.event_id().to_owned();
    batch.insert(2, bad);
    let before = store.get_events().await.unwrap().len();
    let err = store
        .record_events(batch)
        .await
        .expect_err(&format!("{label}: must be refused"));
    assert!(!err.is_retryable(), "{label}: {err:?}");
    assert_eq!(
        err.event_id(),
        Some(bad_id.as_str()),
        "{label}: names the event"
    );
    let reason = match err {
        StoreError::InvalidEvent { index, reason, .. } => {
            assert_eq!(index, 2, "{label}: names its position");
            reason
        }
        other => panic!("{label}: expected InvalidEvent, got {other:?}"),
    };
    assert_eq!(
        store.get_events().await.unwrap().len(),
        before,
        "{label}: nothing of the call may be written"
    );
    assert!(store
        .get_conversation_events(&conv)
        .await
        .unwrap()
        .is_empty());
    reason
}

/// A bad event deep in a batch large enough to be sent in several chunks: refused by index,
/// nothing of the call written (chunks already sent are rolled back), and the store still
/// takes the good events afterwards.
pub async fn refused_deep_in_a_large_batch(store: &dyn EventStore) -> String {
    let conv = "conv-refused-deep";
    let mut batch = simple_events(conv, "req-refused-deep", 1_200);
    batch[1_100].meta_mut().unwrap().event_id = String::new();
    let before = store.get_events().await.unwrap().len();
    let err = store
        .record_events(batch.clone())
        .await
        .expect_err("an empty event id must be refused");
    match &err {
        StoreError::InvalidEvent { index, reason, .. } => {
            assert_eq!(*index, 1_100, "{err}");
            assert_eq!(*reason, InvalidReason::EmptyEventId, "{err}");
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
    assert_eq!(store.get_events().await.unwrap().len(), before);
    batch.remove(1_100);
    let outcome = store.record_events(batch).await.unwrap();
    assert_eq!(outcome.recorded, 1_199);
    assert_eq!(
        store.get_conversation_events(conv).await.unwrap().len(),
        1_199
    );
    "index 1100 of 1200 refused, 0 written, then 1199 recorded".to_owned()
}

/// Records `events` and reads each back by id and by conversation: unchanged.
async fn accepted(store: &dyn EventStore, label: &str, events: Vec<Event>) {
    let outcome = store
        .record_events(events.clone())
        .await
        .unwrap_or_else(|e| panic!("{label}: refused: {e}"));
    assert_eq!(outcome.recorded, events.len(), "{label}");
    for e in &events {
        let stored = store
            .get_event(e.event_id())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{label}: {} not found", e.event_id()));
        assert_same_event(&stored, e);
        assert_eq!(stored.event_type(), e.event_type(), "{label}");
        assert_eq!(
            stored.timestamp().as_str(),
            e.timestamp().as_str(),
            "{label}"
        );
        if let (Some(a), Some(b)) = (stored.input_messages(), e.input_messages()) {
            assert_eq!(a.as_str(), b.as_str(), "{label}: message text");
        }
    }
}

/// Every refusal the validation owes, each named and atomic.
pub async fn refusals(store: &dyn EventStore) -> Vec<String> {
    let mut figures = Vec::new();
    let ctx = || InvokeContext::new("conv-bad", "req-bad");

    let nul_ctx = tool(ctx().with_kwarg("note", json!("a\u{0}b")), "x");
    let r = refused(store, "nul-in-context", nul_ctx).await;
    assert_eq!(
        r,
        InvalidReason::NulCharacter {
            field: "event_context"
        }
    );
    figures.push(format!("NUL in event_context: {r}"));

    let mut empty = tool(ctx(), "x");
    empty.meta_mut().unwrap().event_id = String::new();
    let r = refused(store, "empty-id", empty).await;
    assert_eq!(r, InvalidReason::EmptyEventId);
    figures.push(format!("empty event_id: {r}"));

    // Python's datetime holds years 1-9999, and grafi reads the UTC instant back.
    for (label, year) in [
        ("year--5000", -5000),
        ("year--4713", -4713),
        ("year-0", 0),
        ("year-10000", 10000),
    ] {
        let mut e = tool(ctx(), "x");
        let utc = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        e.meta_mut().unwrap().timestamp = Timestamp::from_utc(utc);
        let r = refused(store, label, e).await;
        assert!(matches!(r, InvalidReason::TimestampOutOfRange(_)), "{r:?}");
        figures.push(format!("timestamp year {year}: {r}"));
    }
    // Valid text, but its UTC instant is in year 10000.
    let mut e = tool(ctx(), "x");
    e.meta_mut().unwrap().timestamp = Timestamp::parse("9999-12-31T23:59:59-01:00").unwrap();
    let r = refused(store, "year-10000-by-offset", e).await;
    assert!(matches!(r, InvalidReason::TimestampOutOfRange(_)), "{r:?}");
    figures.push(format!("9999-12-31T23:59:59-01:00: {r}"));

    // Indexed texts above what a B-tree entry holds (PostgreSQL: ~2.7 kB).
    let long = "k".repeat(crate::validate::MAX_KEY_BYTES + 1);
    for (field, event) in [
        ("event_id", {
            let mut e = tool(ctx(), "x");
            e.meta_mut().unwrap().event_id = long.clone();
            e
        }),
        (
            "conversation_id",
            tool(InvokeContext::new(&long, "req-bad"), "x"),
        ),
        (
            "assistant_request_id",
            tool(InvokeContext::new("conv-bad", &long), "x"),
        ),
    ] {
        let r = refused(store, field, event).await;
        assert!(
            matches!(r, InvalidReason::KeyTooLong { field: f, .. } if f == field),
            "{r:?}"
        );
        figures.push(format!("{field} of {} bytes: {r}", long.len()));
    }
    // A number jsonb's numeric cannot hold.
    let huge: serde_json::Value = serde_json::from_str("1e200000").unwrap();
    let r = refused(
        store,
        "numeric-overflow",
        tool(ctx().with_kwarg("n", huge), "x"),
    )
    .await;
    assert!(matches!(r, InvalidReason::NumberOutOfRange { .. }), "{r:?}");
    figures.push(format!("kwargs number 1e200000: {r}"));
    figures
}

/// Nesting deeper than serde_json's parser reads back (128 levels), in event_context and in
/// data: must be refused, since a store could not return it unchanged.
pub async fn refuses_nesting_deeper_than_the_parser(store: &dyn EventStore) -> Vec<String> {
    let mut figures = Vec::new();
    let deep_ctx = tool(
        InvokeContext::new("conv-deep", "req-deep").with_kwarg("deep", nested(200)),
        "x",
    );
    let r = refused(store, "deep-context", deep_ctx).await;
    figures.push(format!("200-deep event_context: {r}"));
    let doc = json!({
        "event_id": grafi_events::new_id(),
        "event_type": "AgentHeartbeat",
        "timestamp": "2025-07-08T09:14:27.318683+00:00",
        "assistant_request_id": "req-deep",
        "event_context": {"invoke_context": {"conversation_id": "conv-deep"}},
        "data": {"deep": nested(200)},
    });
    let deep_data = EventRegistry::builtin().decode_value(doc).unwrap();
    let r = refused(store, "deep-data", deep_data).await;
    figures.push(format!("200-deep data: {r}"));
    figures
}

/// Above the per-event size limit (the store is configured with `limit`): refused as TooLarge.
pub async fn refuses_above_the_size_limit(
    store: &dyn EventStore,
    limit: usize,
    size: usize,
) -> String {
    let big = tool(InvokeContext::new("conv-big", "req-big"), &"x".repeat(size));
    let r = refused(store, "too-large", big).await;
    match r {
        InvalidReason::TooLarge { size: s, limit: l } => {
            assert_eq!(l, limit);
            assert!(s > limit);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    format!("{} MB string, limit {} MB: {r}", size >> 20, limit >> 20)
}

/// A 300 MB string against the default limit (64 MiB): refused as TooLarge. `store` must use
/// the default [`Limits`].
pub async fn refuses_300_mb_by_the_default_limit(store: &dyn EventStore) -> String {
    refuses_above_the_size_limit(store, Limits::default().max_event_bytes, 300 << 20).await
}

/// What is data, not an error: accepted and returned unchanged.
pub async fn data_is_accepted(store: &dyn EventStore) -> Vec<String> {
    let mut figures = Vec::new();
    // NUL is data where a dialect keeps `data` as text (grafi 0.0.24's json column); grafi
    // 0.0.36 keeps the whole document in jsonb, which holds no NUL.
    let first = match super::suite_dialect() {
        grafi_events::Dialect::V0_0_24 => 0u8,
        _ => 1u8,
    };
    let controls: String = (first..0x20)
        .map(char::from)
        .chain(['\u{7f}', '\u{2028}'])
        .collect();
    let e = tool(
        InvokeContext::new("conv-ctl", "req-ctl"),
        &format!("NUL {controls} end"),
    );
    let raw = EventRegistry::builtin()
        .decode_value(json!({
            "event_id": grafi_events::new_id(),
            "event_version": "1.0",
            "assistant_request_id": "req-ctl",
            "event_type": "AgentHeartbeat",
            "timestamp": "2025-07-08T09:14:27.318683+00:00",
            "event_context": {"invoke_context": {"conversation_id": "conv-ctl"}},
            "data": {"bytes": format!("ab{controls}"), "n": [1e300, -0.0]},
        }))
        .unwrap();
    assert!(matches!(raw, Event::Raw(_)));
    accepted(store, "control-characters-in-data", vec![e, raw]).await;
    figures.push(format!(
        "{} C0 controls + DEL + U+2028 inside data: unchanged",
        if first == 0 {
            "NUL and all"
        } else {
            "all but NUL:"
        }
    ));

    let mut offsets = Vec::new();
    for ts in [
        "2025-07-08T11:14:27.5+02:00",
        "2025-07-08T01:44:27.123456-07:30",
        "2025-07-08T09:14:27+14:00",
    ] {
        let mut e = tool(InvokeContext::new("conv-tz", "req-tz"), ts);
        e.meta_mut().unwrap().timestamp = Timestamp::parse(ts).unwrap();
        offsets.push(e);
    }
    accepted(store, "non-utc-offsets", offsets.clone()).await;
    for e in &offsets {
        let stored = store.get_event(e.event_id()).await.unwrap().unwrap();
        assert_eq!(stored.utc(), e.utc(), "converted to the same instant");
    }
    figures.push("timestamps at +02:00, -07:30, +14:00: same instant, same text".to_owned());

    let evil = "x'); DROP TABLE events; --";
    let mut e = tool(InvokeContext::new(evil, evil), evil);
    e.meta_mut().unwrap().event_id = format!("{evil}{}", grafi_events::new_id());
    accepted(store, "sql-injection-id", vec![e]).await;
    assert_eq!(store.get_conversation_events(evil).await.unwrap().len(), 1);
    assert_eq!(store.get_agent_events(evil).await.unwrap().len(), 1);
    figures
        .push("SQL-injection id, conversation and request: stored, found, table intact".to_owned());
    figures
}

/// 100,000 events in one call: all stored, once, in order.
pub async fn hundred_thousand_in_one_call(store: &dyn EventStore) -> String {
    let started = std::time::Instant::now();
    let events = simple_events("conv-100k", "req-100k", 100_000);
    let ids: Vec<String> = events.iter().map(|e| e.event_id().to_owned()).collect();
    let outcome = store.record_events(events).await.unwrap();
    assert_eq!((outcome.recorded, outcome.duplicates), (100_000, 0));
    let stored = store.get_conversation_events("conv-100k").await.unwrap();
    let got: Vec<&str> = stored.iter().map(|e| e.event_id()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    format!(
        "100,000 events in one call: all stored once, in order, {:.1?}",
        started.elapsed()
    )
}
