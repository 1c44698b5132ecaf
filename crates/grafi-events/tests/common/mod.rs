//! What several test files share: the real grafi 0.0.24 and 0.0.36 corpora.

/// The corpus documents, one JSON text per line.
pub fn corpus_lines() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/grafi-0.0.24/events.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("fixture corpus")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The grafi 0.0.36 corpus documents, one JSON text per line.
#[allow(dead_code)]
pub fn corpus36_lines() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/grafi-0.0.36/events.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("fixture corpus")
        .lines()
        .map(str::to_owned)
        .collect()
}
