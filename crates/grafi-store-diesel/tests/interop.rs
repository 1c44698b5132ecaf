//! Compatibility with the real Python grafi 0.0.24, both ways, through `interop/grafi_pg.py`.
//!
//! Needs the venv that `interop/setup.sh` builds, so these tests are `#[ignore]`d in a plain
//! `cargo test`; `cargo xtask interop` builds the venv and runs them with `GRAFI_PYTHON` set.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{builder, ScratchDb};
use grafi_events::Event;
use grafi_store_core::conformance::{agent_trace, grafi_corpus, same_event};
use grafi_store_core::EventStore;

fn python() -> String {
    std::env::var("GRAFI_PYTHON").expect("GRAFI_PYTHON: run `cargo xtask interop`")
}

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/grafi_pg.py")
}

/// SQLAlchemy 2 wants `postgresql://`.
fn sqlalchemy_url(url: &str) -> String {
    match url.strip_prefix("postgres://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => url.to_owned(),
    }
}

/// Runs `grafi_pg.py ARGS`; returns stdout, panics with both streams on failure.
fn grafi(args: &[&str]) -> String {
    let output = Command::new(python())
        .arg(harness())
        .args(args)
        .output()
        .expect("run grafi_pg.py");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "grafi_pg.py {args:?} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    println!("grafi_pg.py {}: {}", args[0], stdout.trim());
    stdout
}

fn write_jsonl(events: &[Event]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "grafi-interop-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// grafi creates the table and writes the corpus; the Rust store serves it as it is (no DDL), reads every row,
/// appends; grafi then reads everything (its events and ours) back.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.24 venv: cargo xtask interop"]
async fn grafi_writes_rust_reads_and_appends_grafi_reads_all() {
    let db = ScratchDb::new().await;
    let py_url = sqlalchemy_url(&db.url);
    let corpus_file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/grafi-0.0.24/events.jsonl");
    grafi(&[
        "write",
        "--db",
        &py_url,
        "--jsonl",
        corpus_file.to_str().unwrap(),
    ]);

    let store = builder(&db).connect().await.expect("open grafi's table");
    let corpus = grafi_corpus();
    let stored = store.get_events().await.unwrap();
    assert_eq!(stored.len(), corpus.len());
    for (s, e) in stored.iter().zip(&corpus) {
        assert!(s.builtin_type().is_some(), "{} came back raw", e.event_id());
        assert!(same_event(s, e), "{} differs", e.event_id());
    }
    let ours = agent_trace("conv-rust-after-grafi", 3, 3_000_000_000);
    assert_eq!(
        store.record_events(ours.clone()).await.unwrap().recorded,
        ours.len()
    );

    let mut everything = corpus.clone();
    everything.extend(ours);
    let file = write_jsonl(&everything);
    let out = grafi(&["check", "--db", &py_url, "--jsonl", file.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "{} matched, 0 mismatched, 0 missing",
            everything.len()
        )),
        "{out}"
    );
    let read_out = std::env::temp_dir().join(format!("grafi-read-{}.jsonl", db.name));
    grafi(&["read", "--db", &py_url, "--out", read_out.to_str().unwrap()]);
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(read_out);
    drop(store);
}

/// The Rust store creates the table (migrations) and writes; grafi reads every event back.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.24 venv: cargo xtask interop"]
async fn rust_writes_grafi_reads() {
    let db = ScratchDb::new().await;
    let store = builder(&db).connect().await.unwrap();
    let mut events = grafi_corpus();
    events.extend(agent_trace("conv-rust", 4, 0));
    store.record_events(events.clone()).await.unwrap();
    let file = write_jsonl(&events);
    let py_url = sqlalchemy_url(&db.url);
    let out = grafi(&["check", "--db", &py_url, "--jsonl", file.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "{} matched, 0 mismatched, 0 missing",
            events.len()
        )),
        "{out}"
    );
    let read_out = std::env::temp_dir().join(format!("grafi-read-{}.jsonl", db.name));
    grafi(&["read", "--db", &py_url, "--out", read_out.to_str().unwrap()]);
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(read_out);
    drop(store);
}
