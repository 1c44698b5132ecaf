//! Removing events for good: erasure of a conversation, a request or a user, retention
//! purges, the ledger that keeps erased events from coming back, and the audit trail.
//!
//! What an erasure matches is defined here once, over an event's document
//! ([`Event::to_value`]), so that every backend removes the same events: an event belongs to
//! a conversation, a request or a user when its document holds that id under the key
//! `conversation_id`, `assistant_request_id` or `user_id` **at any depth**: its own
//! `invoke_context`, and the invoke contexts of the events grafi embeds in `data`
//! (`input_data`, `output_data`, `error_details`). Erasing a user also erases every
//! conversation one of their events names, so that no stored row keeps the user's id or the
//! id of one of their conversations.
//!
//! Subjects and event ids leave a backend only as [`keyed_hash`]es: the ledger and the audit
//! trail hold no personal data and cannot be matched against guesses without the store's key.

use chrono::{DateTime, Utc};
use grafi_events::Event;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::StoreError;

/// What to erase: every event whose document names this conversation, request or user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Erasure {
    /// A conversation (`conversation_id`).
    Conversation(String),
    /// An assistant request (`assistant_request_id`).
    Request(String),
    /// A user (`user_id`), with every conversation of theirs.
    User(String),
}

impl Erasure {
    /// The audit action this erasure is recorded as.
    pub fn action(&self) -> AuditAction {
        match self {
            Erasure::Conversation(_) => AuditAction::EraseConversation,
            Erasure::Request(_) => AuditAction::EraseRequest,
            Erasure::User(_) => AuditAction::EraseUser,
        }
    }

    /// The id being erased.
    pub fn subject(&self) -> &str {
        match self {
            Erasure::Conversation(id) | Erasure::Request(id) | Erasure::User(id) => id,
        }
    }

    /// The document key an event names the subject under.
    pub fn key(&self) -> &'static str {
        match self {
            Erasure::Conversation(_) => "conversation_id",
            Erasure::Request(_) => "assistant_request_id",
            Erasure::User(_) => "user_id",
        }
    }

    /// Refuses an empty subject: `user_id` is `""` on many events that have no user, and
    /// erasing "the user with no id" is never what was meant.
    ///
    /// ```
    /// use grafi_store_core::Erasure;
    /// assert!(Erasure::User(String::new()).check().is_err());
    /// assert!(Erasure::User("u_1".into()).check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), StoreError> {
        if self.subject().is_empty() {
            return Err(StoreError::InvalidArgument {
                operation: self.action().as_str(),
                message: format!("the {} to erase is empty", self.key()),
            });
        }
        Ok(())
    }
}

/// Whether a call changes the store or only counts what it would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    /// Remove, fill the ledger, write the audit record.
    #[default]
    Apply,
    /// Count exactly what [`RunMode::Apply`] would remove now; change nothing, audit nothing.
    DryRun,
}

/// What an erasure removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ErasureReport {
    /// Events removed.
    pub events: u64,
    /// Distinct conversations those events belonged to.
    pub conversations: u64,
    /// Distinct assistant requests those events belonged to.
    pub requests: u64,
}

impl ErasureReport {
    /// A report of `events` events in `conversations` conversations and `requests` requests.
    pub fn new(events: u64, conversations: u64, requests: u64) -> Self {
        Self {
            events,
            conversations,
            requests,
        }
    }
}

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Events removed.
    pub events: u64,
    /// The cut-off: events whose timestamp is before it were removed.
    pub before: DateTime<Utc>,
}

impl PurgeReport {
    /// A report of `events` removed before `before`.
    pub fn new(events: u64, before: DateTime<Utc>) -> Self {
        Self { events, before }
    }
}

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// [`Erasure::Conversation`].
    EraseConversation,
    /// [`Erasure::Request`].
    EraseRequest,
    /// [`Erasure::User`].
    EraseUser,
    /// A retention purge.
    Purge,
}

impl AuditAction {
    /// The action's stored name.
    ///
    /// ```
    /// use grafi_store_core::AuditAction;
    /// assert_eq!(AuditAction::EraseUser.as_str(), "erase_user");
    /// assert_eq!("purge".parse::<AuditAction>(), Ok(AuditAction::Purge));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::EraseConversation => "erase_conversation",
            AuditAction::EraseRequest => "erase_request",
            AuditAction::EraseUser => "erase_user",
            AuditAction::Purge => "purge",
        }
    }

    const ALL: [AuditAction; 4] = [
        AuditAction::EraseConversation,
        AuditAction::EraseRequest,
        AuditAction::EraseUser,
        AuditAction::Purge,
    ];
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

/// One erasure or purge, as the audit trail keeps it: never a payload, never the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// Increasing with time, per store.
    pub id: u64,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// What was done.
    pub action: AuditAction,
    /// The erased id as a [`keyed_hash`] in hex (`None` for a purge): the same subject always
    /// gives the same hash in one store, so repeated requests about one user can be matched.
    pub subject_hash: Option<String>,
    /// A purge's cut-off.
    pub before: Option<DateTime<Utc>>,
    /// Events removed.
    pub events: u64,
    /// Who did it: the database role (the process user for the in-memory store).
    pub role: String,
    /// The client's `application_name` (empty when it set none).
    pub application_name: String,
}

impl AuditRecord {
    /// A record; backends fill every field.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        at: DateTime<Utc>,
        action: AuditAction,
        subject_hash: Option<String>,
        before: Option<DateTime<Utc>>,
        events: u64,
        role: String,
        application_name: String,
    ) -> Self {
        Self {
            id,
            at,
            action,
            subject_hash,
            before,
            events,
            role,
            application_name,
        }
    }
}

/// Bytes of a [`keyed_hash`].
pub const HASH_BYTES: usize = 16;

/// What kind of value a [`keyed_hash`] is of; part of the hashed text, so an event id and a
/// user id that happen to be equal never share a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashDomain {
    /// An erased event's id (the ledger).
    EventId,
    /// The subject of an erasure (the audit trail).
    Subject(AuditAction),
}

impl HashDomain {
    fn tag(self) -> &'static str {
        match self {
            HashDomain::EventId => "event_id",
            HashDomain::Subject(action) => action.as_str(),
        }
    }
}

/// The first 16 bytes of SHA-256 over the store's secret key, the domain and the value:
/// without the key, a hash cannot be tested against guessed ids. 128 bits: a false match in
/// a ledger of a billion ids has odds below 10⁻²⁰.
///
/// ```
/// use grafi_store_core::lifecycle::{keyed_hash, HashDomain};
/// let key = [7u8; 32];
/// let a = keyed_hash(&key, HashDomain::EventId, "e1");
/// assert_eq!(a, keyed_hash(&key, HashDomain::EventId, "e1"));
/// assert_ne!(a, keyed_hash(&[8u8; 32], HashDomain::EventId, "e1"));
/// ```
pub fn keyed_hash(key: &[u8], domain: HashDomain, value: &str) -> [u8; HASH_BYTES] {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(domain.tag().as_bytes());
    hasher.update([0u8]);
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let mut out = [0u8; HASH_BYTES];
    out.copy_from_slice(&digest[..HASH_BYTES]);
    out
}

/// Lower-case hex of a hash, as [`AuditRecord::subject_hash`] shows it.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `document` holds `needle` as a string under `key` at any depth: the definition of
/// "an event names this id" that every backend's erasure follows.
///
/// ```
/// use grafi_store_core::lifecycle::names;
/// let doc = serde_json::json!({"data": {"input_data": [{"invoke_context": {"user_id": "u1"}}]}});
/// assert!(names(&doc, "user_id", "u1"));
/// assert!(!names(&doc, "user_id", "u2"));
/// ```
pub fn names(document: &Value, key: &str, needle: &str) -> bool {
    match document {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == key && v.as_str() == Some(needle)) || names(v, key, needle)),
        Value::Array(items) => items.iter().any(|v| names(v, key, needle)),
        _ => false,
    }
}

/// Every string `document` holds under `key`, at any depth (the conversations a user's events
/// name, for [`Erasure::User`]).
pub fn values_of(document: &Value, key: &str, out: &mut std::collections::BTreeSet<String>) {
    match document {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    if let Some(s) = v.as_str() {
                        out.insert(s.to_owned());
                    }
                }
                values_of(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| values_of(v, key, out)),
        _ => {}
    }
}

/// The events of `events` an erasure removes, by index, following the definition above;
/// what the in-memory store runs, and what a test can hold any backend's result against.
pub fn select_erased<'a>(
    erasure: &Erasure,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<usize> {
    let documents: Vec<Value> = events.into_iter().map(Event::to_value).collect();
    let direct = |i: &usize| names(&documents[*i], erasure.key(), erasure.subject());
    let mut selected: Vec<usize> = (0..documents.len()).filter(direct).collect();
    if let Erasure::User(_) = erasure {
        let mut conversations = std::collections::BTreeSet::new();
        for &i in &selected {
            values_of(&documents[i], "conversation_id", &mut conversations);
        }
        conversations.remove("");
        selected = (0..documents.len())
            .filter(|i| {
                direct(i)
                    || conversations
                        .iter()
                        .any(|c| names(&documents[*i], "conversation_id", c))
            })
            .collect();
    }
    selected
}

/// The report of erasing `events`: their count and distinct conversations and requests.
pub fn report_of<'a>(events: impl IntoIterator<Item = &'a Event>) -> ErasureReport {
    let mut conversations = std::collections::HashSet::new();
    let mut requests = std::collections::HashSet::new();
    let mut count = 0u64;
    for event in events {
        count += 1;
        conversations.insert(event.conversation_id());
        requests.insert(event.assistant_request_id());
    }
    ErasureReport::new(count, conversations.len() as u64, requests.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
        }
        assert!("erase".parse::<AuditAction>().is_err());
    }

    #[test]
    fn domains_separate_equal_values() {
        let key = [1u8; 32];
        assert_ne!(
            keyed_hash(&key, HashDomain::EventId, "x"),
            keyed_hash(&key, HashDomain::Subject(AuditAction::EraseUser), "x")
        );
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }

    #[test]
    fn names_ignores_other_keys_and_non_strings() {
        let doc = serde_json::json!({"user": "u1", "user_id": 7, "x": [{"user_id": "u2"}]});
        assert!(!names(&doc, "user_id", "u1"));
        assert!(!names(&doc, "user_id", "7"));
        assert!(names(&doc, "user_id", "u2"));
    }
}
