//! Logging on stderr through `tracing-subscriber`: the store's own events (connection and
//! pool errors, retries, COPY fallbacks, the table it created) and the CLI's.
//!
//! Level: `-q` errors only, `-v` info, `-vv` debug for grafi's own crates (dependencies
//! stay at info: at debug, the PostgreSQL driver logs every statement with its parameters,
//! i.e. every event imported), `-vvv` debug everywhere, `-vvvv` trace; without a flag
//! `RUST_LOG` (an `EnvFilter`: `RUST_LOG=grafi_store_diesel=debug`, …), else warnings and
//! errors.
//!
//! Every line is passed through the store URL's scrubber before it is written: the store
//! never logs a password, and this keeps it so whatever a dependency logs.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use grafi_store::StoreUrl;
use indicatif::ProgressBar;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;

/// The selected store's URL, whose password is scrubbed from every message.
static STORE_URL: OnceLock<StoreUrl> = OnceLock::new();
/// The progress bar on screen, hidden while a log line is written.
static PROGRESS: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The filter for `-v` (`verbose`) / `-q` (`quiet`), else `RUST_LOG`, else `warn`.
fn filter(verbose: u8, quiet: bool) -> EnvFilter {
    let directives = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => {
            return EnvFilter::builder()
                .with_default_directive(LevelFilter::WARN.into())
                .from_env_lossy()
        }
        (false, 1) => "info",
        // Targets are matched by prefix: grafi_cli, grafi_store, grafi_store_diesel, …
        (false, 2) => "info,grafi=debug",
        (false, 3) => "debug",
        (false, _) => "trace",
    };
    EnvFilter::new(directives)
}

/// Installs the subscriber (once, before anything logs).
pub fn init(verbose: u8, quiet: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet))
        .with_writer(ScrubbedStderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// Scrub `url`'s password from every message from now on.
pub fn set_store(url: &StoreUrl) {
    let _ = STORE_URL.set(url.clone());
}

/// `text` without the selected store URL's password.
pub fn scrub(text: &str) -> String {
    match STORE_URL.get() {
        Some(url) => url.scrub(text),
        None => text.to_owned(),
    }
}

/// Log lines are written around `bar` (`None`: it is gone).
pub fn set_progress(bar: Option<ProgressBar>) {
    if let Ok(mut progress) = PROGRESS.lock() {
        *progress = bar;
    }
}

/// Makes a [`Line`] for each event.
struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::with_capacity(256))
    }
}

/// One formatted event, written to stderr (scrubbed, whole) when dropped.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = scrub(&String::from_utf8_lossy(&self.0));
        let write = || {
            let _ = io::stderr().lock().write_all(text.as_bytes());
        };
        let bar = PROGRESS.lock().ok().and_then(|p| p.clone());
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verbosity_filters_parse() {
        for directives in ["error", "info", "info,grafi=debug", "debug", "trace"] {
            EnvFilter::try_new(directives).unwrap();
        }
        assert_eq!(filter(2, false).to_string(), "grafi=debug,info");
        assert_eq!(filter(3, true).to_string(), "error");
    }
}
