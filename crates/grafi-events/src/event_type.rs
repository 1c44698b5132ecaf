//! The names grafi writes in `event_type`.

use std::fmt;
use std::str::FromStr;

/// The sixteen built-in event types (grafi's `EventType`, minus the never-stored
/// `StreamTopicEvent`). `#[non_exhaustive]`, as [`Event`](crate::Event): grafi adds types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum EventType {
    AssistantInvoke,
    AssistantRespond,
    AssistantFailed,
    WorkflowInvoke,
    WorkflowRespond,
    WorkflowFailed,
    NodeInvoke,
    NodeRespond,
    NodeFailed,
    ToolInvoke,
    ToolRespond,
    ToolFailed,
    TopicEvent,
    PublishToTopic,
    ConsumeFromTopic,
    OutputTopic,
}

impl EventType {
    /// All sixteen, in grafi's family order.
    pub const ALL: [EventType; 16] = [
        EventType::AssistantInvoke,
        EventType::AssistantRespond,
        EventType::AssistantFailed,
        EventType::WorkflowInvoke,
        EventType::WorkflowRespond,
        EventType::WorkflowFailed,
        EventType::NodeInvoke,
        EventType::NodeRespond,
        EventType::NodeFailed,
        EventType::ToolInvoke,
        EventType::ToolRespond,
        EventType::ToolFailed,
        EventType::TopicEvent,
        EventType::PublishToTopic,
        EventType::ConsumeFromTopic,
        EventType::OutputTopic,
    ];

    /// The string in the document, e.g. `"ToolInvoke"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::AssistantInvoke => "AssistantInvoke",
            EventType::AssistantRespond => "AssistantRespond",
            EventType::AssistantFailed => "AssistantFailed",
            EventType::WorkflowInvoke => "WorkflowInvoke",
            EventType::WorkflowRespond => "WorkflowRespond",
            EventType::WorkflowFailed => "WorkflowFailed",
            EventType::NodeInvoke => "NodeInvoke",
            EventType::NodeRespond => "NodeRespond",
            EventType::NodeFailed => "NodeFailed",
            EventType::ToolInvoke => "ToolInvoke",
            EventType::ToolRespond => "ToolRespond",
            EventType::ToolFailed => "ToolFailed",
            EventType::TopicEvent => "TopicEvent",
            EventType::PublishToTopic => "PublishToTopic",
            EventType::ConsumeFromTopic => "ConsumeFromTopic",
            EventType::OutputTopic => "OutputTopic",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `event_type` is not one of the sixteen built-ins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a built-in grafi event type: {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}
