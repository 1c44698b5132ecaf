//! Reading JSONL input line by line, and judging each line.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use anyhow::Context;
use grafi_events::{DecodeError, DecodeErrorKind, Event};
use grafi_store_core::{validate, Limits, StoreError};
use serde_json::Value;

/// A JSONL source: a file or stdin, read line by line with line numbers.
pub struct Lines {
    reader: Box<dyn BufRead + Send>,
    line_no: usize,
    bytes: u64,
    buf: Vec<u8>,
}

impl Lines {
    /// Opens `path` (`-`: stdin); also returns the file's size, for a progress bar.
    pub fn open(path: &str) -> anyhow::Result<(Self, Option<u64>)> {
        let (reader, len): (Box<dyn Read + Send>, _) = if path == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        };
        Ok((
            Self {
                reader: Box::new(BufReader::with_capacity(1 << 20, reader)),
                line_no: 0,
                bytes: 0,
                buf: Vec::new(),
            },
            len,
        ))
    }

    /// The next line (1-based number, content without the line ending), or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, &[u8])>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes += n as u64;
        self.line_no += 1;
        let mut line = &self.buf[..];
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest;
        }
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        Ok(Some((self.line_no, line)))
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

/// A line that cannot be stored, as reported to the user.
#[derive(Debug, Clone)]
pub struct Problem {
    pub line: usize,
    pub event_id: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event_id {
            Some(id) => write!(
                f,
                "line {}: event {:?}: {}",
                self.line,
                shorten(id, 80),
                self.message
            ),
            None => write!(
                f,
                "line {}: event (id unknown): {}",
                self.line, self.message
            ),
        }
    }
}

/// What a line is.
pub enum Verdict {
    /// Blank (skipped, not counted).
    Blank,
    /// A storable event (boxed: an `Event` is large).
    Valid(Box<Event>),
    /// Not storable.
    Invalid(Problem),
}

/// Decodes one line and applies the store's input rules (with default limits), the checks
/// every backend makes, so that a valid line is accepted by any store.
pub fn check_line(line: usize, bytes: &[u8], round_trip: bool) -> Verdict {
    let problem = |event_id: Option<String>, message: String| {
        Verdict::Invalid(Problem {
            line,
            event_id,
            message,
        })
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return problem(
                None,
                format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1),
            )
        }
    };
    if text.trim().is_empty() {
        return Verdict::Blank;
    }
    let event = match grafi_events::decode_str(text) {
        Ok(event) => event,
        Err(e) => {
            let id = e.event_id.clone().or_else(|| sniff_event_id(text));
            return problem(id, describe_decode_error(e));
        }
    };
    if let Err(e) = validate::check(&event, 0, &Limits::default()) {
        let id = Some(event.event_id().to_owned()).filter(|id| !id.is_empty());
        let message = match e {
            StoreError::InvalidEvent { reason, .. } => reason.to_string(),
            other => other.to_string(),
        };
        return problem(id, message);
    }
    if round_trip {
        if let Some(path) = round_trip_difference(text, &event) {
            return problem(
                Some(event.event_id().to_owned()),
                format!("does not round-trip: the re-encoded document differs at `{path}`"),
            );
        }
    }
    Verdict::Valid(Box::new(event))
}

/// The decode error without its "event …:" prefix (the report names the event itself), and
/// "not a grafi event" for documents of the wrong shape.
fn describe_decode_error(mut e: DecodeError) -> String {
    let not_an_event = matches!(
        (&e.kind, e.path.as_str()),
        (
            DecodeErrorKind::Missing,
            "event_type" | "event_id" | "timestamp"
        ) | (DecodeErrorKind::WrongType { .. }, "")
    );
    e.event_id = None;
    let text = e.to_string();
    let text = text.strip_prefix("event (id unknown): ").unwrap_or(&text);
    let text = text.strip_prefix("document: ").unwrap_or(text);
    // serde_json counts lines inside the document; each document is one line of the file.
    let text = text.replace(" at line 1 column ", " at column ");
    if not_an_event {
        format!("not a grafi event document ({text})")
    } else {
        text
    }
}

/// The `event_id` of a line that is not valid JSON, read from its text if it can be.
fn sniff_event_id(text: &str) -> Option<String> {
    let key = text.find("\"event_id\"")?;
    let rest = text[key + "\"event_id\"".len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut id = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(id),
            '\\' => {
                id.push(chars.next()?);
            }
            c => id.push(c),
        }
        if id.len() > 200 {
            return None;
        }
    }
    None
}

/// Where (as a path) the re-encoded event differs from the original document, compared as
/// JSON values (key order does not matter, number spelling does).
fn round_trip_difference(original: &str, event: &Event) -> Option<String> {
    let Ok(before) = serde_json::from_str::<Value>(original) else {
        return Some(String::new());
    };
    let after = match serde_json::from_str::<Value>(&event.to_json()) {
        Ok(v) => v,
        Err(_) => return Some("<re-encoded text is not JSON>".into()),
    };
    first_difference(&before, &after, String::new())
}

fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = join(&path, k);
                match y.get(k) {
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, p) {
                            return Some(d);
                        }
                    }
                    None => return Some(p),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| join(&path, k))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(va, vb, format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path}[{}]", x.len().min(y.len())))
        }
        _ if a == b => None,
        _ => Some(if path.is_empty() {
            "(document)".into()
        } else {
            path
        }),
    }
}

fn join(path: &str, key: &str) -> String {
    let key = shorten(key, 40);
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// At most `max` characters, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");

    #[test]
    fn every_corpus_line_is_valid_and_round_trips() {
        for (i, line) in CORPUS.lines().enumerate() {
            match check_line(i + 1, line.as_bytes(), true) {
                Verdict::Valid(_) => {}
                Verdict::Invalid(p) => panic!("{p}"),
                Verdict::Blank => panic!("blank line {}", i + 1),
            }
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let Verdict::Invalid(p) = check_line(7, br#"{"event_id": "abc", "event_type": "#, false)
        else {
            panic!()
        };
        assert_eq!(p.event_id.as_deref(), Some("abc"));
        assert!(
            p.to_string()
                .starts_with("line 7: event \"abc\": invalid JSON"),
            "{p}"
        );

        let Verdict::Invalid(p) = check_line(2, br#"{"hello": "world"}"#, false) else {
            panic!()
        };
        assert!(p.message.starts_with("not a grafi event document"), "{p}");
        let Verdict::Invalid(p) = check_line(3, b"[1, 2]", false) else {
            panic!()
        };
        assert!(p.message.starts_with("not a grafi event document"), "{p}");
        assert!(matches!(check_line(4, b"   ", false), Verdict::Blank));
        let Verdict::Invalid(p) = check_line(5, b"\xff\xfe", false) else {
            panic!()
        };
        assert!(p.message.contains("UTF-8"), "{p}");
    }

    #[test]
    fn nul_in_context_is_refused() {
        let line = CORPUS.lines().next().unwrap();
        let bad = line.replacen(
            "\"conversation_id\": \"",
            "\"conversation_id\": \"\\u0000",
            1,
        );
        let Verdict::Invalid(p) = check_line(1, bad.as_bytes(), false) else {
            panic!()
        };
        assert!(p.message.contains("NUL"), "{p}");
        assert!(p.event_id.is_some());
    }

    #[test]
    fn differences_have_paths() {
        let a: Value = serde_json::from_str(r#"{"a": {"b": [1, 2]}, "c": 1}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"c": 1, "a": {"b": [1, 3]}}"#).unwrap();
        assert_eq!(
            first_difference(&a, &b, String::new()).as_deref(),
            Some("a.b[1]")
        );
        assert_eq!(first_difference(&a, &a, String::new()), None);
    }
}
