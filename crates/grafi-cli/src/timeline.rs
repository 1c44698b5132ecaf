//! Reading events back as people read agent runs: a timeline, and per-request stats.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use grafi_events::{Content, Event, Message, MessageList, Payload};
use serde_json::Value;

use crate::input::shorten;

/// The component family of an invoke/respond/failed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Assistant,
    Workflow,
    Node,
    /// A tool that calls a language model (grafi's `OpenAITool`, `OllamaTool`, …).
    Llm,
    /// Any other tool (function calls, search, …).
    Tool,
}

/// Whether a tool type is one of grafi's LLM tools.
fn is_llm_tool(type_name: &str) -> bool {
    [
        "OpenAI",
        "Ollama",
        "Claude",
        "Anthropic",
        "Gemini",
        "Deepseek",
        "OpenRouter",
        "LLM",
    ]
    .iter()
    .any(|k| type_name.contains(k))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Invoke,
    Respond,
    Failed,
}

/// (family, phase, component id, component name) of a component event.
fn component(event: &Event) -> Option<(Family, Phase, &str, &str)> {
    use Event::*;
    Some(match event {
        AssistantInvoke(e) => (
            Family::Assistant,
            Phase::Invoke,
            &*e.component.id,
            &*e.component.name,
        ),
        AssistantRespond(e) => (
            Family::Assistant,
            Phase::Respond,
            &*e.component.id,
            &*e.component.name,
        ),
        AssistantFailed(e) => (
            Family::Assistant,
            Phase::Failed,
            &*e.component.id,
            &*e.component.name,
        ),
        WorkflowInvoke(e) => (
            Family::Workflow,
            Phase::Invoke,
            &*e.component.id,
            &*e.component.name,
        ),
        WorkflowRespond(e) => (
            Family::Workflow,
            Phase::Respond,
            &*e.component.id,
            &*e.component.name,
        ),
        WorkflowFailed(e) => (
            Family::Workflow,
            Phase::Failed,
            &*e.component.id,
            &*e.component.name,
        ),
        NodeInvoke(e) => (
            Family::Node,
            Phase::Invoke,
            &*e.component.id,
            &*e.component.name,
        ),
        NodeRespond(e) => (
            Family::Node,
            Phase::Respond,
            &*e.component.id,
            &*e.component.name,
        ),
        NodeFailed(e) => (
            Family::Node,
            Phase::Failed,
            &*e.component.id,
            &*e.component.name,
        ),
        ToolInvoke(e) => (
            tool_family(&e.component.type_name),
            Phase::Invoke,
            &*e.component.id,
            &*e.component.name,
        ),
        ToolRespond(e) => (
            tool_family(&e.component.type_name),
            Phase::Respond,
            &*e.component.id,
            &*e.component.name,
        ),
        ToolFailed(e) => (
            tool_family(&e.component.type_name),
            Phase::Failed,
            &*e.component.id,
            &*e.component.name,
        ),
        _ => return None,
    })
}

fn tool_family(type_name: &str) -> Family {
    if is_llm_tool(type_name) {
        Family::Llm
    } else {
        Family::Tool
    }
}

/// Latencies of one family: count, mean, max.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub count: usize,
    pub total_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn add(&mut self, ms: f64) {
        self.count += 1;
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ms / self.count as f64
        }
    }
}

/// What one request did.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    pub events: usize,
    pub invokes: usize,
    pub responds: usize,
    pub failures: usize,
    /// Invoke → respond/failed latency by family.
    pub latency: HashMap<Family, Latency>,
    /// `Some(true)`: the assistant responded; `Some(false)`: it failed; `None`: neither.
    pub succeeded: Option<bool>,
    /// The first failure's error text.
    pub error: Option<String>,
}

impl RequestStats {
    /// Responds / (responds + failures), in percent.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.responds + self.failures;
        (done > 0).then(|| 100.0 * self.responds as f64 / done as f64)
    }

    pub fn end_to_end_ms(&self) -> Option<f64> {
        self.latency
            .get(&Family::Assistant)
            .filter(|l| l.count > 0)
            .map(|l| l.max_ms)
    }
}

/// Stats of one request's events (recording order), pairing each invoke with the next
/// respond or failure of the same component.
pub fn request_stats(events: &[Arc<Event>]) -> RequestStats {
    let mut stats = RequestStats {
        events: events.len(),
        ..RequestStats::default()
    };
    let mut open: HashMap<(Family, &str), VecDeque<DateTime<Utc>>> = HashMap::new();
    for event in events {
        let Some((family, phase, id, _)) = component(event) else {
            continue;
        };
        match phase {
            Phase::Invoke => {
                stats.invokes += 1;
                open.entry((family, id)).or_default().push_back(event.utc());
            }
            Phase::Respond | Phase::Failed => {
                if phase == Phase::Respond {
                    stats.responds += 1;
                } else {
                    stats.failures += 1;
                    if stats.error.is_none() {
                        stats.error = event.error().map(error_text);
                    }
                }
                if family == Family::Assistant {
                    stats.succeeded =
                        Some(phase == Phase::Respond && stats.succeeded != Some(false));
                }
                if let Some(started) = open.get_mut(&(family, id)).and_then(VecDeque::pop_front) {
                    let ms =
                        (event.utc() - started).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                    stats.latency.entry(family).or_default().add(ms);
                }
            }
        }
    }
    stats
}

fn error_text(error: &Value) -> String {
    match error {
        Value::String(s) => s.lines().next().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// Seconds, readable: `850 ms`, `1.24 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// One line of the stats of a request.
pub fn stats_line(stats: &RequestStats) -> String {
    let mut line = format!(
        "{} invokes, {} responds, {} failures",
        stats.invokes, stats.responds, stats.failures
    );
    if let Some(rate) = stats.success_rate() {
        let _ = write!(line, " · success rate {rate:.0}%");
    }
    let mut parts = Vec::new();
    for (family, label) in [
        (Family::Assistant, "assistant"),
        (Family::Llm, "LLM calls"),
        (Family::Tool, "tool calls"),
    ] {
        if let Some(l) = stats.latency.get(&family).filter(|l| l.count > 0) {
            if family == Family::Assistant {
                parts.push(format!("{label} {}", duration(l.max_ms)));
            } else {
                parts.push(format!(
                    "{label} {}× avg {} (max {})",
                    l.count,
                    duration(l.mean_ms()),
                    duration(l.max_ms)
                ));
            }
        }
    }
    if !parts.is_empty() {
        let _ = write!(line, " · invoke→respond: {}", parts.join(", "));
    }
    line
}

/// One timeline line: time since `start`, type, who, and what.
pub fn timeline_line(event: &Event, start: DateTime<Utc>) -> String {
    let offset_ms = (event.utc() - start).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    columns(format!("{:>+9.3}s", offset_ms / 1000.0), event)
}

/// One line of `tail`, whose events come from any number of runs: the instant (UTC, to the
/// millisecond), the request (its id's first 8 characters, enough to tell runs apart on
/// screen; `--json` has the whole id), then type, who and what as in the timeline.
pub fn tail_line(event: &Event) -> String {
    let when = event.utc().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    columns(
        format!("{when}  {:<9}", shorten(event.assistant_request_id(), 8)),
        event,
    )
}

/// `prefix`, then the event's type, who and what, in the timeline's columns.
fn columns(prefix: String, event: &Event) -> String {
    let (who, what) = describe(event);
    let mut line = format!(
        "{prefix}  {:<17} {:<26}",
        event.event_type(),
        shorten(&who, 26)
    );
    if !what.is_empty() {
        line.push(' ');
        line.push_str(&what);
    }
    line.trim_end().to_owned()
}

fn describe(event: &Event) -> (String, String) {
    if let Some((_, phase, _, name)) = component(event) {
        let what = match phase {
            Phase::Invoke => match event {
                Event::AssistantInvoke(e) => payload_messages(&e.input_data)
                    .map(|m| last_message(m, "←"))
                    .unwrap_or_default(),
                _ => String::new(),
            },
            Phase::Respond => output_payload(event)
                .and_then(payload_messages)
                .map(|m| last_message(m, "→"))
                .unwrap_or_default(),
            Phase::Failed => format!(
                "✗ {}",
                shorten(&event.error().map(error_text).unwrap_or_default(), 70)
            ),
        };
        return (name.to_owned(), what);
    }
    match event {
        Event::PublishToTopic(e) | Event::OutputTopic(e) => (
            format!("{}#{}", e.topic_name, e.offset),
            format!("published by {}", e.publisher_name),
        ),
        Event::ConsumeFromTopic(e) => (
            format!("{}#{}", e.topic_name, e.offset),
            format!("consumed by {}", e.consumer_name),
        ),
        Event::TopicEvent(e) => (format!("{}#{}", e.topic_name, e.offset), String::new()),
        _ => (String::new(), String::new()),
    }
}

/// The last message of a list, as `← "text"`, `→ get_weather(…)` or `→ tool result`.
fn output_payload(event: &Event) -> Option<&Payload> {
    match event {
        Event::AssistantRespond(e) | Event::WorkflowRespond(e) | Event::ToolRespond(e) => {
            Some(&e.output_data)
        }
        Event::NodeRespond(e) => Some(&e.output_data),
        _ => None,
    }
}

/// The messages a payload carries; for consumed topic events (grafi 0.0.36's answers), the
/// last one's.
fn payload_messages(payload: &Payload) -> Option<&MessageList> {
    payload
        .messages()
        .or_else(|| payload.consumed()?.last().map(|c| &c.data))
}

fn last_message(list: &MessageList, arrow: &str) -> String {
    let Ok(messages) = list.decode() else {
        return String::new();
    };
    let Some(message) = messages.last() else {
        return String::new();
    };
    format!("{arrow} {}", message_summary(message))
}

fn message_summary(message: &Message) -> String {
    if let Some(Value::Array(calls)) = &message.tool_calls {
        let names: Vec<String> = calls
            .iter()
            .filter_map(|c| {
                let f = c.get("function")?;
                let name = f.get("name")?.as_str()?;
                let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
                Some(format!("{name}({})", shorten(args, 40)))
            })
            .collect();
        if !names.is_empty() {
            return format!("calls {}", names.join(", "));
        }
    }
    let text = match &message.content {
        Content::Text(t) => t.replace('\n', " "),
        Content::Null => String::from("(no content)"),
        _ => String::from("(structured content)"),
    };
    match message.role.as_str() {
        "tool" => format!("result {}", shorten(&text, 60)),
        _ => format!("{:?}", shorten(&text, 70)),
    }
}
