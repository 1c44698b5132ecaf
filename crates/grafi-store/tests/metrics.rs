//! With the `metrics` feature, stores opened by the facade count and time their calls.
#![cfg(feature = "metrics")]

use grafi_store::grafi_events::{ComponentInfo, Event, InvokeContext};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A recorded metric: its name, its labels, its value.
type Recorded = (String, Vec<(String, String)>, DebugValue);

fn counter(snapshot: &[Recorded], name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, value)| match value {
            DebugValue::Counter(c) => *c,
            _ => 0,
        })
        .sum()
}

#[test]
fn calls_outcomes_and_events_are_counted_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = grafi_store::open("memory:").await.unwrap();
                let event = Event::tool_invoke(
                    InvokeContext::new("c", "r"),
                    ComponentInfo::new("t", "T"),
                    &[],
                );
                let mut bad = event.clone();
                bad.meta_mut().unwrap().event_id = String::new();
                store
                    .record_events(vec![event.clone(), event])
                    .await
                    .unwrap();
                assert!(store.record_event(bad).await.is_err());
                assert_eq!(store.get_conversation_events("c").await.unwrap().len(), 1);
            });
    });
    let snapshot: Vec<Recorded> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    let memory = ("backend", "memory");
    assert_eq!(
        counter(
            &snapshot,
            "grafi_store_calls_total",
            &[memory, ("operation", "record_events"), ("outcome", "ok")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "grafi_store_calls_total",
            &[memory, ("operation", "record_events"), ("outcome", "error")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "grafi_store_call_errors_total",
            &[("kind", "invalid_event"), ("retryable", "false")]
        ),
        1
    );
    assert_eq!(
        counter(&snapshot, "grafi_store_events_recorded_total", &[memory]),
        1
    );
    assert_eq!(
        counter(&snapshot, "grafi_store_events_duplicate_total", &[memory]),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "grafi_store_events_read_total",
            &[("operation", "get_conversation_events")]
        ),
        1
    );
    let timed = snapshot.iter().any(|(n, l, v)| {
        n == "grafi_store_call_duration_seconds"
            && l.iter()
                .any(|(k, v)| k == "operation" && v == "get_conversation_events")
            && matches!(v, DebugValue::Histogram(h) if h.len() == 1)
    });
    assert!(timed, "no latency recorded");
}
