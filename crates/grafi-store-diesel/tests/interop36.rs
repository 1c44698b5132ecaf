//! Compatibility with the real Python grafi 0.0.36, both ways, through
//! `interop/grafi36_pg.py` (grafi 0.0.36's own async PostgreSQL store).
//!
//! Needs the venv that `interop/setup36.sh` builds, so these tests are `#[ignore]`d in a plain
//! `cargo test`; `cargo xtask interop` builds it and runs them with `GRAFI36_PYTHON` set.

mod common;
#[path = "common/grafi_python.rs"]
mod grafi_python;

use std::path::PathBuf;

use common::{builder, ScratchDb};
use grafi_events::{Dialect, Event};
use grafi_python::{sqlalchemy_url, Harness};
use grafi_store_core::conformance::{agent_trace, grafi_036_corpus, same_event, set_suite_dialect};
use grafi_store_core::EventStore;

const GRAFI: Harness = Harness {
    env: "GRAFI36_PYTHON",
    script: "grafi36_pg.py",
};

fn grafi(args: &[&str]) -> String {
    GRAFI.run(args)
}

fn corpus_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/grafi-0.0.36/events.jsonl")
}

/// Events a Rust service records beside grafi 0.0.36's: a generated trace in 0.0.36's shape.
fn rust_events(conversation: &str) -> Vec<Event> {
    set_suite_dialect(Dialect::V0_0_36);
    let events = agent_trace(conversation, 3, 5_000);
    assert!(events.iter().all(|e| e.dialect() == Some(Dialect::V0_0_36)));
    events
}

/// grafi 0.0.36 creates its table and writes the corpus; the Rust store detects the layout,
/// reads every row back typed and exact, appends; grafi then reads everything, ours included.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.36 venv: cargo xtask interop"]
async fn grafi_writes_rust_reads_and_appends_grafi_reads_all() {
    let db = ScratchDb::new().await;
    let py_url = sqlalchemy_url(&db.url);
    grafi(&[
        "write",
        "--db",
        &py_url,
        "--jsonl",
        corpus_file().to_str().unwrap(),
    ]);

    let store = builder(&db)
        .connect()
        .await
        .expect("open grafi 0.0.36's table");
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    let corpus = grafi_036_corpus();
    let stored = store.get_events().await.unwrap();
    assert_eq!(stored.len(), corpus.len());
    for (s, e) in stored.iter().zip(&corpus) {
        assert!(s.builtin_type().is_some(), "{} came back raw", e.event_id());
        assert!(same_event(s, e), "{} differs", e.event_id());
    }
    let ours = rust_events("conv-rust-after-grafi36");
    assert_eq!(
        store.record_events(ours.clone()).await.unwrap().recorded,
        ours.len()
    );

    let mut everything = corpus.clone();
    everything.extend(ours);
    GRAFI.check_and_read(&py_url, &everything, &[]);
    drop(store);
}

/// The Rust store creates grafi 0.0.36's table and writes the corpus and a trace of its own
/// (the INSERT path and the COPY path); grafi 0.0.36 reads every event back, its columns
/// exactly as grafi writes them (`--strict`: the timestamp column is the wall clock).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.36 venv: cargo xtask interop"]
async fn rust_writes_grafi_reads() {
    let db = ScratchDb::new().await;
    let store = builder(&db)
        .dialect(Dialect::V0_0_36)
        .connect()
        .await
        .unwrap();
    let mut events = grafi_036_corpus();
    events.extend(rust_events("conv-rust36"));
    // One at a time (INSERT) for the first ten, the rest in one batch (COPY).
    for e in &events[..10] {
        store.record_events(vec![e.clone()]).await.unwrap();
    }
    store.record_events(events[10..].to_vec()).await.unwrap();
    let py_url = sqlalchemy_url(&db.url);
    GRAFI.check_and_read(&py_url, &events, &["--strict"]);
    drop(store);
}

/// The same with grafi 0.0.36, whose events embed the documents they consumed: after the
/// Rust store erases a user, no row's text names them, and grafi reads the rest.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.36 venv: cargo xtask interop"]
async fn grafi_writes_rust_erases_a_user_grafi_reads_the_rest() {
    use grafi_store_core::lifecycle::select_erased;
    use grafi_store_core::Erasure;
    let db = ScratchDb::new().await;
    let py_url = sqlalchemy_url(&db.url);
    grafi(&[
        "write",
        "--db",
        &py_url,
        "--jsonl",
        corpus_file().to_str().unwrap(),
    ]);
    grafi_store_diesel::migrate::run_pending_migrations(&db.url, None)
        .await
        .unwrap();
    let store = builder(&db).connect().await.unwrap();
    let corpus = grafi_036_corpus();
    let user = "u_4c1e88";
    let erased = select_erased(&Erasure::User(user.into()), &corpus);
    assert!(!erased.is_empty());
    assert_eq!(
        store.erase_user(user).await.unwrap().events as usize,
        erased.len()
    );
    let naming = "SELECT count(*) FROM events e WHERE strpos(e::text, 'u_4c1e88') > 0";
    assert_eq!(common::scalar(&db.url, naming).await, "0");
    let rest: Vec<Event> = (0..corpus.len())
        .filter(|i| !erased.contains(i))
        .map(|i| corpus[i].clone())
        .collect();
    GRAFI.check_and_read(&py_url, &rest, &[]);
    drop(store);
}
