//! `grafi-store erase`: remove every event of a conversation, a request or a user for good.
//!
//! The id erased is personal data: nothing here prints or logs it. The store keeps its
//! audit record with a keyed hash of it instead (`grafi-store audit`).

use std::io::Write;

use grafi_store::EventStore;
use grafi_store_core::{Erasure, ErasureReport, RunMode};
use serde::Serialize;

use crate::{out, Intent, Outcome, UsageError};

/// `--json`: its help, which lists the fields of [`Summary`].
pub const JSON_HELP: &str = "Print one JSON document on stdout instead of the message. Fields:
  action: erase_conversation, erase_request or erase_user
  dry_run: true when nothing was changed (--dry-run)
  events: events removed (would be removed, in a dry run)
  conversations: distinct conversations those events belong to
  requests: distinct assistant requests those events belong to
The erased id itself is never printed.";

/// `erase --json`: one document on stdout (field names are stable).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The audit action: `erase_conversation`, `erase_request` or `erase_user`.
    pub action: &'static str,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Events removed (or, in a dry run, that would be).
    pub events: u64,
    /// Distinct conversations of those events.
    pub conversations: u64,
    /// Distinct assistant requests of those events.
    pub requests: u64,
}

/// Erases `erasure` as `intent` says. [`Intent::Ask`] counts (a dry run) and refuses with
/// a usage error that says how much `--yes` would remove: nothing changes without it.
pub async fn run(
    store: &dyn EventStore,
    erasure: &Erasure,
    intent: Intent,
    json: bool,
    sink: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let mode = match intent {
        Intent::Apply => RunMode::Apply,
        Intent::DryRun | Intent::Ask => RunMode::DryRun,
    };
    let report = store.erase(erasure, mode).await?;
    let action = erasure.action().as_str();
    tracing::info!(
        target: "grafi_cli",
        action,
        dry_run = mode == RunMode::DryRun,
        events = report.events,
        "erase done"
    );
    let subject = subject(erasure);
    let counted = counted(&report);
    match intent {
        Intent::Ask => Err(UsageError(format!(
            "erasing {subject} would remove {counted}; nothing changed: add --yes to erase \
             them, or --dry-run to only count"
        ))
        .into()),
        _ if json => {
            out::json_to(
                sink,
                &Summary {
                    action,
                    dry_run: mode == RunMode::DryRun,
                    events: report.events,
                    conversations: report.conversations,
                    requests: report.requests,
                },
            )?;
            Ok(Outcome::Success)
        }
        Intent::DryRun => {
            writeln!(
                sink,
                "dry run: erasing {subject} would remove {counted}; nothing changed"
            )
            .map_err(out::write_error)?;
            Ok(Outcome::Success)
        }
        Intent::Apply => {
            writeln!(
                sink,
                "erased {subject}: removed {counted}; recording them again is refused, \
                 and the audit trail keeps the erasure without the id (grafi-store audit)"
            )
            .map_err(out::write_error)?;
            Ok(Outcome::Success)
        }
    }
}

/// What is erased, without its id.
fn subject(erasure: &Erasure) -> &'static str {
    match erasure {
        Erasure::Conversation(_) => "the conversation",
        Erasure::Request(_) => "the request",
        Erasure::User(_) => "the user and their conversations",
        _ => "the subject",
    }
}

/// `108 events in 1 conversation and 13 requests`.
fn counted(report: &ErasureReport) -> String {
    format!(
        "{} in {} and {}",
        plural(report.events, "event"),
        plural(report.conversations, "conversation"),
        plural(report.requests, "request")
    )
}

pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use grafi_events::Event;
    use grafi_store::MemoryEventStore;
    use grafi_store_core::conformance::grafi_corpus;

    use super::*;
    use crate::test_support::{corpus_store, ids};

    async fn erase(
        store: &MemoryEventStore,
        erasure: &Erasure,
        intent: Intent,
        json: bool,
    ) -> (anyhow::Result<Outcome>, String) {
        let mut sink = Vec::new();
        let result = run(store, erasure, intent, json, &mut sink).await;
        (result, String::from_utf8(sink).unwrap())
    }

    fn summary(text: &str) -> serde_json::Value {
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(text).unwrap()
    }

    /// The corpus's first conversation and request, and two of its users (one shares a
    /// conversation with another user, so erasing them reaches beyond their own events).
    fn erasures() -> Vec<Erasure> {
        let first = &grafi_corpus()[0];
        vec![
            Erasure::User("u_7f3a9c".into()),
            Erasure::User("cust_dana_w".into()),
            Erasure::Conversation(first.conversation_id().to_owned()),
            Erasure::Request(first.assistant_request_id().to_owned()),
        ]
    }

    #[tokio::test]
    async fn a_dry_run_counts_what_the_real_run_removes_and_changes_nothing() {
        for erasure in erasures() {
            let store = corpus_store().await;
            let before = ids(&store.get_events().await.unwrap());
            let (result, dry) = erase(&store, &erasure, Intent::DryRun, true).await;
            assert_eq!(result.unwrap(), Outcome::Success);
            let dry = summary(&dry);
            assert_eq!(dry["dry_run"], true);
            assert_eq!(ids(&store.get_events().await.unwrap()), before);
            assert!(store.audit_trail().await.unwrap().is_empty());

            let (result, real) = erase(&store, &erasure, Intent::Apply, true).await;
            assert_eq!(result.unwrap(), Outcome::Success);
            let real = summary(&real);
            assert_eq!(real["dry_run"], false);
            assert_eq!(real["action"], erasure.action().as_str());
            for field in ["events", "conversations", "requests"] {
                assert_eq!(dry[field], real[field], "{erasure:?} {field}");
            }
            let removed = real["events"].as_u64().unwrap();
            assert!(removed > 0, "{erasure:?}");
            let after = store.get_events().await.unwrap();
            assert_eq!(before.len() - after.len(), removed as usize, "{erasure:?}");
            assert!(store.subject_events(&erasure).await.unwrap().is_empty());
            assert_eq!(store.audit_trail().await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn erasing_a_user_removes_their_conversation_with_another_user_in_it() {
        let store = corpus_store().await;
        let (result, text) = erase(
            &store,
            &Erasure::User("cust_dana_w".into()),
            Intent::Apply,
            false,
        )
        .await;
        result.unwrap();
        assert!(
            text.starts_with(
                "erased the user and their conversations: removed 87 events in 1 conversation and "
            ),
            "{text}"
        );
        // sup_kowalski's events in that conversation went with it; their others stay.
        let rest = store.get_events().await.unwrap();
        assert!(rest.iter().all(|e| !e.to_json().contains("cust_dana_w")));
    }

    #[tokio::test]
    async fn without_yes_nothing_changes_and_the_refusal_says_how_much() {
        let store = corpus_store().await;
        let before = ids(&store.get_events().await.unwrap());
        for json in [false, true] {
            let erasure = Erasure::User("u_7f3a9c".into());
            let (result, printed) = erase(&store, &erasure, Intent::Ask, json).await;
            let error = result.unwrap_err();
            assert!(error.is::<UsageError>(), "{error:#}");
            let message = error.to_string();
            assert!(
                message.starts_with("erasing the user and their conversations would remove 108 events in 1 conversation and "),
                "{message}"
            );
            assert!(message.contains("add --yes"), "{message}");
            assert!(!message.contains("u_7f3a9c"), "{message}");
            assert_eq!(printed, "", "a refusal prints nothing on stdout");
        }
        assert_eq!(ids(&store.get_events().await.unwrap()), before);
        assert!(store.audit_trail().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn what_it_prints_never_names_the_subject() {
        for intent in [Intent::DryRun, Intent::Apply] {
            for json in [false, true] {
                let store = corpus_store().await;
                let (result, printed) =
                    erase(&store, &Erasure::User("u_7f3a9c".into()), intent, json).await;
                result.unwrap();
                assert!(printed.contains("108"), "{printed}");
                assert!(!printed.contains("u_7f3a9c"), "{printed}");
            }
        }
    }

    #[tokio::test]
    async fn an_empty_id_is_a_usage_error() {
        let store = corpus_store().await;
        for intent in [Intent::DryRun, Intent::Apply, Intent::Ask] {
            let (result, _) = erase(&store, &Erasure::User(String::new()), intent, false).await;
            let error = result.unwrap_err();
            assert!(crate::is_usage_error(&error), "{error:#}");
        }
        assert_eq!(store.get_events().await.unwrap().len(), 211);
    }

    #[tokio::test]
    async fn a_store_that_cannot_erase_says_so_and_is_no_usage_error() {
        struct Plain(MemoryEventStore);
        #[async_trait::async_trait]
        impl EventStore for Plain {
            async fn record_events(
                &self,
                events: Vec<Event>,
            ) -> Result<grafi_store::RecordOutcome, grafi_store::StoreError> {
                self.0.record_events(events).await
            }
            async fn clear_events(&self) -> Result<(), grafi_store::StoreError> {
                self.0.clear_events().await
            }
            async fn get_events(&self) -> Result<Vec<Arc<Event>>, grafi_store::StoreError> {
                self.0.get_events().await
            }
            async fn get_events_page(
                &self,
                after: Option<u64>,
                limit: usize,
            ) -> Result<grafi_store::EventPage, grafi_store::StoreError> {
                self.0.get_events_page(after, limit).await
            }
            async fn get_event(
                &self,
                id: &str,
            ) -> Result<Option<Arc<Event>>, grafi_store::StoreError> {
                self.0.get_event(id).await
            }
            async fn get_agent_events(
                &self,
                id: &str,
            ) -> Result<Vec<Arc<Event>>, grafi_store::StoreError> {
                self.0.get_agent_events(id).await
            }
            async fn get_conversation_events(
                &self,
                id: &str,
            ) -> Result<Vec<Arc<Event>>, grafi_store::StoreError> {
                self.0.get_conversation_events(id).await
            }
            async fn get_topic_events(
                &self,
                topic: &str,
                offsets: &[i64],
            ) -> Result<Vec<Arc<Event>>, grafi_store::StoreError> {
                self.0.get_topic_events(topic, offsets).await
            }
        }
        let store = Plain(MemoryEventStore::new());
        let mut sink = Vec::new();
        let error = run(
            &store,
            &Erasure::User("u_7f3a9c".into()),
            Intent::Apply,
            false,
            &mut sink,
        )
        .await
        .unwrap_err();
        assert!(!crate::is_usage_error(&error));
        assert_eq!(
            error.to_string(),
            "erase_user is not available: this store cannot erase events"
        );
    }
}
