//! Compatibility with the real Python grafi 0.0.24, both ways, through `interop/grafi_pg.py`.
//!
//! Needs the venv that `interop/setup.sh` builds, so these tests are `#[ignore]`d in a plain
//! `cargo test`; `cargo xtask interop` builds the venv and runs them with `GRAFI_PYTHON` set.

mod common;
#[path = "common/grafi_python.rs"]
mod grafi_python;

use std::path::PathBuf;

use common::{builder, ScratchDb};
use grafi_python::{sqlalchemy_url, Harness};
use grafi_store_core::conformance::{agent_trace, grafi_corpus, same_event};
use grafi_store_core::EventStore;

const GRAFI: Harness = Harness {
    env: "GRAFI_PYTHON",
    script: "grafi_pg.py",
};

fn grafi(args: &[&str]) -> String {
    GRAFI.run(args)
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
    GRAFI.check_and_read(&py_url, &everything, &[]);
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
    let py_url = sqlalchemy_url(&db.url);
    GRAFI.check_and_read(&py_url, &events, &[]);
    drop(store);
}

/// grafi writes the corpus into its own table; after `migrate run` the Rust store erases a
/// user: no row's text names them, and grafi reads the rest as before. grafi knows nothing of
/// the ledger: when it writes the erased events again they are stored again (what
/// docs/privacy.md tells operators), and a second erasure removes them.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grafi 0.0.24 venv: cargo xtask interop"]
async fn grafi_writes_rust_erases_a_user_grafi_reads_the_rest() {
    use grafi_store_core::lifecycle::select_erased;
    use grafi_store_core::Erasure;
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
    grafi_store_diesel::migrate::run_pending_migrations(&db.url, None)
        .await
        .unwrap();
    let store = builder(&db).connect().await.unwrap();
    let corpus = grafi_corpus();
    let user = "u_7f3a9c";
    let erased = select_erased(&Erasure::User(user.into()), &corpus);
    assert_eq!(
        store.erase_user(user).await.unwrap().events as usize,
        erased.len()
    );
    let naming = "SELECT count(*) FROM events e WHERE strpos(e::text, 'u_7f3a9c') > 0";
    assert_eq!(common::scalar(&db.url, naming).await, "0");
    let rest: Vec<_> = (0..corpus.len())
        .filter(|i| !erased.contains(i))
        .map(|i| corpus[i].clone())
        .collect();
    GRAFI.check_and_read(&py_url, &rest, &[]);

    let again: Vec<_> = erased.iter().map(|&i| corpus[i].clone()).collect();
    let file = grafi_python::write_jsonl(&again);
    grafi(&["write", "--db", &py_url, "--jsonl", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(file);
    assert_ne!(common::scalar(&db.url, naming).await, "0");
    assert_eq!(
        store.erase_user(user).await.unwrap().events as usize,
        erased.len()
    );
    assert_eq!(common::scalar(&db.url, naming).await, "0");
    drop(store);
}
