//! Positions in a store, and the cursors that resume after them.
//!
//! Every stored event has a position; positions order events the way streams and
//! subscriptions deliver them, and a [`Cursor`] is the text a consumer keeps to resume after
//! the last event it handled. What a position is belongs to the backend (an insertion counter
//! in memory; a transaction id and row id on PostgreSQL): a cursor only makes sense to the
//! store that gave it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use grafi_events::Event;

/// Where a stream or a subscription resumes: before every event ([`Cursor::start`]), or just
/// after the event that carried it ([`Positioned::cursor`]).
///
/// Cursors order like the positions they stand for, and print as text that parses back, so
/// a consumer can store its checkpoint anywhere:
///
/// ```
/// use grafi_store_core::Cursor;
/// let c = Cursor::at(7, 42);
/// let text = c.to_string();
/// assert_eq!(text.parse::<Cursor>().unwrap(), c);
/// assert!(Cursor::start() < c);
/// assert_eq!("start".parse::<Cursor>().unwrap(), Cursor::start());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cursor(Option<(u64, u64)>);

impl Cursor {
    /// Before every event.
    pub const fn start() -> Self {
        Cursor(None)
    }

    /// Just after the event at position `(major, minor)` (positions order by `major`, then
    /// `minor`). For backends: what the numbers mean is theirs.
    pub const fn at(major: u64, minor: u64) -> Self {
        Cursor(Some((major, minor)))
    }

    /// The position this cursor resumes after; `None` for [`Cursor::start`]. For backends.
    pub const fn position(&self) -> Option<(u64, u64)> {
        self.0
    }

    /// Whether this is [`Cursor::start`].
    pub const fn is_start(&self) -> bool {
        self.0.is_none()
    }
}

/// Text form: `start`, or `g1.<major>.<minor>` (decimal; `g1` versions the format).
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("start"),
            Some((major, minor)) => write!(f, "g1.{major}.{minor}"),
        }
    }
}

/// Text that is not a cursor this library printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a cursor: {text:?} (expected `start` or `g1.<number>.<number>`, as a store printed it)"
)]
pub struct CursorParseError {
    /// The text, cut to 64 characters.
    pub text: String,
}

impl FromStr for Cursor {
    type Err = CursorParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || CursorParseError {
            text: text.chars().take(64).collect(),
        };
        if text == "start" {
            return Ok(Cursor::start());
        }
        let mut parts = text.strip_prefix("g1.").ok_or_else(error)?.split('.');
        let mut number = || {
            parts
                .next()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(error)
        };
        let (major, minor) = (number()?, number()?);
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Cursor::at(major, minor))
    }
}

/// An event with the cursor that resumes just after it: what a consumer checkpoints once it
/// has handled the event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Positioned {
    /// Resumes after this event.
    pub cursor: Cursor,
    /// The event.
    pub event: Arc<Event>,
}

impl Positioned {
    /// `event`, at the position `cursor` stands for.
    pub fn new(cursor: Cursor, event: Arc<Event>) -> Self {
        Self { cursor, event }
    }
}

/// One page of [`EventStore::read_positions`](crate::EventStore::read_positions).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PositionPage {
    /// The matching events after the requested cursor, in position order.
    pub events: Vec<Positioned>,
    /// Where the next page starts: at or after the last event's cursor (rows the filter
    /// skipped are not read again).
    pub end: Cursor,
    /// Whether more events are already final after `end` (read again at once); `false`:
    /// caught up, wait for new events.
    pub more: bool,
    /// Whether events are stored after `end` that are not final yet (an older write is still
    /// open): they may become final without any new write, so a subscription reads again
    /// soon rather than waiting for a notification or its polling interval.
    pub pending: bool,
}

impl PositionPage {
    /// A page of `events`, continued after `end`, with `more` final events waiting or not
    /// (and none pending).
    pub fn new(events: Vec<Positioned>, end: Cursor, more: bool) -> Self {
        Self {
            events,
            end,
            more,
            pending: false,
        }
    }

    /// The same page, saying whether events are stored after it that are not final yet.
    pub fn with_pending(mut self, pending: bool) -> Self {
        self.pending = pending;
        self
    }
}

/// Which events a subscription delivers: all of them by default; every condition set must
/// hold.
///
/// ```
/// use grafi_store_core::Filter;
/// let f = Filter::all().conversation("conv-1").event_type("ToolFailed");
/// assert_eq!(f.conversation_id.as_deref(), Some("conv-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Only this conversation (`invoke_context.conversation_id`).
    pub conversation_id: Option<String>,
    /// Only this assistant request (top-level `assistant_request_id`).
    pub assistant_request_id: Option<String>,
    /// Only these event types (wire names, e.g. `ToolFailed`); empty: every type.
    pub event_types: Vec<String>,
    /// Only events about this topic: `PublishToTopic`, `ConsumeFromTopic`, `OutputTopic` and
    /// `TopicEvent` records naming it.
    pub topic: Option<String>,
}

impl Filter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only events of this conversation.
    pub fn conversation(mut self, conversation_id: impl Into<String>) -> Self {
        self.conversation_id = Some(conversation_id.into());
        self
    }

    /// Only events of this assistant request.
    pub fn request(mut self, assistant_request_id: impl Into<String>) -> Self {
        self.assistant_request_id = Some(assistant_request_id.into());
        self
    }

    /// Also events of this type (the first call narrows from every type to this one).
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// Only events about this topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Whether nothing is filtered out.
    pub fn is_all(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `event` passes: the definition every backend's filtering must agree with.
    ///
    /// ```
    /// use grafi_store_core::Filter;
    /// use grafi_events::{ComponentInfo, Event, InvokeContext, Message};
    /// let e = Event::tool_invoke(InvokeContext::new("c", "r"), ComponentInfo::new("t", "T"), &[Message::user("hi")]);
    /// assert!(Filter::all().conversation("c").matches(&e));
    /// assert!(!Filter::all().event_type("ToolFailed").matches(&e));
    /// ```
    pub fn matches(&self, event: &Event) -> bool {
        self.conversation_id
            .as_deref()
            .is_none_or(|c| event.conversation_id() == c)
            && self
                .assistant_request_id
                .as_deref()
                .is_none_or(|r| event.assistant_request_id() == r)
            && (self.event_types.is_empty()
                || self.event_types.iter().any(|t| t == event.event_type()))
            && self
                .topic
                .as_deref()
                .is_none_or(|t| event.topic().is_some_and(|(name, _)| name == t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_refuses_what_it_did_not_print() {
        for c in [
            Cursor::start(),
            Cursor::at(0, 0),
            Cursor::at(u64::MAX, u64::MAX),
            Cursor::at(3, 1 << 63),
        ] {
            assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        }
        for bad in [
            "",
            "g1",
            "g1.",
            "g1.1",
            "g1.1.",
            "g1.1.2.3",
            "g1.-1.2",
            "g1.+1.2",
            "g2.1.2",
            "g1.18446744073709551616.0",
            " start",
            "START",
            "g1.1.2 ",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn cursors_order_like_positions() {
        let mut cursors = vec![
            Cursor::at(2, 0),
            Cursor::at(1, u64::MAX),
            Cursor::start(),
            Cursor::at(1, 5),
        ];
        cursors.sort();
        assert_eq!(
            cursors,
            vec![
                Cursor::start(),
                Cursor::at(1, 5),
                Cursor::at(1, u64::MAX),
                Cursor::at(2, 0)
            ]
        );
    }
}
