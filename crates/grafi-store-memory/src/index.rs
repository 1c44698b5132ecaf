//! The indexes behind the in-memory store.
//!
//! Invariant: `log` holds every stored event once, in recording order; every index entry is
//! a position in `log`, and each index's position lists are ascending (recording order).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use grafi_events::Event;
use grafi_store_core::{EventPage, RecordOutcome};

#[derive(Default)]
pub(crate) struct Index {
    log: Vec<Arc<Event>>,
    by_id: HashMap<Box<str>, usize>,
    by_conversation: HashMap<Box<str>, Vec<usize>>,
    by_request: HashMap<Box<str>, Vec<usize>>,
    /// Topic records only (`PublishToTopic`, `TopicEvent`), by topic then offset.
    by_topic: HashMap<Box<str>, BTreeMap<i64, Vec<usize>>>,
}

impl Index {
    pub(crate) fn len(&self) -> usize {
        self.log.len()
    }

    pub(crate) fn insert_all(&mut self, events: Vec<Event>) -> RecordOutcome {
        let mut outcome = RecordOutcome::default();
        self.log.reserve(events.len());
        for event in events {
            if self.by_id.contains_key(event.event_id()) {
                outcome.duplicates += 1;
                continue;
            }
            let pos = self.log.len();
            self.by_id.insert(event.event_id().into(), pos);
            push(&mut self.by_conversation, event.conversation_id(), pos);
            push(&mut self.by_request, event.assistant_request_id(), pos);
            if event.is_topic_record() {
                if let Some((topic, offset)) = event.topic() {
                    let offsets = match self.by_topic.get_mut(topic) {
                        Some(offsets) => offsets,
                        None => self.by_topic.entry(topic.into()).or_default(),
                    };
                    offsets.entry(offset).or_default().push(pos);
                }
            }
            self.log.push(Arc::new(event));
            outcome.recorded += 1;
        }
        outcome
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
        EventPage {
            events: self.log[start..end].to_vec(),
            next: (end < self.log.len()).then_some(end as u64),
        }
    }

    pub(crate) fn by_id(&self, event_id: &str) -> Option<Arc<Event>> {
        self.by_id
            .get(event_id)
            .map(|&pos| Arc::clone(&self.log[pos]))
    }

    pub(crate) fn by_conversation(&self, conversation_id: &str) -> Vec<Arc<Event>> {
        self.resolve(self.by_conversation.get(conversation_id))
    }

    pub(crate) fn by_request(&self, assistant_request_id: &str) -> Vec<Arc<Event>> {
        self.resolve(self.by_request.get(assistant_request_id))
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
            .flat_map(|positions| positions.iter().map(|&pos| Arc::clone(&self.log[pos])))
            .collect()
    }

    fn resolve(&self, positions: Option<&Vec<usize>>) -> Vec<Arc<Event>> {
        positions
            .map(|ps| ps.iter().map(|&pos| Arc::clone(&self.log[pos])).collect())
            .unwrap_or_default()
    }
}

fn push(index: &mut HashMap<Box<str>, Vec<usize>>, key: &str, pos: usize) {
    match index.get_mut(key) {
        Some(positions) => positions.push(pos),
        None => {
            index.insert(key.into(), vec![pos]);
        }
    }
}
