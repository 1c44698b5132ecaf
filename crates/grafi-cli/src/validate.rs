//! `grafi-store validate FILE|-`.

use std::io::Write;

use crate::input::{check_line, Lines, Verdict};
use crate::Outcome;

pub fn run(path: &str) -> anyhow::Result<Outcome> {
    let (mut lines, _) = Lines::open(path)?;
    let (mut valid, mut invalid) = (0usize, 0usize);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    while let Some((line_no, bytes)) = lines
        .next_line()
        .map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?
    {
        match check_line(line_no, bytes, true) {
            Verdict::Blank => {}
            Verdict::Valid(_) => valid += 1,
            Verdict::Invalid(problem) => {
                invalid += 1;
                let _ = writeln!(err, "{problem}");
            }
        }
    }
    println!("{valid} valid, {invalid} invalid");
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Incomplete
    })
}
