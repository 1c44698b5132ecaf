//! Model-based testing of an [`EventStore`]: random operation sequences run against the store
//! and against a trivially correct reference (a `Vec` of events, filtered on every read);
//! every answer must agree. Run by [`model_suite!`](crate::model_suite).
//!
//! The sequences mix record, batch (duplicates inside the batch and against stored events are
//! likely: ids come from a small pool), batches with one invalid event (nothing may be
//! written), every read (all, a page walk, by id, conversation, request, topic and offsets) and
//! clear. `GRAFI_MODEL_CASES` overrides the number of cases ([`DEFAULT_CASES`]).

use std::collections::HashSet;
use std::sync::Arc;

use grafi_events::{
    ComponentInfo, ConsumeFromTopic, Dialect, Event, EventRegistry, InvokeContext, Message,
    Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

use super::{in_suite_dialect, same_event, suite_dialect};
use crate::{EventStore, InvalidReason, RecordOutcome, StoreError};

/// Cases in the default run, unless `GRAFI_MODEL_CASES` says otherwise.
pub const DEFAULT_CASES: u32 = 1_000;

/// Longest operation sequence of a case.
pub const MAX_OPS: usize = 50;

/// A small universe so ids, conversations, requests and topic offsets collide often.
const IDS: u8 = 40;
const CONVERSATIONS: u8 = 4;
const REQUESTS: u8 = 4;
const TOPICS: [&str; 2] = ["agent_input_topic", "résumé ✓"];

/// An event, described by small numbers (shrinks well, prints short).
#[derive(Debug, Clone)]
struct Spec {
    id: u8,
    conv: u8,
    req: u8,
    kind: u8,
    topic: u8,
    offset: i64,
    payload: u16,
    /// Seconds added to a base instant, and whether to write it with a +05:30 offset.
    secs: i64,
    offset_tz: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Record(Spec),
    /// A batch; duplicates inside it are likely (ids come from a small pool).
    RecordBatch(Vec<Spec>),
    /// A batch with one invalid event (NUL in event_context) at `bad`: nothing may be written.
    RecordInvalid(Vec<Spec>, usize),
    GetEvents,
    GetPages(usize),
    GetEvent(u8),
    GetConversation(u8),
    GetAgent(u8),
    GetTopic(u8, Vec<i64>),
    Clear,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..IDS,
        0..CONVERSATIONS,
        0..REQUESTS,
        0u8..8,
        0u8..2,
        0i64..6,
        any::<u16>(),
        -100_000i64..100_000,
        any::<bool>(),
    )
        .prop_map(
            |(id, conv, req, kind, topic, offset, payload, secs, offset_tz)| Spec {
                id,
                conv,
                req,
                kind,
                topic,
                offset,
                payload,
                secs,
                offset_tz,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => spec().prop_map(Op::Record),
        4 => prop::collection::vec(spec(), 0..12).prop_map(Op::RecordBatch),
        1 => (prop::collection::vec(spec(), 1..6), any::<prop::sample::Index>())
            .prop_map(|(specs, i)| { let bad = i.index(specs.len()); Op::RecordInvalid(specs, bad) }),
        1 => Just(Op::GetEvents),
        1 => (1usize..8).prop_map(Op::GetPages),
        2 => (0..IDS + 2).prop_map(Op::GetEvent),
        2 => (0..CONVERSATIONS + 1).prop_map(Op::GetConversation),
        2 => (0..REQUESTS + 1).prop_map(Op::GetAgent),
        2 => (0u8..3, prop::collection::vec(-1i64..7, 0..5)).prop_map(|(t, o)| Op::GetTopic(t, o)),
        1 => Just(Op::Clear),
    ]
}

/// Up to `max_ops` operations.
fn ops(max_ops: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=max_ops)
}

fn topic_name(t: u8) -> &'static str {
    TOPICS.get(t as usize).copied().unwrap_or("no_such_topic")
}

/// The event a spec describes: eight kinds, topic records and raw (unregistered) ones included.
fn build(s: &Spec) -> Event {
    let conv = format!("conv-{}", s.conv);
    let req = format!("req-{}", s.req);
    let ctx = InvokeContext::new(&conv, &req).with_kwarg("p", json!(s.payload));
    // A NUL is data in a grafi 0.0.24 message and in a raw event's data on a 0.0.24 table
    // (a json column); grafi 0.0.36 keeps whole documents in jsonb, which holds none.
    let nul = match suite_dialect() {
        Dialect::V0_0_24 => "\u{0} ",
        _ => "",
    };
    let msg = [Message::user(format!("payload {} {nul}✓", s.payload))];
    let topic = (topic_name(s.topic), s.offset);
    let base = chrono::DateTime::from_timestamp(1_752_000_000, 0).unwrap();
    let utc = base + chrono::Duration::seconds(s.secs);
    let ts = if s.offset_tz {
        let tz = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        Timestamp::parse(&utc.with_timezone(&tz).to_rfc3339()).unwrap()
    } else {
        Timestamp::from_utc(utc)
    };
    let id = format!("ev-{}", s.id);
    let mut event = match s.kind {
        0 => Event::tool_invoke(ctx, ComponentInfo::new("calc", "FunctionCallTool"), &msg),
        1 => Event::tool_respond(
            ctx,
            ComponentInfo::new("calc", "FunctionCallTool"),
            &msg,
            &msg,
        ),
        2 => Event::publish_to_topic(ctx, ("node", "LLMNode"), topic, vec![], &msg),
        3 => Event::output_topic(ctx, ("node", "LLMNode"), topic, vec!["x".into()], &msg),
        4 => Event::ConsumeFromTopic(ConsumeFromTopic::new(ctx, ("node", "LLMNode"), topic, &msg)),
        5 => Event::assistant_failed(ctx, ComponentInfo::new("a", "ReActAssistant"), &msg, "boom"),
        6 => {
            let doc = json!({
                "event_id": id,
                "event_version": "2.0",
                "assistant_request_id": req,
                "event_type": "AgentHeartbeat",
                "timestamp": ts.as_str(),
                "event_context": {"beat": s.payload, "invoke_context": {
                    "conversation_id": conv, "invoke_id": "i", "assistant_request_id": req,
                    "user_id": null, "kwargs": {}}},
                "data": {"n": [s.payload, 1.5, nul]}
            });
            return EventRegistry::builtin().decode_value(doc).unwrap();
        }
        _ => Event::workflow_invoke(ctx, ComponentInfo::new("wf", "EventDrivenWorkflow"), &msg),
    };
    let meta = event.meta_mut().unwrap();
    meta.event_id = id;
    meta.timestamp = ts;
    in_suite_dialect(event)
}

fn build_invalid(s: &Spec) -> Event {
    let mut e = build(&Spec {
        kind: 0,
        ..s.clone()
    });
    let meta = e.meta_mut().unwrap();
    meta.invoke_context = InvokeContext::new("conv-bad\u{0}", "req-bad");
    e
}

/// The reference: a `Vec` in recording order.
#[derive(Default)]
struct Reference {
    log: Vec<Event>,
}

impl Reference {
    fn record(&mut self, events: Vec<Event>) -> RecordOutcome {
        let mut outcome = RecordOutcome::default();
        for e in events {
            if self.log.iter().any(|s| s.event_id() == e.event_id()) {
                outcome.duplicates += 1;
            } else {
                self.log.push(e);
                outcome.recorded += 1;
            }
        }
        outcome
    }

    fn filter(&self, f: impl Fn(&Event) -> bool) -> Vec<&Event> {
        self.log.iter().filter(|e| f(e)).collect()
    }

    fn topic(&self, topic: &str, offsets: &[i64]) -> Vec<&Event> {
        let mut found: Vec<&Event> = self.filter(|e| {
            e.is_topic_record()
                && e.topic()
                    .is_some_and(|(t, o)| t == topic && offsets.contains(&o))
        });
        found.sort_by_key(|e| e.topic().unwrap().1); // stable: recording order within an offset
        found
    }
}

fn same_list(op: &str, got: &[Arc<Event>], want: &[&Event]) -> Result<(), TestCaseError> {
    let got_ids: Vec<&str> = got.iter().map(|e| e.event_id()).collect();
    let want_ids: Vec<&str> = want.iter().map(|e| e.event_id()).collect();
    prop_assert_eq!(&got_ids, &want_ids, "{}: ids differ", op);
    for (g, w) in got.iter().zip(want) {
        prop_assert!(
            same_event(g, w),
            "{}: {} differs\n  store: {}\n  model: {}",
            op,
            w.event_id(),
            g.to_json(),
            w.to_json()
        );
    }
    Ok(())
}

fn fail(e: StoreError) -> TestCaseError {
    TestCaseError::fail(format!("store error: {e}"))
}

/// Runs one sequence on `store` (which must be empty) and the reference; the first divergence
/// fails the case.
async fn run_case(store: &dyn EventStore, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Reference::default();
    for (step, op) in ops.iter().enumerate() {
        let at = format!("step {step} {op:?}");
        match op {
            Op::Record(s) => {
                let e = build(s);
                let got = store.record_event(e.clone()).await.map_err(fail)?;
                prop_assert_eq!(got, model.record(vec![e]), "{}", at);
            }
            Op::RecordBatch(specs) => {
                let events: Vec<Event> = specs.iter().map(build).collect();
                let got = store.record_events(events.clone()).await.map_err(fail)?;
                prop_assert_eq!(got, model.record(events), "{}", at);
            }
            Op::RecordInvalid(specs, bad) => {
                let mut events: Vec<Event> = specs.iter().map(build).collect();
                events[*bad] = build_invalid(&specs[*bad]);
                let bad_id = events[*bad].event_id().to_owned();
                match store.record_events(events).await {
                    Err(StoreError::InvalidEvent {
                        event_id,
                        index,
                        reason,
                    }) => {
                        prop_assert_eq!((event_id, index), (bad_id, *bad), "{}", at);
                        prop_assert_eq!(
                            reason,
                            InvalidReason::NulCharacter {
                                field: "event_context"
                            }
                        );
                    }
                    other => prop_assert!(false, "{}: expected InvalidEvent, got {:?}", at, other),
                }
            }
            Op::GetEvents => {
                let got = store.get_events().await.map_err(fail)?;
                same_list(&at, &got, &model.filter(|_| true))?;
            }
            Op::GetPages(limit) => {
                let mut seen = Vec::new();
                let mut cursor = None;
                for _ in 0..=model.log.len() + 1 {
                    let page = store.get_events_page(cursor, *limit).await.map_err(fail)?;
                    prop_assert!(page.events.len() <= *limit, "{}: page too long", at);
                    seen.extend(page.events);
                    match page.next {
                        Some(n) => cursor = Some(n),
                        None => break,
                    }
                }
                same_list(&at, &seen, &model.filter(|_| true))?;
            }
            Op::GetEvent(i) => {
                let id = format!("ev-{i}");
                let got = store.get_event(&id).await.map_err(fail)?;
                let want = model.filter(|e| e.event_id() == id);
                same_list(&at, got.as_slice(), &want)?;
            }
            Op::GetConversation(c) => {
                let conv = format!("conv-{c}");
                let got = store.get_conversation_events(&conv).await.map_err(fail)?;
                same_list(&at, &got, &model.filter(|e| e.conversation_id() == conv))?;
            }
            Op::GetAgent(r) => {
                let req = format!("req-{r}");
                let got = store.get_agent_events(&req).await.map_err(fail)?;
                same_list(
                    &at,
                    &got,
                    &model.filter(|e| e.assistant_request_id() == req),
                )?;
            }
            Op::GetTopic(t, offsets) => {
                let got = store
                    .get_topic_events(topic_name(*t), offsets)
                    .await
                    .map_err(fail)?;
                same_list(&at, &got, &model.topic(topic_name(*t), offsets))?;
            }
            Op::Clear => {
                store.clear_events().await.map_err(fail)?;
                model.log.clear();
            }
        }
    }
    // Final full comparison, whatever the sequence read.
    let got = store.get_events().await.map_err(fail)?;
    same_list("final get_events", &got, &model.filter(|_| true))?;
    let ids: HashSet<&str> = got.iter().map(|e| e.event_id()).collect();
    prop_assert_eq!(ids.len(), got.len(), "duplicate ids stored");
    Ok(())
}

/// Cases to run: `GRAFI_MODEL_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("GRAFI_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` random sequences of up to `max_ops` operations on `store`, emptied (with
/// `clear_events`) before each case, on `runtime`. Returns (cases, operations) run; panics
/// with the shrunk sequence on the first divergence.
pub fn check_store(
    runtime: &tokio::runtime::Runtime,
    store: &dyn EventStore,
    cases: u32,
    max_ops: usize,
) -> (u32, usize) {
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new((0u32, 0usize));
    let result = runner.run(&ops(max_ops), |ops| {
        runtime.block_on(async {
            store.clear_events().await.map_err(fail)?;
            let (c, n) = ran.get();
            ran.set((c + 1, n + ops.len()));
            run_case(store, &ops).await
        })
    });
    if let Err(e) = result {
        panic!("model divergence: {e}");
    }
    ran.get()
}

/// The model test: [`cases`]`(`[`DEFAULT_CASES`]`)` sequences of up to [`MAX_OPS`]
/// operations on `store` (one store, cleared between cases), then prints
/// `model (<backend>): N cases, M operations, 0 divergences in T`.
pub fn agrees_with_the_reference_model(
    backend: &str,
    runtime: &tokio::runtime::Runtime,
    store: &dyn EventStore,
) {
    let started = std::time::Instant::now();
    let wanted = cases(DEFAULT_CASES);
    let (cases, ops) = check_store(runtime, store, wanted, MAX_OPS);
    println!(
        "model ({backend}): {cases} cases, {ops} operations, 0 divergences in {:.1?}",
        started.elapsed()
    );
    assert!(cases >= wanted);
}
