//! `grafi-store audit`: the store's record of every erasure and purge, oldest first.
//!
//! A record never holds an erased id or a payload: erasures show a keyed hash of their
//! subject, purges their cut-off.

use std::io::Write;

use grafi_store::EventStore;
use grafi_store_core::AuditRecord;
use serde::Serialize;

use crate::purge::rfc3339;
use crate::{out, Outcome};

/// `--json`: its help, which lists the fields of [`Line`].
pub const JSON_HELP: &str = "Print one JSON object per record (JSONL) instead of the lines. Fields:
  id: the record's number, increasing with time
  at: when it finished, RFC 3339 UTC
  action: erase_conversation, erase_request, erase_user or purge
  events: events removed
  subject_hash: the erased id as a keyed hash (hex; the same id gives the same hash in one \
store); null for a purge
  before: a purge's cut-off, RFC 3339 UTC; null for an erasure
  role: who did it: the database role (the process user for the in-memory store)
  application_name: the client's application_name (empty when it set none)";

/// `audit --json`: one object per record (field names are stable).
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    /// The record's number.
    pub id: u64,
    /// When it finished, RFC 3339 in UTC.
    pub at: String,
    /// The audit action.
    pub action: &'static str,
    /// Events removed.
    pub events: u64,
    /// The erased id's keyed hash, hex; `null` for a purge.
    pub subject_hash: Option<&'a str>,
    /// A purge's cut-off, RFC 3339 in UTC; `null` for an erasure.
    pub before: Option<String>,
    /// The database role.
    pub role: &'a str,
    /// The client's `application_name`.
    pub application_name: &'a str,
}

impl<'a> From<&'a AuditRecord> for Line<'a> {
    fn from(record: &'a AuditRecord) -> Self {
        Self {
            id: record.id,
            at: rfc3339(record.at),
            action: record.action.as_str(),
            events: record.events,
            subject_hash: record.subject_hash.as_deref(),
            before: record.before.map(rfc3339),
            role: &record.role,
            application_name: &record.application_name,
        }
    }
}

/// Prints the trail: one line per record, or with `json` one JSON object per line. An empty
/// trail prints nothing on stdout and says so on stderr.
pub async fn run(
    store: &dyn EventStore,
    json: bool,
    sink: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let trail = store.audit_trail().await?;
    if trail.is_empty() {
        crate::errln!("the audit trail is empty: nothing was erased or purged in this store");
    }
    for record in &trail {
        let line = Line::from(record);
        if json {
            out::json_to(sink, &line)?;
        } else {
            writeln!(sink, "{}", human(&line)).map_err(out::write_error)?;
        }
    }
    sink.flush().map_err(out::write_error)?;
    Ok(Outcome::Success)
}

/// `3  2026-03-01T10:00:00.123456Z  erase_user  events=108  subject=…  role=… application_name=…`;
/// without control characters (a client names its own application_name).
fn human(line: &Line<'_>) -> String {
    let what = match (&line.subject_hash, &line.before) {
        (Some(hash), _) => format!("subject={hash}"),
        (None, Some(before)) => format!("before={before}"),
        (None, None) => "-".to_owned(),
    };
    crate::tail::printable(&format!(
        "{}  {}  {}  events={}  {what}  role={}  application_name={}",
        line.id, line.at, line.action, line.events, line.role, line.application_name
    ))
}

#[cfg(test)]
mod tests {
    use grafi_store::MemoryEventStore;
    use grafi_store_core::conformance::grafi_corpus;
    use grafi_store_core::{Erasure, RunMode};

    use super::*;

    async fn audit(store: &MemoryEventStore, json: bool) -> String {
        let mut sink = Vec::new();
        let outcome = run(store, json, &mut sink).await.unwrap();
        assert_eq!(outcome, Outcome::Success);
        String::from_utf8(sink).unwrap()
    }

    /// Every id in the corpus and some of its message text: none of it belongs in the trail.
    fn personal_text() -> Vec<String> {
        let mut texts = vec![
            "u_7f3a9c".to_owned(),
            "Tokyo".to_owned(),
            "weather".to_owned(),
        ];
        for event in grafi_corpus() {
            texts.push(event.event_id().to_owned());
            texts.push(event.conversation_id().to_owned());
            texts.push(event.assistant_request_id().to_owned());
        }
        texts.retain(|t| !t.is_empty());
        texts
    }

    #[tokio::test]
    async fn an_erase_and_a_purge_are_listed_without_ids_or_payloads() {
        let store = MemoryEventStore::new();
        store.record_events(grafi_corpus()).await.unwrap();
        let erased = store
            .erase(&Erasure::User("u_7f3a9c".into()), RunMode::Apply)
            .await
            .unwrap();
        let cutoff = crate::purge::parse_time("2025-07-10").unwrap();
        let purged = store.purge(cutoff, RunMode::Apply).await.unwrap();
        assert!(erased.events > 0 && purged.events > 0);

        let text = audit(&store, false).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains(&format!("  erase_user  events={}  subject=", erased.events)),
            "{text}"
        );
        assert!(
            lines[1].contains(&format!(
                "  purge  events={}  before=2025-07-10T00:00:00Z  role=",
                purged.events
            )),
            "{text}"
        );

        let json = audit(&store, true).await;
        let records: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 2, "{json}");
        let fields: Vec<&str> = records[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "id",
                "at",
                "action",
                "events",
                "subject_hash",
                "before",
                "role",
                "application_name"
            ]
        );
        assert_eq!(records[0]["action"], "erase_user");
        assert_eq!(records[0]["events"], erased.events);
        assert!(records[0]["subject_hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()));
        assert_eq!(records[0]["before"], serde_json::Value::Null);
        assert_eq!(records[1]["action"], "purge");
        assert_eq!(records[1]["events"], purged.events);
        assert_eq!(records[1]["subject_hash"], serde_json::Value::Null);
        assert_eq!(records[1]["before"], "2025-07-10T00:00:00Z");
        assert!(records[0]["id"].as_u64() < records[1]["id"].as_u64());

        for printed in [&text, &json] {
            for personal in personal_text() {
                assert!(!printed.contains(&personal), "{personal} in {printed}");
            }
        }
    }

    #[test]
    fn a_line_holds_no_control_characters() {
        let record = AuditRecord::new(
            7,
            crate::purge::parse_time("2026-01-01").unwrap(),
            grafi_store_core::AuditAction::Purge,
            None,
            crate::purge::parse_time("2025-01-01").unwrap().into(),
            3,
            "grafi_owner".into(),
            "evil\u{1b}[2Japp".into(),
        );
        assert_eq!(
            human(&Line::from(&record)),
            "7  2026-01-01T00:00:00Z  purge  events=3  before=2025-01-01T00:00:00Z  \
             role=grafi_owner  application_name=evil\u{fffd}[2Japp"
        );
    }

    #[tokio::test]
    async fn an_empty_trail_prints_nothing() {
        let store = MemoryEventStore::new();
        store.record_events(grafi_corpus()).await.unwrap();
        assert_eq!(audit(&store, false).await, "");
        assert_eq!(audit(&store, true).await, "");
        // A dry run is no erasure: still nothing.
        store
            .erase(&Erasure::User("u_7f3a9c".into()), RunMode::DryRun)
            .await
            .unwrap();
        assert_eq!(audit(&store, true).await, "");
    }
}
