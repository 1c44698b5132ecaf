//! The indexes behind the in-memory store.
//!
//! Invariant: `log` holds every stored event once, in recording order; every index holds
//! the same `Arc`s, each list in recording order. Indexes hold the `Arc` itself rather than a
//! position in `log`: on a store of a million events that saves a cache miss per event read.
//! `positions[i]` is `log[i]`'s position: strictly increasing, never reused, so cursors stay
//! valid across `clear` and erasures.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use grafi_events::Event;
use grafi_store_core::lifecycle::{keyed_hash, HashDomain, HASH_BYTES};
use grafi_store_core::{Cursor, EventPage, Filter, PositionPage, Positioned, RecordOutcome};

use crate::id_index::IdIndex;

#[derive(Default)]
pub(crate) struct Index {
    log: Vec<Arc<Event>>,
    /// `log[i]`'s position (from 1).
    positions: Vec<u64>,
    /// The last position given out: positions keep growing across clears and erasures, so a
    /// cursor from before one never skips an event recorded after it.
    last_position: u64,
    /// Keyed hashes of erased event ids (see `grafi_store_core::lifecycle`).
    erased: HashSet<[u8; HASH_BYTES]>,
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

    /// Records `events`, refusing those whose id is in the ledger (hashed with `key`).
    pub(crate) fn insert_all(&mut self, events: Vec<Event>, key: &[u8]) -> RecordOutcome {
        let mut outcome = RecordOutcome::default();
        self.log.reserve(events.len());
        self.by_id.reserve(events.len());
        let first_new = self.log.len();
        for event in events {
            if !self.erased.is_empty()
                && self
                    .erased
                    .contains(&keyed_hash(key, HashDomain::EventId, event.event_id()))
            {
                outcome.erased += 1;
                continue;
            }
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
            self.last_position += 1;
            self.positions.push(self.last_position);
            outcome.recorded += 1;
        }
        let added = &self.log[first_new..];
        push_runs(&mut self.by_conversation, added, Event::conversation_id);
        push_runs(&mut self.by_request, added, Event::assistant_request_id);
        outcome
    }

    /// Removes every event; positions go on from where they were, and erased ids stay erased.
    pub(crate) fn clear(&mut self) {
        *self = Index {
            last_position: self.last_position,
            erased: std::mem::take(&mut self.erased),
            ..Index::default()
        };
    }

    /// The stored events, in recording order.
    pub(crate) fn events(&self) -> &[Arc<Event>] {
        &self.log
    }

    /// Removes the events at `removed` (indexes into [`Index::events`]), keeping every other
    /// event's position; with `key`, their ids join the ledger.
    pub(crate) fn remove(&mut self, removed: &[usize], key: Option<&[u8]>) {
        let removed: HashSet<usize> = removed.iter().copied().collect();
        let mut kept = Index {
            last_position: self.last_position,
            erased: std::mem::take(&mut self.erased),
            ..Index::default()
        };
        let log = std::mem::take(&mut self.log);
        let positions = std::mem::take(&mut self.positions);
        for (i, (event, position)) in log.into_iter().zip(positions).enumerate() {
            if removed.contains(&i) {
                if let Some(key) = key {
                    kept.erased
                        .insert(keyed_hash(key, HashDomain::EventId, event.event_id()));
                }
                continue;
            }
            kept.by_id.insert_if_new(&event);
            if event.is_topic_record() {
                if let Some((topic, offset)) = event.topic() {
                    kept.by_topic
                        .entry(topic.into())
                        .or_default()
                        .entry(offset)
                        .or_default()
                        .push(Arc::clone(&event));
                }
            }
            kept.log.push(event);
            kept.positions.push(position);
        }
        push_runs(&mut kept.by_conversation, &kept.log, Event::conversation_id);
        push_runs(&mut kept.by_request, &kept.log, Event::assistant_request_id);
        *self = kept;
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
        let start = self.positions.partition_point(|&p| p <= seen);
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
        match self.last_position {
            0 => Cursor::start(),
            last => Cursor::at(last, 0),
        }
    }

    fn cursor_of(&self, log_index: usize) -> Cursor {
        Cursor::at(self.positions[log_index], 0)
    }

    pub(crate) fn all(&self) -> Vec<Arc<Event>> {
        self.log.clone()
    }

    /// Cursor `c` means "every event up to position `c` was seen" (so erasures and clears
    /// never make a reader skip or repeat one).
    pub(crate) fn page(&self, after: Option<u64>, limit: usize) -> EventPage {
        let start = self.positions.partition_point(|&p| p <= after.unwrap_or(0));
        let end = start.saturating_add(limit).min(self.log.len());
        EventPage::new(
            self.log[start..end].to_vec(),
            (end < self.log.len()).then(|| match end.checked_sub(1) {
                Some(last) if end > start => self.positions[last],
                _ => after.unwrap_or(0),
            }),
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
