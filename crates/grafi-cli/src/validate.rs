//! `grafi-store validate FILE|-`.

use std::io::Write;

use crate::input::{self, Lines, Report, Verdict};
use crate::Outcome;

pub fn run(path: &str, options: &input::Options) -> anyhow::Result<Outcome> {
    let (mut lines, _) = Lines::open(path, options.max_line_bytes)?;
    let mut report = Report::new(options.errors.as_deref())?;
    let max_line_bytes = lines.max_line_bytes();
    let mut valid = 0usize;
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
        match input::judge(line_no, line, max_line_bytes, true) {
            Verdict::Blank => {}
            Verdict::Valid(_) => valid += 1,
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
    let invalid = report.total();
    println!("{valid} valid, {invalid} invalid");
    report.finish()?;
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Incomplete
    })
}
