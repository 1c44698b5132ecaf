//! `grafi-store validate FILE|-`.

use std::io::Write;

use serde::Serialize;

use crate::dialects::DialectCounts;
use crate::input::{self, Lines, Problem, Report, Verdict};
use crate::{outln, Outcome};

/// `--json`: its help, which lists the fields of [`Summary`].
pub const JSON_HELP: &str = "Print one JSON document on stdout instead of \"N valid, M invalid\" \
(problems still go to stderr). Fields:
  valid: lines that hold a storable event
  invalid: lines that do not (blank lines are neither)
  lines: lines read
  by_dialect: valid events by grafi dialect, {\"0.0.24\": n, \"0.0.36\": n, \"other\": n} (other: \
user-registered or unknown types)
  problems: the problems shown on stderr (the first 100), each {line, event_id (null when \
unknown), message}
  problems_not_listed: invalid lines not in problems (all are in --errors FILE)
  errors_file: the --errors FILE, or null";

/// `validate --json`: one document on stdout (field names are stable).
#[derive(Debug, Default, Serialize)]
pub struct Summary<'a> {
    /// Lines that hold a storable event.
    pub valid: usize,
    /// Lines that do not (blank lines count as neither).
    pub invalid: usize,
    /// Lines read.
    pub lines: usize,
    /// Valid events by the grafi dialect of their documents.
    pub by_dialect: DialectCounts,
    /// The problems shown on stderr (the first 100): `{line, event_id, message}`,
    /// `event_id` `null` when unknown.
    pub problems: &'a [Problem],
    /// Invalid lines not listed in `problems` (`--errors FILE` has every one).
    pub problems_not_listed: usize,
    /// The `--errors` file, or `null`.
    pub errors_file: Option<String>,
}

pub fn run(path: &str, options: &input::Options, json: bool) -> anyhow::Result<Outcome> {
    let (mut lines, _) = Lines::open(path, options.max_line_bytes)?;
    let mut report = Report::new(options.errors.as_deref())?;
    let max_line_bytes = lines.max_line_bytes();
    let mut valid = 0usize;
    let mut by_dialect = DialectCounts::default();
    let mut read = 0usize;
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    loop {
        let next = match lines.next_line() {
            Ok(next) => next,
            Err(e) => {
                if let Some(note) = report.omitted() {
                    let _ = writeln!(err, "{note}");
                }
                report.finish()?;
                return Err(anyhow::anyhow!("cannot read {path}: {e}"));
            }
        };
        let Some((line_no, line)) = next else { break };
        read = line_no;
        match input::judge(line_no, line, max_line_bytes, true) {
            Verdict::Blank => {}
            Verdict::Valid(event) => {
                valid += 1;
                by_dialect.add(&event);
            }
            Verdict::Invalid(problem) => {
                if report.add(&problem) {
                    let _ = writeln!(err, "{problem}");
                }
            }
        }
    }
    if let Some(note) = report.omitted() {
        let _ = writeln!(err, "{note}");
    }
    drop(err);
    let invalid = report.total();
    if json {
        crate::out::json(&Summary {
            valid,
            invalid,
            lines: read,
            by_dialect,
            problems: report.shown(),
            problems_not_listed: invalid - report.shown().len(),
            errors_file: report.file().map(|p| p.display().to_string()),
        })?;
    } else {
        match by_dialect.describe().as_str() {
            "" => outln!("{valid} valid, {invalid} invalid")?,
            seen => outln!("{valid} valid ({seen}), {invalid} invalid")?,
        }
    }
    report.finish()?;
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Incomplete
    })
}
