//! Driving a real Python grafi through its interop harness (`interop/grafi_pg.py`,
//! `interop/grafi36_pg.py`), for the interop tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use grafi_events::Event;

/// One grafi version's harness: its venv's python (from `env`, set by `cargo xtask interop`)
/// and its script.
pub struct Harness {
    pub env: &'static str,
    pub script: &'static str,
}

impl Harness {
    /// Runs `SCRIPT ARGS`; returns stdout, panics with both streams on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let python = std::env::var(self.env)
            .unwrap_or_else(|_| panic!("{}: run `cargo xtask interop`", self.env));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../interop")
            .join(self.script);
        let output = Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.script));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{} {args:?} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            self.script
        );
        println!("{} {}: {}", self.script, args[0], stdout.trim());
        stdout
    }
}

impl Harness {
    /// grafi's `check` finds every one of `events` in the database at `py_url`, equal (with
    /// `--strict` among `flags`, the columns too), then grafi's `read` walks every read path;
    /// panics otherwise.
    pub fn check_and_read(&self, py_url: &str, events: &[Event], flags: &[&str]) {
        let file = write_jsonl(events);
        let mut args = vec!["check"];
        args.extend_from_slice(flags);
        args.extend(["--db", py_url, "--jsonl", file.to_str().unwrap()]);
        let out = self.run(&args);
        assert!(
            out.contains(&format!(
                "{} matched, 0 mismatched, 0 missing",
                events.len()
            )),
            "{out}"
        );
        let read_out = file.with_extension("read.jsonl");
        self.run(&["read", "--db", py_url, "--out", read_out.to_str().unwrap()]);
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_file(read_out);
    }
}

/// SQLAlchemy 2 wants `postgresql://`, and asyncpg takes none of libpq's query options
/// (`application_name`, `sslmode`): the scratch database is local, in plain text.
pub fn sqlalchemy_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    match url.strip_prefix("postgres://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => url.to_owned(),
    }
}

/// The events as a JSONL file in the temp directory.
pub fn write_jsonl(events: &[Event]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "grafi-interop-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}
