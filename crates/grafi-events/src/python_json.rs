//! JSON text exactly as Python's `json.dumps` writes it with its defaults.
//!
//! grafi produces every document and message list with `json.dumps(...)`: `", "` and `": "`
//! separators and `ensure_ascii=True` (everything outside printable ASCII as `\uXXXX`, astral
//! characters as surrogate pairs). Writing the same bytes lets a Rust service and a Python one
//! produce identical rows, and lets tests compare documents byte for byte.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// A `serde_json` formatter that mimics `json.dumps` defaults.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Fast path: most text is printable ASCII (serde_json has already escaped quotes,
        // backslashes and controls, so below 0x7f means printable). Fragments are the runs
        // between escapes, ~10 bytes in message lists: one pass with no early exit beats
        // `is_ascii` plus a `memchr` call for 0x7f (146,800 against 156,100 instructions per
        // `record_event` of the bench's events, callgrind).
        if fragment
            .bytes()
            .fold(0u8, |seen, b| seen | u8::from(b >= 0x7f))
            == 0
        {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if (' '..='~').contains(&ch) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(w, "\\u{byte:04x}"),
        };
        w.write_all(s)
    }
}

/// Writes `value` as `json.dumps(value)` would.
pub fn to_writer<W: io::Write, T: ?Sized + Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut Serializer::with_formatter(writer, PythonFormatter))
}

/// `json.dumps(value)` as a `String`.
///
/// ```
/// let v = serde_json::json!({"a": [1, "é😀"], "b": null});
/// assert_eq!(grafi_events::python_json::to_string(&v), r#"{"a": [1, "\u00e9\ud83d\ude00"], "b": null}"#);
/// ```
pub fn to_string(value: &serde_json::Value) -> String {
    encode(value)
}

/// This crate's values (events, their parts, JSON values) as `json.dumps` writes them.
/// [`to_writer`] is the fallible form for any other `Serialize` type.
pub(crate) fn encode<T: ?Sized + Serialize>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    // Serialising fails only for a map with non-string keys or a failing writer: the values
    // passed here have string keys only, and a Vec never fails to grow.
    if let Err(e) = to_writer(&mut out, value) {
        unreachable!("this crate's values always serialize: {e}");
    }
    // The formatter only writes ASCII and serde_json writes valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Any JSON text restyled as `json.dumps` writes it (`", "`/`": "` separators, no other
/// whitespace, strings with ASCII escapes), keeping number text and every UTF-16 code unit,
/// lone surrogates included; `None` when `text` is not JSON.
///
/// For values no `serde_json::Value` can hold (a lone surrogate escape, nesting deeper than
/// serde_json reads), which a raw event keeps as text.
///
/// ```
/// let text = "{\"a\":[1 ,\n \"\\ud800é\"]}";
/// assert_eq!(grafi_events::python_json::restyle(text).unwrap(), r#"{"a": [1, "\ud800\u00e9"]}"#);
/// ```
pub fn restyle(text: &str) -> Option<String> {
    // Checks the syntax without building values (no depth limit, surrogates not judged), so
    // the scan below can trust its structure.
    serde_json::from_str::<&serde_json::value::RawValue>(text).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            ',' => out.push_str(", "),
            ':' => out.push_str(": "),
            '"' => restyle_string(&mut chars, &mut out),
            other => out.push(other),
        }
    }
    Some(out)
}

/// Copies one string (its opening quote already read) the way `json.dumps` escapes it.
fn restyle_string(chars: &mut std::str::Chars<'_>, out: &mut String) {
    out.push('"');
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                    match char::from_u32(unit) {
                        Some(c) => push_escaped(c, out),
                        // A surrogate (paired or not): one code unit, written as Python does.
                        None => out.push_str(&format!("\\u{unit:04x}")),
                    }
                }
                Some('b') => out.push_str("\\b"),
                Some('f') => out.push_str("\\f"),
                Some('n') => out.push_str("\\n"),
                Some('r') => out.push_str("\\r"),
                Some('t') => out.push_str("\\t"),
                Some(other) => push_escaped(other, out),
                None => break,
            },
            other => push_escaped(other, out),
        }
    }
    out.push('"');
}

/// One character as `json.dumps` (`ensure_ascii=True`) writes it inside a string.
fn push_escaped(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");

    #[test]
    fn restyling_any_layout_of_a_document_gives_json_dumps_bytes() {
        for line in CORPUS.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(restyle(line).as_deref(), Some(line));
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            assert_eq!(restyle(&pretty).as_deref(), Some(line));
            // serde_json's own (compact, UTF-8) output restyles to json.dumps' bytes too.
            let compact = serde_json::to_string(&value).unwrap();
            assert_eq!(restyle(&compact), Some(to_string(&value)));
        }
    }

    #[test]
    fn restyling_keeps_every_utf16_unit_and_refuses_what_is_not_json() {
        let text =
            "[\"\\uD800\", \"\\udc00x\", \"\\ud83d\\ude00\", \"\\u0041\\/\", \"\u{7f}é\", 1.50e+3]";
        assert_eq!(
            restyle(text).unwrap(),
            r#"["\ud800", "\udc00x", "\ud83d\ude00", "A/", "\u007f\u00e9", 1.50e+3]"#
        );
        for bad in ["", "[1,", "{\"a\" 1}", "\"\\x\"", "nul"] {
            assert_eq!(restyle(bad), None, "{bad:?}");
        }
    }
}
