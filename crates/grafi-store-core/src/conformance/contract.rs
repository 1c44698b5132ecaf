//! The contract clauses of [`EventStore`], one function each, run by
//! [`conformance_suite!`](crate::conformance_suite) on a fresh, empty store per clause.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use grafi_events::{
    new_id, ComponentInfo, ConsumeFromTopic, Dialect, Event, EventMeta, InvokeContext, Message,
    Timestamp,
};
use serde_json::json;

use super::{
    agent_trace, all_in_suite_dialect, assert_same_event, grafi_036_corpus, grafi_corpus,
    in_suite_dialect, same_event, simple_events, suite_dialect,
};
use crate::{EventStore, InvalidReason, RecordOutcome, StoreError};

fn ids(events: &[Arc<Event>]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}

fn ids_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}

async fn record(store: &dyn EventStore, events: Vec<Event>) -> RecordOutcome {
    store.record_events(events).await.expect("record_events")
}

/// An empty store finds nothing and fails nothing.
pub async fn empty_store_reads_nothing(store: &dyn EventStore) {
    assert!(store.get_events().await.unwrap().is_empty());
    assert!(store.get_event("no-such-id").await.unwrap().is_none());
    assert!(store
        .get_agent_events("no-such-request")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .get_conversation_events("no-such-conversation")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .get_topic_events("agent_input_topic", &[0, 1])
        .await
        .unwrap()
        .is_empty());
    let page = store.get_events_page(None, 10).await.unwrap();
    assert!(page.events.is_empty() && page.next.is_none());
}

/// Each read method returns exactly the matching events, in recording order.
pub async fn every_read_method_finds_what_was_recorded(store: &dyn EventStore) {
    let a = agent_trace("conv-a", 3, 0);
    let b = agent_trace("conv-b", 2, 100);
    let all: Vec<Event> = a.iter().chain(&b).cloned().collect();
    let outcome = record(store, all.clone()).await;
    assert_eq!((outcome.recorded, outcome.duplicates), (all.len(), 0));
    for stored in store.get_events().await.unwrap() {
        assert_eq!(
            stored.dialect(),
            Some(suite_dialect()),
            "{}",
            stored.event_id()
        );
    }

    let stored = store.get_events().await.unwrap();
    assert_eq!(ids(&stored), ids_of(&all));
    for (s, e) in stored.iter().zip(&all) {
        assert_same_event(s, e);
    }
    for e in &all {
        let found = store
            .get_event(e.event_id())
            .await
            .unwrap()
            .expect("get_event finds it");
        assert_same_event(&found, e);
    }
    for (conv, events) in [("conv-a", &a), ("conv-b", &b)] {
        assert_eq!(
            ids(&store.get_conversation_events(conv).await.unwrap()),
            ids_of(events)
        );
    }
    let mut by_request: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in &all {
        by_request
            .entry(e.assistant_request_id())
            .or_default()
            .push(e.event_id().to_owned());
    }
    assert_eq!(by_request.len(), 5);
    for (request, expected) in by_request {
        assert_eq!(
            ids(&store.get_agent_events(request).await.unwrap()),
            expected
        );
    }
}

/// Reads return recording order even when timestamps run backwards, across batches.
pub async fn reads_follow_recording_order_not_timestamps(store: &dyn EventStore) {
    let mut events = simple_events("conv-order", "req-order", 30);
    let base = chrono::DateTime::from_timestamp(1_752_307_200, 0).unwrap();
    for (i, e) in events.iter_mut().enumerate() {
        let meta = e.meta_mut().unwrap();
        meta.timestamp = Timestamp::from_utc(base - chrono::Duration::seconds(i as i64));
    }
    let (first, second) = events.split_at(10);
    record(store, second.to_vec()).await;
    record(store, first.to_vec()).await;
    let expected: Vec<String> = ids_of(second).into_iter().chain(ids_of(first)).collect();
    assert_eq!(
        ids(&store.get_conversation_events("conv-order").await.unwrap()),
        expected
    );
    assert_eq!(
        ids(&store.get_agent_events("req-order").await.unwrap()),
        expected
    );
    assert_eq!(ids(&store.get_events().await.unwrap()), expected);
}

/// Re-recording is a counted no-op; inside a batch the first occurrence wins; a different
/// payload under a stored id never overwrites it.
pub async fn recording_is_idempotent_and_first_write_wins(store: &dyn EventStore) {
    let events = simple_events("conv-idem", "req-idem", 3);
    let (a, b, c) = (events[0].clone(), events[1].clone(), events[2].clone());

    let first = store.record_event(a.clone()).await.unwrap();
    assert_eq!((first.recorded, first.duplicates), (1, 0));
    let again = store.record_event(a.clone()).await.unwrap();
    assert_eq!((again.recorded, again.duplicates), (0, 1));

    // The second `b` of the batch carries another payload: the first one must be kept.
    let mut b_later = simple_events("conv-idem", "req-idem", 1).remove(0);
    b_later.meta_mut().unwrap().event_id = b.event_id().to_owned();
    b_later.meta_mut().unwrap().invoke_context.user_id = Some("someone-else".into());
    assert!(!same_event(&b_later, &b));
    let batch = record(store, vec![b.clone(), a.clone(), b_later, c.clone()]).await;
    assert_eq!((batch.recorded, batch.duplicates), (2, 2));
    assert_same_event(&store.get_event(b.event_id()).await.unwrap().unwrap(), &b);

    let mut impostor = simple_events("conv-other", "req-other", 1).remove(0);
    impostor.meta_mut().unwrap().event_id = a.event_id().to_owned();
    let clash = store.record_event(impostor).await.unwrap();
    assert_eq!((clash.recorded, clash.duplicates), (0, 1));

    let stored = store.get_events().await.unwrap();
    assert_eq!(ids(&stored), ids_of(&[a.clone(), b, c]));
    assert_same_event(&store.get_event(a.event_id()).await.unwrap().unwrap(), &a);
    assert!(store
        .get_conversation_events("conv-other")
        .await
        .unwrap()
        .is_empty());
}

/// One invalid event fails the whole batch, names the event, and writes nothing.
pub async fn invalid_event_fails_the_whole_batch(store: &dyn EventStore) {
    let mut batch = simple_events("conv-atomic", "req-atomic", 5);
    let bad_ctx =
        InvokeContext::new("conv-atomic", "req-atomic").with_kwarg("note", json!("nul \u{0} here"));
    let bad = in_suite_dialect(Event::tool_invoke(
        bad_ctx,
        ComponentInfo::new("t", "T"),
        &[],
    ));
    let bad_id = bad.event_id().to_owned();
    batch.insert(3, bad);
    let err = store.record_events(batch).await.unwrap_err();
    match &err {
        StoreError::InvalidEvent {
            event_id,
            index,
            reason,
        } => {
            assert_eq!((event_id.as_str(), *index), (bad_id.as_str(), 3));
            assert_eq!(
                *reason,
                InvalidReason::NulCharacter {
                    field: "event_context"
                }
            );
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(
        store.get_events().await.unwrap().is_empty(),
        "nothing of the batch may be written"
    );
}

/// Each kind of invalid input gets its own typed reason.
pub async fn invalid_input_is_refused_by_name(store: &dyn EventStore) {
    let mut empty_id = simple_events("conv-bad", "req-bad", 1).remove(0);
    empty_id.meta_mut().unwrap().event_id = String::new();
    let mut ancient = simple_events("conv-bad", "req-bad", 1).remove(0);
    let year_minus_5000 = chrono::NaiveDate::from_ymd_opt(-5000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    ancient.meta_mut().unwrap().timestamp = Timestamp::from_utc(year_minus_5000);
    let mut nul_id = simple_events("conv-bad", "req-bad", 1).remove(0);
    nul_id.meta_mut().unwrap().event_id = "id\u{0}with-nul".into();
    let nul_request = in_suite_dialect(Event::tool_invoke(
        InvokeContext::new("conv-bad", "req\u{0}"),
        ComponentInfo::new("t", "T"),
        &[],
    ));

    type ReasonCheck = fn(&InvalidReason) -> bool;
    let cases: Vec<(Event, ReasonCheck)> = vec![
        (empty_id, |r| *r == InvalidReason::EmptyEventId),
        (ancient, |r| {
            matches!(r, InvalidReason::TimestampOutOfRange(_))
        }),
        (nul_id, |r| {
            matches!(r, InvalidReason::NulCharacter { field: "event_id" })
        }),
        (nul_request, |r| {
            matches!(r, InvalidReason::NulCharacter { .. })
        }),
    ];
    for (event, expected) in cases {
        let id = event.event_id().to_owned();
        match store.record_event(event).await {
            Err(StoreError::InvalidEvent {
                event_id, reason, ..
            }) => {
                assert_eq!(event_id, id);
                assert!(expected(&reason), "unexpected reason {reason:?} for {id:?}");
            }
            other => panic!("expected InvalidEvent for {id:?}, got {other:?}"),
        }
    }
    assert!(store.get_events().await.unwrap().is_empty());
}

/// Empty batches, empty offset lists and empty ids are answered, not refused.
pub async fn empty_inputs_are_fine(store: &dyn EventStore) {
    let outcome = record(store, Vec::new()).await;
    assert_eq!((outcome.recorded, outcome.duplicates), (0, 0));
    record(store, agent_trace("conv-empty", 1, 0)).await;
    assert!(store
        .get_topic_events("agent_input_topic", &[])
        .await
        .unwrap()
        .is_empty());
    assert!(store.get_event("").await.unwrap().is_none());
    assert!(store.get_conversation_events("").await.unwrap().is_empty());
    assert!(store.get_agent_events("").await.unwrap().is_empty());
    let page = store.get_events_page(None, 0).await.unwrap();
    assert!(page.events.is_empty());
}

/// 10,000 events in one call are all stored, once, in order.
pub async fn ten_thousand_events_in_one_batch(store: &dyn EventStore) {
    let events = simple_events("conv-10k", "req-10k", 10_000);
    let expected = ids_of(&events);
    let outcome = record(store, events).await;
    assert_eq!((outcome.recorded, outcome.duplicates), (10_000, 0));
    assert_eq!(
        ids(&store.get_conversation_events("conv-10k").await.unwrap()),
        expected
    );
    let again = record(store, simple_events("conv-10k", "req-10k", 0)).await;
    assert_eq!(again.recorded, 0);
}

/// Text in every script, control characters and NUL inside `data`, and 1 MB messages come
/// back exactly.
pub async fn unicode_control_characters_and_megabyte_payloads(store: &dyn EventStore) {
    let ctx = InvokeContext::new("conv-ünïcødé-😀", "req-שלום")
        .with_user_id("用户-١٢٣")
        .with_kwarg("emoji", json!("👩‍👩‍👧‍👦 e\u{301} \u{202e}rtl"))
        .with_kwarg("numbers", json!([1e300, -0.5, 12345678901234567890u64]));
    let tool = ComponentInfo::new("Ωmega tool", "FunctionCallTool");
    // A NUL is data in grafi 0.0.24's message strings; grafi 0.0.36 writes a tool's messages
    // as JSON that PostgreSQL's jsonb holds, which has no NUL (refused by name, see below).
    let nul = match suite_dialect() {
        Dialect::V0_0_24 => "NUL \u{0} ",
        _ => "",
    };
    let weird = Message::user(format!(
        "{nul}BEL \u{7} ESC \u{1b} DEL \u{7f} tab\t newline\n \u{2028} 𝔘𝔫𝔦"
    ));
    let big = Message::assistant("é".repeat(512 * 1024)); // 1 MiB of UTF-8
    let events = all_in_suite_dialect(vec![
        Event::tool_invoke(ctx.clone(), tool.clone(), std::slice::from_ref(&weird)),
        Event::tool_respond(ctx.clone(), tool.clone(), &[weird], &[big]),
    ]);
    if nul.is_empty() {
        let with_nul = in_suite_dialect(Event::tool_invoke(
            ctx.clone(),
            tool.clone(),
            &[Message::user("NUL \u{0}")],
        ));
        match store.record_events(vec![with_nul]).await {
            Err(StoreError::InvalidEvent {
                reason: InvalidReason::NulCharacter { field: "data" },
                ..
            }) => {}
            other => panic!("a NUL in a grafi 0.0.36 tool message must be refused: {other:?}"),
        }
    }
    record(store, events.clone()).await;
    for e in &events {
        let stored = store
            .get_event(e.event_id())
            .await
            .unwrap()
            .expect("stored");
        assert_same_event(&stored, e);
        assert_eq!(
            stored.input_messages().unwrap().as_str(),
            e.input_messages().unwrap().as_str()
        );
    }
    let conv = store
        .get_conversation_events("conv-ünïcødé-😀")
        .await
        .unwrap();
    assert_eq!(ids(&conv), ids_of(&events));
    assert_eq!(store.get_agent_events("req-שלום").await.unwrap().len(), 2);
}

/// Records a real corpus of `dialect`: `true` when stored whole, `false` when the store's
/// table holds the other dialect and refused the batch as it must (naming its first event,
/// writing nothing, and saying so in `table_dialect`).
async fn corpus_is_stored(store: &dyn EventStore, corpus: &[Event], dialect: Dialect) -> bool {
    match store.record_events(corpus.to_vec()).await {
        Err(StoreError::InvalidEvent {
            event_id,
            index: 0,
            reason: InvalidReason::WrongDialect { event, table },
        }) => {
            assert_eq!(event, dialect);
            assert_ne!(table, dialect);
            assert_eq!(
                store.table_dialect(),
                Some(table),
                "the store says what it holds"
            );
            assert_eq!(event_id, corpus[0].event_id());
            assert!(store.get_events().await.unwrap().is_empty());
            false
        }
        Err(other) => panic!("the grafi {dialect} corpus was refused: {other}"),
        Ok(outcome) => {
            assert_eq!(outcome.recorded, corpus.len());
            assert!(store.table_dialect().is_none_or(|d| d == dialect));
            true
        }
    }
}

/// The real grafi 0.0.24 corpus goes in and comes out the same, by every read (or, where the
/// table holds the other dialect, is refused by name).
pub async fn whole_grafi_corpus_round_trips(store: &dyn EventStore) {
    let corpus = grafi_corpus();
    if !corpus_is_stored(store, &corpus, Dialect::V0_0_24).await {
        return;
    }
    let stored = store.get_events().await.unwrap();
    assert_eq!(ids(&stored), ids_of(&corpus));
    for (s, e) in stored.iter().zip(&corpus) {
        assert!(
            s.builtin_type().is_some(),
            "{} came back untyped",
            e.event_id()
        );
        assert_same_event(s, e);
    }
    let conversations: HashSet<&str> = corpus.iter().map(Event::conversation_id).collect();
    let mut total = 0;
    for c in &conversations {
        total += store.get_conversation_events(c).await.unwrap().len();
    }
    assert_eq!((conversations.len(), total), (4, corpus.len()));
    let requests: HashSet<&str> = corpus.iter().map(Event::assistant_request_id).collect();
    assert_eq!(requests.len(), 13);
}

/// The real grafi 0.0.36 corpus: a store that holds grafi 0.0.36 documents gives each back as
/// it came (typed, in its dialect, byte for byte), by every read, topics by their 0.0.36
/// `name`; a store whose table holds the other dialect refuses the batch, naming its first
/// event, and writes nothing. A store that holds both keeps the 0.0.24 corpus beside it.
pub async fn grafi_036_corpus_round_trips_or_is_refused_by_dialect(store: &dyn EventStore) {
    let corpus = grafi_036_corpus();
    if !corpus_is_stored(store, &corpus, Dialect::V0_0_36).await {
        return;
    }
    let stored = store.get_events().await.unwrap();
    assert_eq!(ids(&stored), ids_of(&corpus));
    for (s, e) in stored.iter().zip(&corpus) {
        assert_eq!(s.dialect(), Some(Dialect::V0_0_36), "{}", e.event_id());
        assert_same_event(s, e);
    }
    let mut by_conversation = 0;
    let conversations: HashSet<&str> = corpus.iter().map(Event::conversation_id).collect();
    for c in &conversations {
        by_conversation += store.get_conversation_events(c).await.unwrap().len();
    }
    let mut by_request = 0;
    let requests: HashSet<&str> = corpus.iter().map(Event::assistant_request_id).collect();
    for r in &requests {
        by_request += store.get_agent_events(r).await.unwrap().len();
    }
    assert_eq!(
        (
            conversations.len(),
            by_conversation,
            requests.len(),
            by_request
        ),
        (4, corpus.len(), 11, corpus.len())
    );
    let mut topics: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in corpus.iter().filter(|e| e.is_topic_record()) {
        let (name, offset) = e.topic().unwrap();
        topics.entry(name).or_default().push(offset);
    }
    let mut found = 0;
    for (name, offsets) in &topics {
        let events = store.get_topic_events(name, offsets).await.unwrap();
        assert!(events.iter().all(|e| e.topic().unwrap().0 == *name));
        found += events.len();
    }
    assert_eq!(
        found, 31,
        "every PublishToTopic found by its topic name and offset"
    );
    // A store that holds both dialects keeps the 0.0.24 corpus beside it, each in its own.
    let old = grafi_corpus();
    if let Ok(outcome) = store.record_events(old.clone()).await {
        assert_eq!(outcome.recorded, old.len());
        let all = store.get_events().await.unwrap();
        assert_eq!(all.len(), corpus.len() + old.len());
        for (s, e) in all[corpus.len()..].iter().zip(&old) {
            assert_eq!(s.dialect(), Some(Dialect::V0_0_24));
            assert_same_event(s, e);
        }
    }
}

/// 8 writers × 1,000 events, in batches, with overlapping retries: every event once.
pub async fn concurrent_writers_lose_and_duplicate_nothing(store: &dyn EventStore) {
    let writers: Vec<Vec<Event>> = (0..8)
        .map(|w| {
            simple_events(
                &format!("conv-writer-{w}"),
                &format!("req-writer-{w}"),
                1_000,
            )
        })
        .collect();
    let results = futures::future::join_all(writers.iter().map(|events| async move {
        let mut recorded = 0;
        for (i, chunk) in events.chunks(100).enumerate() {
            recorded += store
                .record_events(chunk.to_vec())
                .await
                .expect("record")
                .recorded;
            // Replay the previous chunk as a client retry would: all duplicates.
            if i > 0 {
                let replay = store
                    .record_events(events[(i - 1) * 100..i * 100].to_vec())
                    .await
                    .expect("replay");
                assert_eq!((replay.recorded, replay.duplicates), (0, 100));
            }
        }
        recorded
    }))
    .await;
    assert_eq!(results, vec![1_000; 8]);
    let all = store.get_events().await.unwrap();
    assert_eq!(all.len(), 8_000);
    assert_eq!(
        all.iter()
            .map(|e| e.event_id())
            .collect::<HashSet<_>>()
            .len(),
        8_000
    );
    for (w, events) in writers.iter().enumerate() {
        let conv = store
            .get_conversation_events(&format!("conv-writer-{w}"))
            .await
            .unwrap();
        assert_eq!(
            ids(&conv),
            ids_of(events),
            "writer {w}'s events out of order"
        );
    }
}

/// Topic records are found by topic and offset (beyond 2^31 too), ordered by offset;
/// consume and (in grafi 0.0.24) output events at the same offsets are not topic records.
pub async fn topic_events_by_name_and_offset(store: &dyn EventStore) {
    let ctx = InvokeContext::new("conv-topic", "req-topic");
    let publish = |topic: &str, offset: i64| {
        in_suite_dialect(Event::publish_to_topic(
            ctx.clone(),
            ("node", "LLMNode"),
            (topic, offset),
            vec![],
            &[Message::user(format!("{topic}@{offset}"))],
        ))
    };
    let big = 3_000_000_000_i64;
    let mut events = Vec::new();
    for offset in [0, 1, 2, 3, 4, big] {
        events.push(publish("résumé ✓", offset));
        events.push(publish("other_topic", offset));
        events.push(in_suite_dialect(Event::ConsumeFromTopic(
            ConsumeFromTopic::new(ctx.clone(), ("n", "LLMNode"), ("résumé ✓", offset), &[]),
        )));
        // grafi 0.0.36 has no OutputTopic (it records a PublishToTopic instead).
        if suite_dialect() == Dialect::V0_0_24 {
            events.push(Event::output_topic(
                ctx.clone(),
                ("n", "LLMNode"),
                ("résumé ✓", offset),
                vec![],
                &[],
            ));
        }
    }
    // Recorded in reverse: the result must still come back by offset.
    events.reverse();
    record(store, events.clone()).await;
    let found = store
        .get_topic_events("résumé ✓", &[4, 0, big, 2, 99, 2])
        .await
        .unwrap();
    let got: Vec<(String, i64, &str)> = found
        .iter()
        .map(|e| {
            let (t, o) = e.topic().unwrap();
            (t.to_owned(), o, e.event_type())
        })
        .collect();
    let expected: Vec<(String, i64, &str)> = [0, 2, 4, big]
        .iter()
        .map(|&o| ("résumé ✓".to_owned(), o, "PublishToTopic"))
        .collect();
    assert_eq!(got, expected);
    assert!(store
        .get_topic_events("no_such_topic", &[0])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .get_topic_events("other_topic", &[big])
            .await
            .unwrap()
            .len(),
        1
    );
}

/// `clear_events` empties every index; the store keeps working and ids can be reused.
pub async fn clear_removes_everything(store: &dyn EventStore) {
    let events = agent_trace("conv-clear", 2, 0);
    record(store, events.clone()).await;
    store.clear_events().await.unwrap();
    assert!(store.get_events().await.unwrap().is_empty());
    assert!(store
        .get_event(events[0].event_id())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_conversation_events("conv-clear")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .get_agent_events(events[0].assistant_request_id())
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .get_topic_events("agent_input_topic", &[0, 1])
        .await
        .unwrap()
        .is_empty());
    let again = record(store, events.clone()).await;
    assert_eq!(again.recorded, events.len());
}

/// An event type nobody registered is stored and returned whole.
pub async fn unknown_event_types_are_kept_whole(store: &dyn EventStore) {
    let doc = json!({
        "event_id": new_id(),
        "event_version": "2.0",
        "assistant_request_id": "req-raw",
        "event_type": "AgentHeartbeat",
        "timestamp": "2025-07-08T09:14:27.318683+00:00",
        "event_context": {"agent": "a-1", "load": 0.25, "invoke_context": {
            "conversation_id": "conv-raw", "invoke_id": "i", "assistant_request_id": "req-raw",
            "user_id": null, "kwargs": {}}},
        "data": {"beats": [1, 2, 3], "note": "still alive"}
    });
    let event = grafi_events::EventRegistry::builtin()
        .decode_value(doc)
        .unwrap();
    assert!(matches!(event, Event::Raw(_)));
    record(store, vec![event.clone()]).await;
    for stored in [
        store.get_event(event.event_id()).await.unwrap().unwrap(),
        store
            .get_conversation_events("conv-raw")
            .await
            .unwrap()
            .remove(0),
        store.get_agent_events("req-raw").await.unwrap().remove(0),
    ] {
        assert_eq!(stored.event_type(), "AgentHeartbeat");
        assert_same_event(&stored, &event);
    }
}

/// Paging visits every event once, in recording order, and says when it is done.
pub async fn paging_visits_every_event_once(store: &dyn EventStore) {
    let events = simple_events("conv-page", "req-page", 250);
    record(store, events.clone()).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.get_events_page(cursor, 100).await.unwrap();
        pages += 1;
        assert!(page.events.len() <= 100);
        seen.extend(ids(&page.events));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, ids_of(&events));
    assert!(pages >= 3);
}

/// Quotes, SQL and path characters in ids are data; non-UTC offsets are converted.
pub async fn hostile_identifiers_are_plain_data(store: &dyn EventStore) {
    let evil = "x'); DROP TABLE events; --";
    let ctx = InvokeContext::new(evil, "req\"\\%_*");
    let mut event = in_suite_dialect(Event::tool_invoke(
        ctx,
        ComponentInfo::new(evil, evil),
        &[Message::user(evil)],
    ));
    {
        let meta: &mut EventMeta = event.meta_mut().unwrap();
        meta.event_id = format!("{evil} {}", new_id());
        meta.timestamp = Timestamp::parse("2025-07-08T11:14:27.5+02:00").unwrap();
    }
    record(store, vec![event.clone()]).await;
    let stored = store
        .get_event(event.event_id())
        .await
        .unwrap()
        .expect("found by hostile id");
    assert_same_event(&stored, &event);
    assert_eq!(stored.utc().to_rfc3339(), "2025-07-08T09:14:27.500+00:00");
    assert_eq!(store.get_conversation_events(evil).await.unwrap().len(), 1);
    assert_eq!(store.get_agent_events("req\"\\%_*").await.unwrap().len(), 1);
    assert!(
        store.get_agent_events("req%").await.unwrap().is_empty(),
        "ids are not patterns"
    );
}

/// `ping` answers an open store; `pool_status`, when a backend has a pool, stays within its
/// size; after `close` every call fails with [`StoreError::Closed`] (nothing is written),
/// and closing again is fine.
pub async fn close_refuses_every_later_call(store: &dyn EventStore) {
    store.ping().await.expect("an open store answers ping");
    store
        .record_events(simple_events("conv-close", "req-close", 2))
        .await
        .unwrap();
    if let Some(status) = store.pool_status() {
        assert!(status.idle_connections <= status.connections, "{status:?}");
        assert!(status.connections <= status.max_connections, "{status:?}");
    }
    store.close().await.unwrap();
    let closed = |result: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(result, Err(StoreError::Closed { .. })),
            "{what} after close: {result:?}"
        );
    };
    closed(store.ping().await, "ping");
    closed(
        store
            .record_events(simple_events("conv-close", "req-close", 1))
            .await
            .map(|_| ()),
        "record_events",
    );
    closed(store.get_events().await.map(|_| ()), "get_events");
    closed(
        store.get_events_page(None, 10).await.map(|_| ()),
        "get_events_page",
    );
    closed(store.get_event("x").await.map(|_| ()), "get_event");
    closed(
        store.get_agent_events("req-close").await.map(|_| ()),
        "get_agent_events",
    );
    closed(
        store
            .get_conversation_events("conv-close")
            .await
            .map(|_| ()),
        "get_conversation_events",
    );
    closed(
        store.get_topic_events("t", &[0]).await.map(|_| ()),
        "get_topic_events",
    );
    closed(store.clear_events().await, "clear_events");
    store.close().await.expect("closing twice is fine");
}
