//! Erasure, retention, no resurrection and the audit trail, on the real grafi corpus of the
//! suite's dialect. Run by [`lifecycle_suite!`](crate::lifecycle_suite) on a fresh, empty
//! store per scenario.
//!
//! What each erasure must remove is computed here from the events themselves
//! ([`select_erased`]), so a backend is held to the one definition in
//! [`crate::lifecycle`], not to counts written down by hand.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use grafi_events::{Dialect, Event};

use super::streams::stream_eventually;
use super::{grafi_036_corpus, grafi_corpus, suite_dialect};
use crate::lifecycle::{names, report_of, select_erased, values_of};
use crate::{
    AuditAction, Cursor, Erasure, ErasureReport, EventStore, RecordOutcome, RunMode, StoreError,
};

/// The real corpus of the suite's dialect: 211 (0.0.24) or 201 (0.0.36) events by grafi.
fn corpus() -> Vec<Event> {
    match suite_dialect() {
        Dialect::V0_0_36 => grafi_036_corpus(),
        _ => grafi_corpus(),
    }
}

async fn recorded_corpus(store: &dyn EventStore) -> Vec<Event> {
    let events = corpus();
    let outcome = store
        .record_events(events.clone())
        .await
        .expect("record the corpus");
    assert_eq!(outcome.recorded, events.len());
    events
}

async fn stored_ids(store: &dyn EventStore) -> Vec<String> {
    ids(&store.get_events().await.expect("get_events"))
}

fn ids<E: std::ops::Deref<Target = Event>>(events: &[E]) -> Vec<String> {
    events.iter().map(|e| e.event_id().to_owned()).collect()
}

/// The ids of `events` without those at `removed`, in order.
fn without(events: &[Event], removed: &[usize]) -> Vec<String> {
    let removed: HashSet<usize> = removed.iter().copied().collect();
    (0..events.len())
        .filter(|i| !removed.contains(i))
        .map(|i| events[i].event_id().to_owned())
        .collect()
}

fn expected_report(events: &[Event], selected: &[usize]) -> ErasureReport {
    report_of(selected.iter().map(|&i| &events[i]))
}

/// The user with the most events in the corpus.
fn busiest_user(events: &[Event]) -> String {
    let mut users = BTreeSet::new();
    for event in events {
        values_of(&event.to_value(), "user_id", &mut users);
    }
    users.remove("");
    users
        .into_iter()
        .max_by_key(|u| select_erased(&Erasure::User(u.clone()), events).len())
        .expect("the corpus has users")
}

/// Runs `erasure` as a dry run, then for real: both report exactly what the definition
/// selects, the dry run changes nothing, and the store keeps exactly the rest, in order.
async fn erase_exactly(store: &dyn EventStore, events: &[Event], erasure: &Erasure) -> Vec<usize> {
    let selected = select_erased(erasure, events);
    assert!(!selected.is_empty(), "{erasure:?} selects nothing");
    assert!(
        selected.len() < events.len(),
        "{erasure:?} selects everything"
    );
    let expected = expected_report(events, &selected);
    let before = stored_ids(store).await;
    let found = store.subject_events(erasure).await.expect("subject_events");
    let expected_ids: Vec<String> = selected
        .iter()
        .map(|&i| events[i].event_id().to_owned())
        .collect();
    assert_eq!(ids(&found), expected_ids, "subject_events of {erasure:?}");
    let dry = store
        .erase(erasure, RunMode::DryRun)
        .await
        .expect("dry run");
    assert_eq!(dry, expected, "dry run of {erasure:?}");
    assert_eq!(
        stored_ids(store).await,
        before,
        "a dry run changed the store"
    );
    let done = store.erase(erasure, RunMode::Apply).await.expect("erase");
    assert_eq!(done, expected, "erasure of {erasure:?}");
    assert_eq!(stored_ids(store).await, without(events, &selected));
    selected
}

/// `erase_conversation` removes every event naming the conversation, at any depth, and
/// nothing else; a dry run counts the same and removes nothing.
pub async fn erasing_a_conversation_removes_exactly_what_names_it(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let conversation = events[events.len() / 2].conversation_id().to_owned();
    erase_exactly(store, &events, &Erasure::Conversation(conversation.clone())).await;
    for event in store.get_events().await.unwrap() {
        assert!(!names(&event.to_value(), "conversation_id", &conversation));
    }
    let again = store.erase_conversation(&conversation).await.unwrap();
    assert_eq!(again.events, 0, "a second erasure finds nothing");
}

/// `erase_request` removes every event naming the request and nothing else.
pub async fn erasing_a_request_removes_exactly_what_names_it(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let request = events[events.len() - 1].assistant_request_id().to_owned();
    erase_exactly(store, &events, &Erasure::Request(request.clone())).await;
    assert!(store.get_agent_events(&request).await.unwrap().is_empty());
}

/// `erase_user` removes the user's events and every event of their conversations: no event
/// left names the user or one of their conversations, anywhere in its document.
pub async fn erasing_a_user_leaves_no_trace_of_them_or_their_conversations(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let user = busiest_user(&events);
    let selected = erase_exactly(store, &events, &Erasure::User(user.clone())).await;
    let mut conversations = BTreeSet::new();
    for &i in &selected {
        values_of(&events[i].to_value(), "conversation_id", &mut conversations);
    }
    conversations.remove("");
    assert!(!conversations.is_empty());
    for event in store.get_events().await.unwrap() {
        let document = event.to_value();
        assert!(!names(&document, "user_id", &user), "{}", event.event_id());
        for conversation in &conversations {
            assert!(!names(&document, "conversation_id", conversation));
        }
    }
    for conversation in &conversations {
        assert!(store
            .get_conversation_events(conversation)
            .await
            .unwrap()
            .is_empty());
    }
}

/// An erased event recorded again (a replayed batch, one event, or inside a batch of new
/// ones) writes nothing and is counted as erased; new events of the same conversation are
/// stored as usual.
pub async fn erased_events_never_come_back(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let conversation = events[0].conversation_id().to_owned();
    let selected = erase_exactly(store, &events, &Erasure::Conversation(conversation)).await;
    let kept = without(&events, &selected);

    let replay = store.record_events(events.clone()).await.unwrap();
    assert_eq!(
        replay,
        RecordOutcome::new(0, kept.len()).with_erased(selected.len()),
        "replaying the whole batch"
    );
    let one = events[selected[0]].clone();
    let single = store.record_event(one.clone()).await.unwrap();
    assert_eq!(single, RecordOutcome::new(0, 0).with_erased(1));
    assert!(store.get_event(one.event_id()).await.unwrap().is_none());

    let mut fresh = one.clone();
    fresh.meta_mut().expect("a grafi event").event_id = format!("{}-new", one.event_id());
    let mixed = store
        .record_events(vec![one.clone(), fresh.clone(), one])
        .await
        .unwrap();
    assert_eq!(mixed, RecordOutcome::new(1, 0).with_erased(2));
    assert!(store.get_event(fresh.event_id()).await.unwrap().is_some());
    let mut expected = kept;
    expected.push(fresh.event_id().to_owned());
    assert_eq!(stored_ids(store).await, expected);
}

/// The corpus' median timestamp: a cut-off with events on both sides.
fn median_cut_off(events: &[Event]) -> DateTime<Utc> {
    let mut times: Vec<DateTime<Utc>> = events.iter().map(Event::utc).collect();
    times.sort();
    times[times.len() / 2]
}

/// `purge` removes exactly the events whose timestamp is before the cut-off (a dry run counts
/// the same and removes nothing); a purged event recorded again is stored again, since purges
/// do not fill the ledger.
pub async fn purging_removes_exactly_the_older_events_and_they_may_be_recorded_again(
    store: &dyn EventStore,
) {
    let events = recorded_corpus(store).await;
    let cut_off = median_cut_off(&events);
    let older: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].utc() < cut_off)
        .collect();
    assert!(!older.is_empty() && older.len() < events.len());
    let dry = store.purge(cut_off, RunMode::DryRun).await.unwrap();
    assert_eq!((dry.events, dry.before), (older.len() as u64, cut_off));
    assert_eq!(stored_ids(store).await.len(), events.len());
    let done = store.purge_before(cut_off).await.unwrap();
    assert_eq!(done.events, older.len() as u64);
    assert_eq!(stored_ids(store).await, without(&events, &older));
    let again = store.purge_before(cut_off).await.unwrap();
    assert_eq!(again.events, 0);

    let replay = store.record_events(events.clone()).await.unwrap();
    assert_eq!(
        replay,
        RecordOutcome::new(older.len(), events.len() - older.len())
    );
}

/// Every erasure and purge leaves one audit record, oldest first, with its action and counts
/// and a keyed hash of the subject (equal for the same subject, never the subject itself);
/// dry runs and refused calls leave none.
pub async fn every_erasure_and_purge_is_audited_without_personal_data(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let user = busiest_user(&events);
    let conversation = events[0].conversation_id().to_owned();
    assert!(store.audit_trail().await.unwrap().is_empty());

    store
        .erase(&Erasure::User(user.clone()), RunMode::DryRun)
        .await
        .unwrap();
    assert!(matches!(
        store.erase_user("").await,
        Err(StoreError::InvalidArgument { .. })
    ));
    assert!(store.audit_trail().await.unwrap().is_empty());

    let by_user = store.erase_user(&user).await.unwrap();
    let by_conversation = store.erase_conversation(&conversation).await.unwrap();
    let again = store.erase_user(&user).await.unwrap();
    let cut_off = median_cut_off(&events);
    let purged = store.purge_before(cut_off).await.unwrap();

    let trail = store.audit_trail().await.unwrap();
    let actions: Vec<AuditAction> = trail.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::EraseUser,
            AuditAction::EraseConversation,
            AuditAction::EraseUser,
            AuditAction::Purge
        ]
    );
    let counts: Vec<u64> = trail.iter().map(|r| r.events).collect();
    assert_eq!(
        counts,
        [
            by_user.events,
            by_conversation.events,
            again.events,
            purged.events
        ]
    );
    assert!(trail
        .windows(2)
        .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    let hash = |i: usize| trail[i].subject_hash.clone().expect("a subject hash");
    assert_eq!(hash(0), hash(2), "the same user gives the same hash");
    assert_ne!(hash(0), hash(1));
    for record in &trail[..3] {
        let text = format!("{record:?}");
        assert!(
            !text.contains(&user) && !text.contains(&conversation),
            "{text}"
        );
        assert_eq!(record.before, None);
    }
    assert_eq!(
        (trail[3].subject_hash.as_ref(), trail[3].before),
        (None, Some(cut_off))
    );
    assert!(trail.iter().all(|r| !r.role.is_empty()));
}

/// A stream started after an erasure never delivers an erased event, and delivers every
/// other one.
pub async fn streams_after_an_erasure_never_see_erased_events(store: &dyn EventStore) {
    let events = recorded_corpus(store).await;
    let request = events[events.len() / 3].assistant_request_id().to_owned();
    let selected = erase_exactly(store, &events, &Erasure::Request(request)).await;
    let kept = without(&events, &selected);
    let delivered = stream_eventually(store, Cursor::start(), kept.len()).await;
    let delivered: Vec<String> = delivered
        .iter()
        .map(|p| p.event.event_id().to_owned())
        .collect();
    assert_eq!(delivered, kept);
}
