//! The indexes behind the in-memory store.
//!
//! Invariant: `log` holds every stored event once, in recording order; every index holds
//! the same `Arc`s, each list in recording order. Indexes hold the `Arc` itself rather than a
//! position in `log`: on a store of a million events that saves a cache miss per event read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use grafi_events::Event;
use grafi_store_core::{Cursor, EventPage, Filter, PositionPage, Positioned, RecordOutcome};

use crate::id_index::IdIndex;

#[derive(Default)]
pub(crate) struct Index {
    log: Vec<Arc<Event>>,
    /// Events recorded before the last `clear`: `log[i]` is at position `cleared + i + 1`, so
    /// positions keep growing across clears and a cursor from before one never skips an
    /// event recorded after it.
    cleared: u64,
    by_id: IdIndex,
    by_conversation: HashMap<Box<str>, Vec<Arc<Event>>>,
    by_request: HashMap<Box<str>, Vec<Arc<Event>>>,
    /// Topic records only (`PublishToTopic`, `TopicEvent`), by topic then offset.
    by_topic: HashMap<Box<str>, BTreeMap<i64, Vec<Arc<Event>>>>,
}

impl Index {
    pub(crate) fn len(&self) -> usize {
        self.log.len()
    }

    pub(crate) fn insert_all(&mut self, events: Vec<Event>) -> RecordOutcome {
        let mut outcome = RecordOutcome::default();
        self.log.reserve(events.len());
        self.by_id.reserve(events.len());
        let first_new = self.log.len();
        for event in events {
            let event = Arc::new(event);
            if !self.by_id.insert_if_new(&event) {
                outcome.duplicates += 1;
                continue;
            }
            if event.is_topic_record() {
                if let Some((topic, offset)) = event.topic() {
                    let offsets = match self.by_topic.get_mut(topic) {
                        Some(offsets) => offsets,
                        None => self.by_topic.entry(topic.into()).or_default(),
                    };
                    offsets.entry(offset).or_default().push(Arc::clone(&event));
                }
            }
            self.log.push(event);
            outcome.recorded += 1;
        }
        let added = &self.log[first_new..];
        push_runs(&mut self.by_conversation, added, Event::conversation_id);
        push_runs(&mut self.by_request, added, Event::assistant_request_id);
        outcome
    }

    /// Removes every event; positions go on from where they were.
    pub(crate) fn clear(&mut self) {
        let cleared = self.cleared + self.log.len() as u64;
        *self = Index {
            cleared,
            ..Index::default()
        };
    }

    /// Up to `limit` events after `after` passing `filter`, scanning at most `MAX_SCAN`
    /// events (a page of a rare filter must not hold the lock over a whole big store).
    pub(crate) fn read_positions(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> PositionPage {
        const MAX_SCAN: usize = 10_000;
        let seen = after.position().map_or(0, |(position, _)| position);
        let start = usize::try_from(seen.saturating_sub(self.cleared))
            .unwrap_or(usize::MAX)
            .min(self.log.len());
        let mut events = Vec::new();
        let mut scanned = start;
        let all = filter.is_all();
        for event in &self.log[start..] {
            if events.len() == limit || scanned - start == MAX_SCAN {
                break;
            }
            scanned += 1;
            if all || filter.matches(event) {
                events.push(Positioned::new(
                    self.cursor_of(scanned - 1),
                    Arc::clone(event),
                ));
            }
        }
        let end = if scanned > start {
            self.cursor_of(scanned - 1)
        } else {
            *after
        };
        PositionPage::new(events, end, scanned < self.log.len())
    }

    /// The cursor just after the last event.
    pub(crate) fn end_cursor(&self) -> Cursor {
        match self.log.len() {
            0 if self.cleared == 0 => Cursor::start(),
            len => Cursor::at(self.cleared + len as u64, 0),
        }
    }

    fn cursor_of(&self, log_index: usize) -> Cursor {
        Cursor::at(self.cleared + log_index as u64 + 1, 0)
    }

    pub(crate) fn all(&self) -> Vec<Arc<Event>> {
        self.log.clone()
    }

    /// Cursor `c` means "the first `c` events were seen".
    pub(crate) fn page(&self, after: Option<u64>, limit: usize) -> EventPage {
        let start = usize::try_from(after.unwrap_or(0))
            .unwrap_or(usize::MAX)
            .min(self.log.len());
        let end = start.saturating_add(limit).min(self.log.len());
        EventPage::new(
            self.log[start..end].to_vec(),
            (end < self.log.len()).then_some(end as u64),
        )
    }

    pub(crate) fn by_id(&self, event_id: &str) -> Option<Arc<Event>> {
        self.by_id.get(event_id).cloned()
    }

    pub(crate) fn by_conversation(&self, conversation_id: &str) -> Vec<Arc<Event>> {
        self.by_conversation
            .get(conversation_id)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn by_request(&self, assistant_request_id: &str) -> Vec<Arc<Event>> {
        self.by_request
            .get(assistant_request_id)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn by_topic(&self, topic_name: &str, offsets: &[i64]) -> Vec<Arc<Event>> {
        let Some(by_offset) = self.by_topic.get(topic_name) else {
            return Vec::new();
        };
        let mut wanted = offsets.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
            .iter()
            .filter_map(|offset| by_offset.get(offset))
            .flat_map(|events| events.iter().cloned())
            .collect()
    }
}

/// Appends `events` (in recording order) to their lists in `index`, one lookup per run of
/// consecutive events with the same key: an agent's events arrive together, so a batch
/// usually hashes a conversation or request id once rather than once per event.
fn push_runs(
    index: &mut HashMap<Box<str>, Vec<Arc<Event>>>,
    events: &[Arc<Event>],
    key: fn(&Event) -> &str,
) {
    for run in events.chunk_by(|a, b| key(a) == key(b)) {
        let list = match index.get_mut(key(&run[0])) {
            Some(list) => list,
            None => index.entry(key(&run[0]).into()).or_default(),
        };
        list.extend(run.iter().cloned());
    }
}
