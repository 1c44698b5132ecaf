//! The input rules every backend applies before writing anything.
//!
//! They are the union of what any backend cannot store, so an event accepted by the memory
//! store is accepted by PostgreSQL too, and a test against one backend means the same for
//! the other. What is *data* (NUL and control characters inside `data`, unknown event
//! types, non-UTC offsets) is accepted.

use grafi_events::{ConsumeFromTopic, Dialect, Event, EventMeta, Kwargs, MessageList, Payload};
use serde_json::{Map, Value};

use crate::error::{InvalidReason, StoreError};

/// Deepest document accepted: serde_json (and so every grafi-rs reader) refuses 128 levels.
/// The document object is level 1, `event_context` level 2, `invoke_context` level 3.
pub const MAX_DEPTH: usize = 127;

/// Longest `event_id`, `conversation_id`, `assistant_request_id` and topic name accepted, in
/// bytes. PostgreSQL indexes them, and a B-tree entry holds at most 2,704 bytes with its
/// header (less for the topic index's three columns); 2,048 stays below that for any text,
/// compressible or not, and far above real ids.
pub const MAX_KEY_BYTES: usize = 2048;

/// Per-event limits; `#[non_exhaustive]`, so start from [`Limits::default`].
///
/// ```
/// let limits = grafi_store_core::Limits::default().with_max_event_bytes(1 << 20);
/// assert_eq!(limits.max_event_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest event accepted, counted as the bytes of its strings (≈ its encoded size).
    /// Default 64 MiB: far above real agent traffic, far below PostgreSQL's 1 GB value limit.
    pub max_event_bytes: usize,
}

impl Limits {
    /// These limits with another [`max_event_bytes`](Self::max_event_bytes).
    pub fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Checks one event; `index` is its position in the batch, for the error.
///
/// ```
/// use grafi_events::{ComponentInfo, Event, InvokeContext};
/// use grafi_store_core::{validate, Limits};
/// let ctx = InvokeContext::new("conv\u{0}", "req");
/// let event = Event::tool_invoke(ctx, ComponentInfo::new("t", "T"), &[]);
/// let err = validate::check(&event, 0, &Limits::default()).unwrap_err();
/// assert!(err.to_string().contains("NUL"));
/// ```
pub fn check(event: &Event, index: usize, limits: &Limits) -> Result<(), StoreError> {
    check_with(event, index, limits, &mut KwargsMemo::default())
}

/// Checks a batch, stopping at the first invalid event.
pub fn check_all(events: &[Event], limits: &Limits) -> Result<(), StoreError> {
    let mut memo = KwargsMemo::default();
    events
        .iter()
        .enumerate()
        .try_for_each(|(i, e)| check_with(e, i, limits, &mut memo))
}

fn check_with(
    event: &Event,
    index: usize,
    limits: &Limits,
    memo: &mut KwargsMemo,
) -> Result<(), StoreError> {
    check_reason(event, limits, memo).map_err(|reason| StoreError::InvalidEvent {
        event_id: event.event_id().to_owned(),
        index,
        reason,
    })
}

fn check_reason(
    event: &Event,
    limits: &Limits,
    memo: &mut KwargsMemo,
) -> Result<(), InvalidReason> {
    if event.event_id().is_empty() {
        return Err(InvalidReason::EmptyEventId);
    }
    for (field, text) in [
        ("event_id", event.event_id()),
        ("event_type", event.event_type()),
        ("assistant_request_id", event.assistant_request_id()),
    ] {
        if has_nul(text) {
            return Err(InvalidReason::NulCharacter { field });
        }
    }
    for (field, text) in [
        ("event_id", event.event_id()),
        ("conversation_id", event.conversation_id()),
        ("assistant_request_id", event.assistant_request_id()),
        (
            "topic_name",
            indexed_topic_name(event).as_deref().unwrap_or_default(),
        ),
    ] {
        if text.len() > MAX_KEY_BYTES {
            return Err(InvalidReason::KeyTooLong {
                field,
                bytes: text.len(),
                limit: MAX_KEY_BYTES,
            });
        }
    }
    if let Some(message) = event.shape_error() {
        return Err(InvalidReason::Malformed(message));
    }
    if !event.timestamp().python_can_read_back() {
        return Err(InvalidReason::TimestampOutOfRange(
            event.timestamp().as_str().to_owned(),
        ));
    }
    if let Event::Raw(raw) = event {
        if raw.is_json_text("event_context") {
            return Err(InvalidReason::UnstorableJson {
                field: "event_context",
            });
        }
    }
    let mut scan = Scan {
        memo: std::mem::take(memo),
        data_in_jsonb: event.dialect() == Some(Dialect::V0_0_36),
        ..Scan::default()
    };
    scan_event(event, &mut scan);
    *memo = std::mem::take(&mut scan.memo);
    if scan.context_nul {
        return Err(InvalidReason::NulCharacter {
            field: "event_context",
        });
    }
    if scan.data_nul {
        return Err(InvalidReason::NulCharacter { field: "data" });
    }
    if let Some(number) = scan.context_number_out_of_range {
        return Err(InvalidReason::NumberOutOfRange {
            field: "event_context",
            number,
        });
    }
    if scan.depth > MAX_DEPTH {
        return Err(InvalidReason::TooDeep {
            depth: scan.depth,
            limit: MAX_DEPTH,
        });
    }
    if scan.bytes > limits.max_event_bytes {
        return Err(InvalidReason::TooLarge {
            size: scan.bytes,
            limit: limits.max_event_bytes,
        });
    }
    Ok(())
}

/// Walks the typed event without encoding it: cheap enough for the in-memory store's
/// record path.
#[derive(Default)]
struct Scan {
    bytes: usize,
    context_nul: bool,
    /// Whether the dialect keeps `data` as `jsonb` (grafi 0.0.36), where a NUL outside a topic
    /// event's message text is refused; only then is `data` searched for one.
    data_in_jsonb: bool,
    /// Whether `data` holds such a NUL (searched only when `data_in_jsonb`).
    data_nul: bool,
    /// The first number in `event_context` that `jsonb` cannot hold (shortened).
    context_number_out_of_range: Option<String>,
    /// Deepest nesting seen, in levels of the whole document.
    depth: usize,
    memo: KwargsMemo,
}

/// The kwargs walked last, and what the walk found. The events of one invoke share their
/// kwargs ([`Kwargs`]), node events again in every event they consumed, so a batch walks
/// each shared map once instead of once per event.
#[derive(Default)]
struct KwargsMemo {
    /// Holding a clone keeps the map alive, so its address cannot be reused in the batch.
    last: Option<(Kwargs, KwargsScan)>,
}

#[derive(Clone, Copy)]
struct KwargsScan {
    bytes: usize,
    nul: bool,
    number_out_of_range: bool,
    deepest: usize,
}

impl KwargsMemo {
    fn scan(&mut self, kwargs: &Kwargs) -> KwargsScan {
        if let Some((seen, found)) = &self.last {
            if Kwargs::ptr_eq(seen, kwargs) {
                return *found;
            }
        }
        let mut fresh = Scan::default();
        let deepest = fresh.context_map(kwargs);
        let found = KwargsScan {
            bytes: fresh.bytes,
            nul: fresh.context_nul,
            number_out_of_range: fresh.context_number_out_of_range.is_some(),
            deepest,
        };
        self.last = Some((kwargs.clone(), found));
        found
    }
}

/// Whether `s` holds a NUL, which PostgreSQL's text and json columns refuse. Runs on every
/// id and context string recorded, most of them ids of about 32 bytes: there a loop with no
/// early exit (which the compiler vectorises) takes half the time of `str::contains`, and on
/// long strings `memchr`'s SIMD search a quarter (measured in a scratch test).
fn has_nul(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() <= 64 {
        bytes.iter().fold(false, |found, &b| found | (b == 0))
    } else {
        memchr::memchr(0, bytes).is_some()
    }
}

/// The topic name PostgreSQL's topic index holds for this event (`event_context ->>
/// 'topic_name'` of `PublishToTopic` and `TopicEvent` rows, `'name'` in grafi 0.0.36), if any.
fn indexed_topic_name(event: &Event) -> Option<std::borrow::Cow<'_, str>> {
    match event {
        Event::PublishToTopic(e) => Some(e.topic_name.as_str().into()),
        Event::TopicEvent(e) => Some(e.topic_name.as_str().into()),
        Event::Raw(r) if matches!(r.event_type.as_str(), "PublishToTopic" | "TopicEvent") => {
            let context = r.document.get("event_context")?;
            let key = match grafi_events::Dialect::of_document(&r.document) {
                Some(grafi_events::Dialect::V0_0_36) => "name",
                _ => "topic_name",
            };
            match context.get(key)? {
                Value::String(s) => Some(s.as_str().into()),
                // `->>` renders any other JSON value as its text.
                other => Some(other.to_string().into()),
            }
        }
        _ => None,
    }
}

/// Whether a JSON value holds a NUL in a string or a key.
fn value_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => has_nul(s),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| has_nul(k) || value_has_nul(v)),
        _ => false,
    }
}

/// Whether JSON text holds a `\u0000` escape (one led by an odd number of backslashes: an
/// even number is an escaped backslash followed by the text `u0000`).
fn json_text_has_nul(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"\\u0000").any(|at| {
        let backslashes = bytes[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        backslashes % 2 == 1
    })
}

/// Whether a JSON number's text fits PostgreSQL's `numeric` (what `jsonb` keeps numbers as):
/// at most 16,383 digits after the decimal point and a leading digit below 10^131072.
///
/// ```
/// use grafi_store_core::validate::fits_numeric;
/// assert!(fits_numeric("1e131071") && fits_numeric("0e200000") && fits_numeric("1e-16383"));
/// assert!(!fits_numeric("1e131072") && !fits_numeric("1e-16384") && !fits_numeric("10e131071"));
/// assert!(!fits_numeric("0e1073741823"));
/// ```
pub fn fits_numeric(text: &str) -> bool {
    const MAX_SCALE: i64 = 16_383;
    const MAX_WEIGHT: i64 = 131_071;
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            // Beyond i64 is certainly out of range; the sign says which way.
            unsigned[at + 1..].parse::<i64>().unwrap_or_else(|_| {
                if unsigned[at + 1..].starts_with('-') {
                    i64::MIN / 2
                } else {
                    i64::MAX / 2
                }
            }),
        ),
        None => (unsigned, 0),
    };
    // PostgreSQL refuses an exponent this large before it looks at the digits (zero too).
    const MAX_EXPONENT: i64 = i32::MAX as i64 / 2;
    if exponent.abs() >= MAX_EXPONENT {
        return false;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX / 2);
    if frac_len.saturating_sub(exponent) > MAX_SCALE {
        return false;
    }
    let int = int.trim_start_matches('0');
    let weight = if !int.is_empty() {
        i64::try_from(int.len()).unwrap_or(i64::MAX / 2) - 1
    } else {
        match frac.find(|c| c != '0') {
            Some(zeros) => -(zeros as i64) - 1,
            None => return true, // zero
        }
    };
    weight.saturating_add(exponent) <= MAX_WEIGHT
}

fn shorten(text: &str) -> String {
    if text.len() <= 40 {
        text.to_owned()
    } else {
        format!("{}…({} characters)", &text[..20], text.len())
    }
}

/// Levels of nesting of a value: 0 for a scalar, 1 for a flat array or object.
fn value_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Scan {
    /// Records a value found inside the container at level `level`.
    fn nested(&mut self, level: usize, v: &Value) {
        self.depth = self.depth.max(level + value_depth(v));
    }

    fn context_str(&mut self, s: &str) {
        self.bytes += s.len();
        self.context_nul |= has_nul(s);
    }

    /// Counts a context value's bytes and NULs and returns its depth (as [`value_depth`]):
    /// one walk of the tree for both, as this runs on every recorded event.
    fn context_value(&mut self, v: &Value) -> usize {
        match v {
            Value::String(s) => {
                self.context_str(s);
                0
            }
            Value::Array(items) => {
                1 + items
                    .iter()
                    .map(|i| self.context_value(i))
                    .max()
                    .unwrap_or(0)
            }
            Value::Object(map) => 1 + self.context_map(map),
            Value::Number(n) => {
                self.bytes += n.as_str().len();
                if self.context_number_out_of_range.is_none() && !fits_numeric(n.as_str()) {
                    self.context_number_out_of_range = Some(shorten(n.as_str()));
                }
                0
            }
            _ => {
                self.bytes += 4;
                0
            }
        }
    }

    /// As [`Self::context_value`] for each key and value; returns the deepest value's depth.
    fn context_map(&mut self, map: &Map<String, Value>) -> usize {
        let mut deepest = 0;
        for (k, v) in map {
            self.context_str(k);
            deepest = deepest.max(self.context_value(v));
        }
        deepest
    }

    fn data_value(&mut self, v: &Value) {
        self.bytes += match v {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        if self.data_in_jsonb {
            self.data_nul |= value_has_nul(v);
        }
    }

    /// A message list kept as text inside a JSON string (topic events; grafi 0.0.24): its NULs
    /// are `\u0000` escapes in the text, which every column holds.
    fn messages(&mut self, m: &MessageList) {
        self.bytes += m.as_str().len();
    }

    /// A message list written as JSON itself (grafi 0.0.36 component events): its NULs
    /// become NULs in the document.
    fn message_json(&mut self, m: &MessageList) {
        self.messages(m);
        if self.data_in_jsonb {
            self.data_nul |= json_text_has_nul(m.as_str());
        }
    }
}

/// `level` is the level of the document object the envelope belongs to (1 at the top).
fn scan_meta(meta: &EventMeta, level: usize, scan: &mut Scan) {
    // document = level, event_context = level + 1, invoke_context = level + 2, kwargs =
    // level + 3; a value found in a map at level L reaches L + its own depth.
    scan.depth = scan.depth.max(level + 2);
    let ctx = &meta.invoke_context;
    if let Some(kwargs) = &ctx.kwargs {
        let found = scan.memo.scan(kwargs);
        scan.bytes += found.bytes;
        scan.context_nul |= found.nul;
        if found.number_out_of_range && scan.context_number_out_of_range.is_none() {
            // Found again (cheaply: kwargs are small) to name the number.
            let mut again = Scan::default();
            again.context_map(kwargs);
            scan.context_number_out_of_range = again.context_number_out_of_range;
        }
        scan.depth = scan.depth.max(level + 3 + found.deepest);
    }
    let deepest = scan.context_map(&ctx.extra);
    scan.depth = scan.depth.max(level + 2 + deepest);
    let deepest = scan.context_map(&meta.unknown.context);
    scan.depth = scan.depth.max(level + 1 + deepest);
    for v in meta.unknown.top.values() {
        scan.nested(level, v);
    }
    for v in meta.unknown.data.values() {
        scan.nested(level + 1, v);
    }
    for s in [
        &ctx.conversation_id,
        &ctx.invoke_id,
        &ctx.assistant_request_id,
    ] {
        scan.context_str(s);
    }
    if let Some(user) = &ctx.user_id {
        scan.context_str(user);
    }
    for v in meta.unknown.top.values().chain(meta.unknown.data.values()) {
        scan.data_value(v);
    }
    scan.bytes += meta.event_id.len() + meta.timestamp.as_str().len() + 128;
}

fn scan_consumed(consumed: &[ConsumeFromTopic], scan: &mut Scan) {
    for c in consumed {
        // An embedded consume event is a document at level 4: top, data, the array, itself.
        scan_embedded(&c.meta, 4, scan);
        scan.bytes += c.consumer_name.len() + c.topic_name.len();
        scan.data_nul |= scan.data_in_jsonb
            && [&c.consumer_name, &c.consumer_type, &c.topic_name]
                .iter()
                .any(|s| has_nul(s));
        scan.messages(&c.data);
    }
}

/// An embedded topic event (it lives in `data`, which may hold NUL: count, don't refuse).
fn scan_embedded(meta: &EventMeta, level: usize, scan: &mut Scan) {
    let mut inner = Scan {
        memo: std::mem::take(&mut scan.memo),
        data_in_jsonb: scan.data_in_jsonb,
        ..Scan::default()
    };
    scan_meta(meta, level, &mut inner);
    scan.memo = std::mem::take(&mut inner.memo);
    scan.bytes += inner.bytes;
    scan.depth = scan.depth.max(inner.depth);
    scan.data_nul |= (scan.data_in_jsonb && inner.context_nul) || inner.data_nul;
}

/// A `data` slot of a component event, whatever its shape.
fn scan_payload(payload: &Payload, scan: &mut Scan) {
    match payload {
        // Only grafi 0.0.36 writes a component's messages as JSON; its NULs count only there.
        Payload::Messages(list) => scan.message_json(list),
        Payload::Consumed(events) => scan_consumed(events, scan),
        Payload::Published(e) => {
            // One document at level 3: top, data, itself.
            scan_embedded(&e.meta, 3, scan);
            scan.bytes += e.publisher_name.len() + e.topic_name.len();
            scan.data_nul |= scan.data_in_jsonb
                && e.consumed_event_ids
                    .iter()
                    .chain([&e.publisher_name, &e.publisher_type, &e.topic_name])
                    .any(|s| has_nul(s));
            scan.messages(&e.data);
        }
        // A shape newer than this validation: its size, as the document writes it.
        _ => scan.bytes += 64,
    }
}

fn scan_failure(error: &Value, details: Option<&Value>, scan: &mut Scan) {
    scan.data_value(error);
    scan.nested(2, error);
    if let Some(details) = details {
        scan.data_value(details);
        scan.nested(2, details);
    }
}

fn scan_event(event: &Event, scan: &mut Scan) {
    if let Some(meta) = event.meta() {
        scan_meta(meta, 1, scan);
    }
    match event {
        Event::AssistantInvoke(e) | Event::WorkflowInvoke(e) | Event::ToolInvoke(e) => {
            component(&e.component, scan);
            scan_payload(&e.input_data, scan);
        }
        Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
            component(&e.component, scan);
            scan_payload(&e.input_data, scan);
            scan_payload(&e.output_data, scan);
        }
        Event::AssistantFailed(e) | Event::WorkflowFailed(e) | Event::ToolFailed(e) => {
            component(&e.component, scan);
            scan_payload(&e.input_data, scan);
            scan_failure(&e.error, e.error_details.as_ref(), scan);
        }
        Event::NodeInvoke(e) => {
            node(&e.component, scan);
            scan_payload(&e.input_data, scan);
        }
        Event::NodeRespond(e) => {
            node(&e.component, scan);
            scan_payload(&e.input_data, scan);
            scan_payload(&e.output_data, scan);
        }
        Event::NodeFailed(e) => {
            node(&e.component, scan);
            scan_payload(&e.input_data, scan);
            scan_failure(&e.error, e.error_details.as_ref(), scan);
        }
        Event::TopicEvent(e) => {
            scan.context_str(&e.topic_name);
            scan.messages(&e.data);
        }
        Event::PublishToTopic(e) | Event::OutputTopic(e) => {
            for s in e.consumed_event_ids.iter().chain([
                &e.publisher_name,
                &e.publisher_type,
                &e.topic_name,
            ]) {
                scan.context_str(s);
            }
            scan.messages(&e.data);
        }
        Event::ConsumeFromTopic(e) => {
            for s in [&e.consumer_name, &e.consumer_type, &e.topic_name] {
                scan.context_str(s);
            }
            scan.messages(&e.data);
        }
        Event::Custom(c) => {
            let deepest = scan.context_map(c.context_fields());
            scan.depth = scan.depth.max(2 + deepest);
            scan.data_value(c.data());
            scan.nested(1, c.data());
        }
        Event::Raw(r) => scan_document(&r.document, r.event_id.len(), scan),
        // A variant newer than this validation: its document, walked as a raw one's.
        other => {
            if let Value::Object(document) = other.to_value() {
                scan_document(&document, other.event_id().len(), scan);
            }
        }
    }
}

/// A whole document: every top-level member's depth and size, `event_context` as a context.
fn scan_document(document: &Map<String, Value>, event_id_len: usize, scan: &mut Scan) {
    scan.bytes += event_id_len + 64;
    for v in document.values() {
        scan.nested(1, v);
    }
    if let Some(ctx) = document.get("event_context") {
        // Its depth was counted with the other top-level values above.
        let _ = scan.context_value(ctx);
    }
    for (k, v) in document {
        if k != "event_context" {
            scan.data_value(v);
        }
    }
}

fn component(c: &grafi_events::ComponentInfo, scan: &mut Scan) {
    for s in [&c.id, &c.name, &c.type_name] {
        scan.context_str(s);
    }
}

fn node(n: &grafi_events::NodeInfo, scan: &mut Scan) {
    for s in [&n.id, &n.name, &n.type_name] {
        scan.context_str(s);
    }
    for s in n.subscribed_topics.iter().chain(&n.publish_to_topics) {
        scan.context_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafi_events::{ComponentInfo, InvokeContext};
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!([inner]))
    }

    /// A NUL in `data` is data where the dialect keeps `data` as text (0.0.24), and refused by
    /// name where it is `jsonb` (0.0.36), except in a topic event's message text, which holds
    /// it escaped in both.
    #[test]
    fn a_nul_in_data_is_refused_only_in_grafi_0_0_36() {
        use grafi_events::{ConsumeFromTopic, Message, NodeInfo};
        let ctx = || InvokeContext::new("c", "r");
        let consumed = ConsumeFromTopic::new(ctx(), ("node\u{0}", "LLMNode"), ("t", 0), &[]);
        let in_name = Event::node_invoke(ctx(), NodeInfo::new("n", "LLMNode"), vec![consumed]);
        let nul = [Message::user("a\u{0}b")];
        let in_message = Event::tool_invoke(ctx(), ComponentInfo::new("t", "T"), &nul);
        let in_topic = Event::publish_to_topic(ctx(), ("n", "LLMNode"), ("t", 0), vec![], &nul);
        let in_error = Event::tool_failed(ctx(), ComponentInfo::new("t", "T"), &[], "x\u{0}");
        let limits = Limits::default();
        for event in [&in_name, &in_message, &in_topic, &in_error] {
            assert!(
                check(event, 0, &limits).is_ok(),
                "0.0.24 {}",
                event.event_type()
            );
            let event = event.clone().into_grafi_0_0_36();
            let verdict = check(&event, 0, &limits);
            if event.is_topic_record() {
                assert!(verdict.is_ok(), "{verdict:?}");
            } else {
                assert!(
                    matches!(
                        verdict,
                        Err(StoreError::InvalidEvent {
                            reason: InvalidReason::NulCharacter { field: "data" },
                            ..
                        })
                    ),
                    "0.0.36 {}: {verdict:?}",
                    event.event_type()
                );
            }
        }
    }

    /// Both search paths (up to 64 bytes, and longer) find a NUL wherever it sits, and only
    /// a NUL: every other byte value, including multi-byte UTF-8, passes.
    #[test]
    fn a_nul_is_found_at_every_position_on_both_sides_of_the_short_path() {
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 100, 300] {
            let clean = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert!(!has_nul(&clean), "false NUL at length {len}");
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = 0;
                let text = String::from_utf8(bytes).unwrap();
                assert!(has_nul(&text), "NUL at {at} of {len} missed");
            }
        }
        let every_other_byte: String = (1..=127u8).map(char::from).collect::<String>() + "é🦀";
        assert!(!has_nul(&every_other_byte));
        assert!(!has_nul(&every_other_byte[..60]));
    }

    /// A batch walks shared kwargs once; a copy written after sharing is walked again, so a
    /// NUL put into the copy is still found, at the event that carries it.
    #[test]
    fn shared_kwargs_are_walked_once_and_a_written_copy_again() {
        let clean = InvokeContext::new("c", "r").with_kwarg("k", json!("v"));
        let mut dirty = clean.clone();
        dirty
            .kwargs
            .as_mut()
            .unwrap()
            .insert("k".into(), json!("v\u{0}"));
        let event = |ctx: &InvokeContext| {
            Event::tool_invoke(ctx.clone(), ComponentInfo::new("t", "T"), &[])
        };
        let batch = [event(&clean), event(&clean), event(&dirty), event(&clean)];
        let shared = |i: usize| batch[i].invoke_context().unwrap().kwargs.clone().unwrap();
        assert!(Kwargs::ptr_eq(&shared(0), &shared(1)));
        assert!(!Kwargs::ptr_eq(&shared(1), &shared(2)));
        match check_all(&batch, &Limits::default()) {
            Err(StoreError::InvalidEvent {
                index: 2,
                reason:
                    InvalidReason::NulCharacter {
                        field: "event_context",
                    },
                ..
            }) => {}
            other => panic!("expected the NUL at index 2, got {other:?}"),
        }
        assert!(check_all(&[event(&clean), event(&clean)], &Limits::default()).is_ok());
    }

    fn with_kwarg(levels: usize) -> Event {
        let ctx = InvokeContext::new("c", "r").with_kwarg("deep", nested(levels));
        Event::tool_invoke(ctx, ComponentInfo::new("t", "T"), &[])
    }

    #[test]
    fn the_deepest_accepted_document_is_one_serde_json_reads_back() {
        // top, event_context, invoke_context, kwargs + 123 arrays = 127 levels.
        let deepest = with_kwarg(123);
        check(&deepest, 0, &Limits::default()).unwrap();
        let back = grafi_events::decode_str(&deepest.to_json()).expect("127 levels parse");
        assert_eq!(back, deepest);

        let too_deep = with_kwarg(124);
        assert!(
            grafi_events::decode_str(&too_deep.to_json()).is_err(),
            "128 levels do not parse"
        );
        match check(&too_deep, 0, &Limits::default()) {
            Err(StoreError::InvalidEvent {
                reason:
                    InvalidReason::TooDeep {
                        depth: 128,
                        limit: 127,
                    },
                ..
            }) => {}
            other => panic!("expected TooDeep, got {other:?}"),
        }
    }

    /// Every place a context value can sit, at exactly the limit and one level past it:
    /// the check agrees with what serde_json can read back.
    #[test]
    fn context_values_count_their_depth_wherever_they_sit() {
        type Place = fn(&mut Event, Value);
        let places: [(&str, usize, Place); 3] = [
            // document, event_context, invoke_context, kwargs: the value starts at level 5.
            ("kwargs", 123, |e, v| {
                let ctx = &mut e.meta_mut().unwrap().invoke_context;
                ctx.kwargs
                    .get_or_insert_with(Default::default)
                    .insert("deep".into(), v);
            }),
            // an unknown invoke_context key: level 4.
            ("invoke_context extra", 124, |e, v| {
                let ctx = &mut e.meta_mut().unwrap().invoke_context;
                ctx.extra.insert("deep".into(), v);
            }),
            // an unknown event_context key: level 3.
            ("event_context unknown", 125, |e, v| {
                let unknown = &mut e.meta_mut().unwrap().unknown;
                unknown.context.insert("deep".into(), v);
            }),
        ];
        for (place, deepest, put) in places {
            let event_with = |levels: usize| {
                let ctx = InvokeContext::new("c", "r").with_kwarg("flat", json!(1));
                let mut event = Event::tool_invoke(ctx, ComponentInfo::new("t", "T"), &[]);
                put(&mut event, nested(levels));
                event
            };
            let at_limit = event_with(deepest);
            check(&at_limit, 0, &Limits::default()).unwrap_or_else(|e| panic!("{place}: {e}"));
            assert!(
                grafi_events::decode_str(&at_limit.to_json()).is_ok(),
                "{place}"
            );
            let past = event_with(deepest + 1);
            assert!(
                grafi_events::decode_str(&past.to_json()).is_err(),
                "{place}"
            );
            match check(&past, 0, &Limits::default()) {
                Err(StoreError::InvalidEvent {
                    reason: InvalidReason::TooDeep { depth: 128, .. },
                    ..
                }) => {}
                other => panic!("{place}: expected TooDeep at 128, got {other:?}"),
            }
        }
    }

    #[test]
    fn errors_and_embedded_consume_events_count_their_depth() {
        let ctx = InvokeContext::new("c", "r");
        let failed = Event::tool_failed(ctx.clone(), ComponentInfo::new("t", "T"), &[], "x");
        let mut failed = failed;
        if let Event::ToolFailed(f) = &mut failed {
            f.error = nested(126); // data (2) + 126 = 128
        }
        assert!(matches!(
            check(&failed, 0, &Limits::default()),
            Err(StoreError::InvalidEvent {
                reason: InvalidReason::TooDeep { .. },
                ..
            })
        ));
        let consumed = grafi_events::ConsumeFromTopic::new(
            ctx.clone().with_kwarg("deep", nested(120)), // 4 + 3 + 120 = 127
            ("n", "N"),
            ("t", 0),
            &[],
        );
        let node = Event::node_invoke(ctx, grafi_events::NodeInfo::new("n", "N"), vec![consumed]);
        check(&node, 0, &Limits::default()).unwrap();
        assert!(grafi_events::decode_str(&node.to_json()).is_ok());
    }
}
