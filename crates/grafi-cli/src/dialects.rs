//! Events counted by the grafi dialect their documents are written in, so every command that
//! reads events can say which format it saw.

use grafi_events::{Dialect, Event};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Counts per dialect; `other` is events that show neither (user-registered or unknown types).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DialectCounts {
    counts: [usize; Dialect::ALL.len()],
    other: usize,
}

impl DialectCounts {
    pub fn add(&mut self, event: &Event) {
        match event
            .dialect()
            .and_then(|d| Dialect::ALL.iter().position(|&known| known == d))
        {
            Some(i) => self.counts[i] += 1,
            None => self.other += 1,
        }
    }

    /// `"grafi 0.0.24: 3, 0.0.36: 2"`, dialects with no event left out; empty without events.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Dialect::ALL
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(d, n)| format!("{d}: {n}"))
            .collect();
        if self.other > 0 {
            parts.push(format!("other types: {}", self.other));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("grafi {}", parts.join(", "))
        }
    }
}

/// `{"0.0.24": n, "0.0.36": m, "other": k}`: every key always present.
impl Serialize for DialectCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.counts.len() + 1))?;
        for (d, n) in Dialect::ALL.iter().zip(self.counts) {
            map.serialize_entry(d.as_str(), &n)?;
        }
        map.serialize_entry("other", &self.other)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_dialect_and_the_rest() {
        let line24 = r#"{"event_context": {"consumer_name": "n", "consumer_type": "T", "topic_name": "t", "offset": 0, "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": "u", "kwargs": {}}}, "event_id": "e1", "event_version": "1.0", "assistant_request_id": "r", "event_type": "ConsumeFromTopic", "timestamp": "2025-07-08T09:14:27+00:00", "data": "[]"}"#;
        let line36 = line24
            .replace(
                "\"topic_name\": \"t\"",
                "\"name\": \"t\", \"type\": \"Topic\"",
            )
            .replace("e1", "e2");
        let other = r#"{"event_id": "e3", "event_type": "Heartbeat", "timestamp": "2025-07-08T09:14:27+00:00"}"#;
        let mut counts = DialectCounts::default();
        for line in [line24, &line36, &line36, other] {
            counts.add(&grafi_events::decode_str(line).unwrap());
        }
        assert_eq!(
            counts.describe(),
            "grafi 0.0.24: 1, 0.0.36: 2, other types: 1"
        );
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"0.0.24":1,"0.0.36":2,"other":1}"#
        );
        assert_eq!(DialectCounts::default().describe(), "");
    }
}
