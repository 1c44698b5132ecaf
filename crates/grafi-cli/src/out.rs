//! Everything the commands write to stdout goes through here.
//!
//! A reader that goes away (`grafi-store demo | head -1`) closes the pipe: the next write
//! fails with `BrokenPipe` (Rust ignores SIGPIPE), which `println!` would turn into a panic.
//! Here it becomes [`StdoutClosed`], which the command passes up with `?` and `main` turns
//! into a quiet exit 0: the command stops where it is, as it would have under SIGPIPE,
//! without a word on stderr.
//!
//! Only stdout's own errors become `StdoutClosed`: a `BrokenPipe` from a database
//! connection is a store failure and stays one.

use std::fmt;
use std::io::{self, BufWriter, Write};

/// Stdout was closed by its reader: stop now; the command succeeded.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether `e` (or what caused it) is [`StdoutClosed`].
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<StdoutClosed>())
}

/// A failed write to stdout as the command's error: [`StdoutClosed`] for a closed pipe.
pub fn write_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// Writes `args` and a newline to stdout (line buffered: the line is written out now).
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .map_err(write_error)
}

/// Writes `bytes` to stdout as they are and flushes them.
pub fn bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(write_error)
}

/// One JSON document on one line of stdout.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    line(format_args!("{text}"))
}

/// One JSON document on one line of `sink` (stdout, or a test's buffer).
pub fn json_to(sink: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    writeln!(sink, "{text}").map_err(write_error)
}

/// `println!` for stdout that may be closed: `outln!(…)?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

/// `eprintln!` for a stderr that may be closed (`grafi-store import x 2>&1 | head -1`): a
/// message that cannot be written is dropped, where `eprintln!` would panic.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// Stdout with a large buffer, for output written in bulk (`export`, `tail`). Those
/// commands write to any `io::Write` (tests give them a `Vec`); map its errors with
/// [`write_error`].
pub fn buffered(capacity: usize) -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(capacity, io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_broken_pipe_is_a_closed_stdout() {
        assert!(is_closed(&write_error(io::ErrorKind::BrokenPipe.into())));
        assert!(!is_closed(&write_error(io::ErrorKind::Other.into())));
        // A store error caused by a broken connection is not a closed stdout.
        let store = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("cannot record events");
        assert!(!is_closed(&store));
        assert!(is_closed(
            &anyhow::Error::new(StdoutClosed).context("while printing")
        ));
    }
}
