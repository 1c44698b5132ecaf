//! Reading JSONL input line by line, and judging each line.
//!
//! Input is never trusted to be small: a line longer than `--max-line-bytes` is skipped
//! after reading at most that many bytes of it (plus the read buffer), and at most
//! [`SHOWN_PROBLEMS`] problems are printed (`--errors FILE` keeps them all). A UTF-8 byte
//! order mark at the start of the input (as Notepad and PowerShell write them) is skipped.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use grafi_events::{DecodeError, DecodeErrorKind, Event};
use grafi_store_core::{validate, Limits, StoreError};
use serde::Serialize;
use serde_json::Value;

/// Size of the read buffer.
const READ_BUFFER: usize = 1 << 20;

/// Problems printed on stderr; the rest are counted, and all go to `--errors FILE`.
pub const SHOWN_PROBLEMS: usize = 100;

/// How input is read and reported (the options `import` and `validate` share).
#[derive(Debug, Clone)]
pub struct Options {
    /// Longer lines are reported and skipped without being kept in memory.
    pub max_line_bytes: usize,
    /// Every problem, one per line, goes to this file.
    pub errors: Option<PathBuf>,
}

/// The default `--max-line-bytes`: the store's event size limit.
pub fn default_max_line_bytes() -> usize {
    Limits::default().max_event_bytes
}

/// A JSONL source: a file or stdin, read line by line with line numbers.
pub struct Lines {
    reader: BufReader<SkipBom<Box<dyn Read + Send>>>,
    max_line_bytes: usize,
    line_no: usize,
    bytes: u64,
    /// The line being read when it spans several reads of the source.
    buf: Vec<u8>,
    /// Bytes of the read buffer lent out as the last line, consumed by the next call.
    lent: usize,
}

/// A line, as [`Lines`] reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The content, without the line ending.
    Text(&'a [u8]),
    /// Longer than the limit: skipped, its content is gone.
    TooLong,
}

impl Lines {
    /// Opens `path` (`-`: stdin); also returns the file's size, for a progress bar.
    pub fn open(path: &str, max_line_bytes: usize) -> anyhow::Result<(Self, Option<u64>)> {
        let (reader, len): (Box<dyn Read + Send>, _) = if path == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        };
        Ok((Self::new(reader, READ_BUFFER, max_line_bytes), len))
    }

    fn new(reader: Box<dyn Read + Send>, capacity: usize, max_line_bytes: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(capacity, SkipBom::new(reader)),
            max_line_bytes,
            line_no: 0,
            bytes: 0,
            buf: Vec::new(),
            lent: 0,
        }
    }

    /// The next line (1-based number), or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        self.next_line_with(|_| {})
    }

    /// [`Lines::next_line`], calling `before_read` (with the bytes read so far) whenever it
    /// has to read from the source, which may block (a pipe that delivers nothing for a
    /// while): the caller can hand over what it has so far. Never called for a line that
    /// is already in the read buffer, the common case.
    pub fn next_line_with(
        &mut self,
        mut before_read: impl FnMut(u64),
    ) -> io::Result<Option<(usize, Line<'_>)>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        self.buf.clear();
        // A line may end in "\r\n": keep one byte more than the limit for the "\r".
        let keep = self.max_line_bytes.saturating_add(1);
        let mut started = false;
        let mut too_long = false;
        loop {
            if self.reader.buffer().is_empty() {
                before_read(self.bytes);
            }
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !started {
                    return Ok(None);
                }
                // The last line, without a line ending.
                break;
            }
            started = true;
            match memchr::memchr(b'\n', available) {
                Some(end) if !too_long && self.buf.is_empty() => {
                    // The whole line is in the read buffer: lend it, no copy.
                    self.bytes += end as u64 + 1;
                    self.line_no += 1;
                    self.lent = end + 1;
                    let line = trim_cr(&self.reader.buffer()[..end]);
                    let line = if line.len() > self.max_line_bytes {
                        Line::TooLong
                    } else {
                        Line::Text(line)
                    };
                    return Ok(Some((self.line_no, line)));
                }
                Some(end) => {
                    if !too_long && self.buf.len() + end <= keep {
                        self.buf.extend_from_slice(&available[..end]);
                    } else {
                        too_long = true;
                    }
                    self.bytes += end as u64 + 1;
                    self.reader.consume(end + 1);
                    break;
                }
                None => {
                    let n = available.len();
                    if !too_long && self.buf.len() + n <= keep {
                        self.buf.extend_from_slice(available);
                    } else if !too_long {
                        // From here on the rest of the line is read and dropped, and what
                        // was kept of it is given back.
                        too_long = true;
                        self.buf = Vec::new();
                    }
                    self.bytes += n as u64;
                    self.reader.consume(n);
                }
            }
        }
        self.line_no += 1;
        let line = trim_cr(&self.buf);
        let line = if too_long || line.len() > self.max_line_bytes {
            Line::TooLong
        } else {
            Line::Text(line)
        };
        Ok(Some((self.line_no, line)))
    }

    /// Bytes read so far (a byte order mark skipped included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes + self.reader.get_ref().skipped()
    }

    /// The longest line accepted.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}

/// What a line is: [`check_line`], or a problem if it was longer than `max_line_bytes`.
pub fn judge(line_no: usize, line: Line<'_>, max_line_bytes: usize, round_trip: bool) -> Verdict {
    match line {
        Line::Text(bytes) => check_line(line_no, bytes, round_trip),
        Line::TooLong => Verdict::Invalid(Problem::line(
            line_no,
            format!("longer than {max_line_bytes} bytes; skipped"),
        )),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What to do with UTF-16 input (PowerShell 5's `>` writes it).
const UTF16_HINT: &str = "the input is UTF-16 (it starts with a UTF-16 byte order mark); \
     convert it to UTF-8 first, e.g. `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.jsonl`";

/// Whether `start` is a UTF-16 byte order mark (little or big endian).
fn is_utf16_bom(start: &[u8]) -> bool {
    start == b"\xFF\xFE" || start == b"\xFE\xFF"
}

/// A reader that drops a UTF-8 byte order mark at the start of its input, whatever the
/// sizes of the reads that deliver it, and passes everything else through.
struct SkipBom<R> {
    inner: R,
    /// The first bytes, while they may still be (the start of) a byte order mark, then
    /// those of them that are not one, until they are passed on.
    head: [u8; 3],
    head_len: usize,
    head_sent: usize,
    /// Whether the start of the input has been decided on.
    decided: bool,
    skipped: bool,
}

impl<R: Read> SkipBom<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            head: [0; 3],
            head_len: 0,
            head_sent: 0,
            decided: false,
            skipped: false,
        }
    }

    /// Bytes dropped: 3 after a byte order mark, else 0.
    fn skipped(&self) -> u64 {
        if self.skipped {
            BOM.len() as u64
        } else {
            0
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.decided {
            if self.head_len == 0 && buf.len() >= BOM.len() {
                // The usual case: the first read goes straight into the caller's buffer.
                let n = self.inner.read(buf)?;
                let start = n.min(BOM.len());
                if n >= 2 && is_utf16_bom(&buf[..2]) {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, UTF16_HINT));
                }
                if n == 0 || buf[..start] != BOM[..start] {
                    self.decided = true;
                    return Ok(n);
                }
                if n < BOM.len() {
                    // The start of a mark, so far: keep it until the rest arrives.
                    self.head[..n].copy_from_slice(&buf[..n]);
                    self.head_len = n;
                    continue;
                }
                self.decided = true;
                self.skipped = true;
                if n > BOM.len() {
                    buf.copy_within(BOM.len()..n, 0);
                    return Ok(n - BOM.len());
                }
                break;
            }
            // The start of a mark arrived in pieces (or the caller reads a byte at a time):
            // gather it here until it is whole, or is not one after all.
            let n = self.inner.read(&mut self.head[self.head_len..])?;
            self.head_len += n;
            if n == 0 || self.head[..self.head_len] != BOM[..self.head_len] {
                self.decided = true;
            } else if self.head_len == BOM.len() {
                self.decided = true;
                self.skipped = true;
                self.head_len = 0;
            }
        }
        if self.head_sent < self.head_len {
            let n = buf.len().min(self.head_len - self.head_sent);
            buf[..n].copy_from_slice(&self.head[self.head_sent..self.head_sent + n]);
            self.head_sent += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// A line that cannot be stored, as reported to the user.
///
/// In a `--json` summary: `{"line": N, "event_id": "…" or null, "message": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The line's number, from 1.
    pub line: usize,
    /// The event's id when known (the report says "id unknown" otherwise).
    pub event_id: Option<String>,
    /// What is wrong, as on stderr after `line N: event "…": `.
    pub message: String,
    /// About the line itself (e.g. too long), not about an event in it.
    #[serde(skip)]
    whole_line: bool,
}

impl Problem {
    /// A problem with the event on `line`.
    pub fn event(line: usize, event_id: Option<String>, message: String) -> Self {
        Self {
            line,
            event_id,
            message,
            whole_line: false,
        }
    }

    /// A problem with the line itself.
    pub fn line(line: usize, message: String) -> Self {
        Self {
            line,
            event_id: None,
            message,
            whole_line: true,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event_id {
            _ if self.whole_line => write!(f, "line {}: {}", self.line, self.message),
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

/// Where problems go: the first [`SHOWN_PROBLEMS`] to stderr (the caller prints them),
/// every one to `--errors FILE`.
pub struct Report {
    total: usize,
    /// The problems shown on stderr, for a `--json` summary.
    shown: Vec<Problem>,
    file: Option<(PathBuf, BufWriter<File>)>,
    write_error: Option<io::Error>,
}

impl Report {
    /// Creates (truncates) the `--errors` file, if any.
    pub fn new(errors: Option<&Path>) -> anyhow::Result<Self> {
        let file = match errors {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Some((path.to_owned(), BufWriter::new(file)))
            }
            None => None,
        };
        Ok(Self {
            total: 0,
            shown: Vec::new(),
            file,
            write_error: None,
        })
    }

    /// Counts `problem` and writes it to the file; true if it is to be shown on stderr.
    pub fn add(&mut self, problem: &Problem) -> bool {
        self.total += 1;
        if let Some((_, file)) = &mut self.file {
            if self.write_error.is_none() {
                if let Err(e) = writeln!(file, "{problem}") {
                    self.write_error = Some(e);
                }
            }
        }
        let show = self.total <= SHOWN_PROBLEMS;
        if show {
            self.shown.push(problem.clone());
        }
        show
    }

    /// The problems shown (the first [`SHOWN_PROBLEMS`]).
    pub fn shown(&self) -> &[Problem] {
        &self.shown
    }

    /// The path of the `--errors` file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// Problems so far.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The line for stderr about the problems that were not shown, if any were not.
    pub fn omitted(&self) -> Option<String> {
        let more = self.total.checked_sub(SHOWN_PROBLEMS).filter(|&n| n > 0)?;
        Some(match &self.file {
            Some((path, _)) => format!(
                "… and {more} more problems not shown (all {} are in {})",
                self.total,
                path.display()
            ),
            None => format!(
                "… and {more} more problems not shown ({} in all); add --errors FILE to write \
                 every problem to FILE",
                self.total
            ),
        })
    }

    /// Flushes the file; fails if any problem could not be written to it.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some((path, file)) = &mut self.file {
            let flushed = file.flush();
            if let Some(e) = self.write_error.take().map_or(flushed.err(), Some) {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot write the problems to {}", path.display())));
            }
        }
        Ok(())
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
        Verdict::Invalid(Problem::event(line, event_id, message))
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) if line == 1 && bytes.len() >= 2 && is_utf16_bom(&bytes[..2]) => {
            return problem(None, UTF16_HINT.to_owned())
        }
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

/// The grafi dialect of the first event in the file at `path` that shows one (a few hundred
/// lines and 16 MiB at most are read), for the layout of a table `import` creates; `None` for stdin, an
/// unreadable file, or none found: the store's default then applies.
pub fn dialect_of_file(path: &str) -> Option<grafi_events::Dialect> {
    use std::io::{BufRead, Read};
    const LINES: usize = 200;
    const BYTES: u64 = 16 << 20;
    if path == "-" {
        return None;
    }
    let file = std::io::BufReader::new(std::fs::File::open(path).ok()?.take(BYTES));
    file.lines()
        .take(LINES)
        .map_while(Result::ok)
        .filter_map(|line| grafi_events::decode_str(line.trim_start_matches('\u{feff}')).ok())
        .find_map(|event| event.dialect())
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

    /// Every line of `input` read with a read buffer of `capacity` bytes, and how many
    /// times `Lines` was about to read from the source.
    fn read_all(
        input: &[u8],
        capacity: usize,
        max: usize,
    ) -> (Vec<(usize, Option<String>)>, usize) {
        let mut lines = Lines::new(Box::new(io::Cursor::new(input.to_vec())), capacity, max);
        let mut out = Vec::new();
        let mut reads = 0;
        while let Some((n, line)) = lines.next_line_with(|_| reads += 1).unwrap() {
            out.push((
                n,
                match line {
                    Line::Text(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
                    Line::TooLong => None,
                },
            ));
        }
        assert_eq!(lines.bytes_read(), input.len() as u64);
        (out, reads)
    }

    #[test]
    fn lines_are_split_whatever_the_buffer_size() {
        let input = b"first\r\n\nthird line\n0123456789\r\nlast";
        let expected = vec![
            (1, Some("first".to_owned())),
            (2, Some(String::new())),
            (3, Some("third line".to_owned())),
            (4, Some("0123456789".to_owned())),
            (5, Some("last".to_owned())),
        ];
        for capacity in [1, 2, 3, 7, 64] {
            assert_eq!(
                read_all(input, capacity, 10).0,
                expected,
                "buffer {capacity}"
            );
        }
        assert_eq!(read_all(b"", 4, 10).0, vec![]);
        assert_eq!(read_all(b"a\n", 4, 10).0, vec![(1, Some("a".to_owned()))]);
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let line = |n: usize, t: &str| (n, Some(t.to_owned()));
        for capacity in [1, 2, 3, 4, 64] {
            // Only at the very start; the line after it is read as usual.
            assert_eq!(
                read_all(b"\xEF\xBB\xBF{}\r\n\xEF\xBB\xBFx\n", capacity, 10).0,
                vec![line(1, "{}"), line(2, "\u{FEFF}x")],
                "buffer {capacity}"
            );
            assert_eq!(
                read_all(b"\xEF\xBB\xBF", capacity, 10).0,
                vec![],
                "buffer {capacity}"
            );
            // The start of a mark, or none: passed on as it is.
            for input in [&b"\xEF\xBB"[..], b"\xEF\xBBx\n", b"\xEFx", b"ab\ncd"] {
                let mut lines = Lines::new(Box::new(io::Cursor::new(input.to_vec())), capacity, 10);
                let mut read = Vec::new();
                while let Some((_, Line::Text(text))) = lines.next_line().unwrap() {
                    read.push(text.to_vec());
                }
                let expected: Vec<&[u8]> = input
                    .strip_suffix(b"\n")
                    .unwrap_or(input)
                    .split(|&b| b == b'\n')
                    .collect();
                assert_eq!(read, expected, "{input:?}, buffer {capacity}");
                assert_eq!(lines.bytes_read(), input.len() as u64);
            }
        }
        // A line that is only a mark is no line at all; the mark counts as read.
        let mut lines = Lines::new(
            Box::new(io::Cursor::new(b"\xEF\xBB\xBF\nok".to_vec())),
            2,
            10,
        );
        assert_eq!(lines.next_line().unwrap(), Some((1, Line::Text(&b""[..]))));
        assert_eq!(
            lines.next_line().unwrap(),
            Some((2, Line::Text(&b"ok"[..])))
        );
        assert_eq!(lines.bytes_read(), 6);
    }

    /// A reader that delivers its input one byte per read.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.get(self.1), buf.first_mut()) {
                (Some(&b), Some(slot)) => {
                    *slot = b;
                    self.1 += 1;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped_when_it_arrives_a_byte_at_a_time() {
        let input = b"\xEF\xBB\xBF{\"a\": 1}\n".to_vec();
        let mut lines = Lines::new(Box::new(Trickle(input, 0)), 64, 100);
        assert_eq!(
            lines.next_line().unwrap(),
            Some((1, Line::Text(&b"{\"a\": 1}"[..])))
        );
        assert_eq!(lines.next_line().unwrap(), None);
    }

    #[test]
    fn long_lines_are_skipped_and_reading_goes_on() {
        let input = b"ok\n12345678901\n1234567890\n123456789012345678901234567890\r\nlast\n\
                      12345678901";
        for capacity in [1, 3, 8, 64] {
            assert_eq!(
                read_all(input, capacity, 10).0,
                vec![
                    (1, Some("ok".to_owned())),
                    (2, None),
                    (3, Some("1234567890".to_owned())),
                    (4, None),
                    (5, Some("last".to_owned())),
                    (6, None),
                ],
                "buffer {capacity}"
            );
        }
    }

    #[test]
    fn a_long_line_is_not_kept() {
        // 10 MB on one line, limit 1 kB, 4 kB buffer: at most the limit is ever kept.
        let mut input = vec![b'x'; 10_000_000];
        input.extend_from_slice(b"\n{}\n");
        let mut lines = Lines::new(Box::new(io::Cursor::new(input)), 4096, 1000);
        assert_eq!(lines.next_line().unwrap(), Some((1, Line::TooLong)));
        assert_eq!(lines.buf.capacity(), 0);
        assert_eq!(
            lines.next_line().unwrap(),
            Some((2, Line::Text(&b"{}"[..])))
        );
        assert_eq!(lines.next_line().unwrap(), None);
        let Verdict::Invalid(p) = judge(2, Line::TooLong, 1000, false) else {
            panic!()
        };
        assert_eq!(p.to_string(), "line 2: longer than 1000 bytes; skipped");
    }

    #[test]
    fn the_source_is_read_only_when_the_buffer_is_empty() {
        // 3 lines in one 64-byte buffer: one read for them, one that finds the end.
        assert_eq!(read_all(b"a\nb\nc\n", 64, 10).1, 2);
        // A line across reads: a read before each part.
        assert_eq!(read_all(b"abcdef\n", 4, 10).1, 3);
    }

    #[test]
    fn the_report_shows_the_first_problems_and_files_them_all() {
        let dir = std::env::temp_dir().join(format!("grafi-report-{}", std::process::id()));
        let mut report = Report::new(Some(&dir)).unwrap();
        let shown = (1..=150)
            .filter(|&i| report.add(&Problem::line(i, "bad".into())))
            .count();
        assert_eq!(shown, SHOWN_PROBLEMS);
        assert_eq!(report.total(), 150);
        let note = report.omitted().unwrap();
        assert!(
            note.contains("50 more") && note.contains("all 150"),
            "{note}"
        );
        report.finish().unwrap();
        let written = std::fs::read_to_string(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(written.lines().count(), 150);
        assert_eq!(written.lines().last(), Some("line 150: bad"));

        let mut report = Report::new(None).unwrap();
        for i in 1..=100 {
            assert!(report.add(&Problem::line(i, "bad".into())));
        }
        assert_eq!(report.omitted(), None);
        assert!(!report.add(&Problem::line(101, "bad".into())));
        assert!(report.omitted().unwrap().contains("--errors FILE"));
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
