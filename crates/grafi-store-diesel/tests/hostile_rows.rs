//! Rows other clients put in the shared `events` table, written with plain SQL: ids of zero
//! and below, timestamps no instant here can hold, `extra` values of any shape, JSON that no
//! JSON value can hold. Every one comes back from every read (raw, with its reason, where it
//! does not decode), and its neighbours are unchanged.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{scalar, setup};
use grafi_events::Event;
use grafi_store_core::conformance::{assert_same_event, simple_events};
use grafi_store_core::EventStore;

/// One hostile row: an id, the event id, and SQL expressions overriding a template row's
/// columns; `raw_path` is the field the reason must name (`None`: the row decodes).
struct Hostile {
    id: &'static str,
    event_id: &'static str,
    timestamp: &'static str,
    extra: &'static str,
    data: &'static str,
    event_context: &'static str,
    raw_path: Option<&'static str>,
}

const fn row(id: &'static str, event_id: &'static str) -> Hostile {
    Hostile {
        id,
        event_id,
        timestamp: "\"timestamp\"",
        extra: "NULL",
        data: "data",
        event_context: "event_context",
        raw_path: None,
    }
}

fn hostile_rows() -> Vec<Hostile> {
    vec![
        row("0", "id-zero"),
        row("-5", "id-negative"),
        row("-9223372036854775808", "id-min"),
        Hostile {
            timestamp: "'infinity'",
            raw_path: Some("timestamp"),
            ..row("1000001", "ts-infinity")
        },
        Hostile {
            timestamp: "'-infinity'",
            raw_path: Some("timestamp"),
            ..row("1000002", "ts-minus-infinity")
        },
        Hostile {
            timestamp: "'270000-01-01 00:00:00'",
            raw_path: Some("timestamp"),
            ..row("1000003", "ts-beyond-chrono")
        },
        Hostile {
            timestamp: "'10000-01-01 00:00:00'",
            raw_path: Some("timestamp"),
            ..row("1000013", "ts-year-10000")
        },
        Hostile {
            timestamp: "'0044-03-15 12:00:00 BC'",
            raw_path: Some("timestamp"),
            ..row("1000014", "ts-before-christ")
        },
        Hostile {
            extra: "'\"a string\"'",
            raw_path: Some("extra"),
            ..row("1000004", "extra-string")
        },
        Hostile {
            extra: "'{\"top\": {\"event_id\": 5}}'",
            raw_path: Some("extra"),
            ..row("1000005", "extra-overrides-id")
        },
        Hostile {
            extra: "'{\"absent\": [\"event_id\"]}'",
            raw_path: Some("extra"),
            ..row("1000006", "extra-drops-id")
        },
        Hostile {
            extra: "'{\"top\": {\"timestamp\": \"garbage\"}}'",
            raw_path: Some("extra"),
            ..row("1000007", "extra-bad-timestamp")
        },
        Hostile {
            extra: "'{\"order\": 5}'",
            raw_path: Some("extra"),
            ..row("1000008", "extra-bad-order")
        },
        Hostile {
            extra: "'[1, 2]'",
            raw_path: Some("extra"),
            ..row("1000009", "extra-list")
        },
        Hostile {
            data: "'{\"text\":  \"\\ud800 lone\",\n \"n\": 1.50}'",
            raw_path: Some("data"),
            ..row("1000010", "data-lone-surrogate")
        },
        Hostile {
            data: "(repeat('[', 300) || repeat(']', 300))::json",
            raw_path: Some("data"),
            ..row("1000011", "data-too-deep")
        },
        Hostile {
            event_context: "event_context || jsonb_build_object('deep', (repeat('[', 300) || repeat(']', 300))::jsonb)",
            raw_path: Some("event_context"),
            ..row("1000012", "context-too-deep")
        },
    ]
}

/// Every read gives back every row: the hostile ones (raw where they do not decode, naming
/// the field) and the store's own neighbours unchanged; paging visits ids of any sign.
#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_row_comes_back_from_every_read_and_spares_its_neighbours() {
    let store = setup().await;
    let neighbours = simple_events("conv-h", "req-h", 6);
    store.record_events(neighbours.clone()).await.unwrap();
    let template = neighbours[0].event_id().to_owned();
    let hostile = hostile_rows();
    for h in &hostile {
        store
            .db
            .sql(&format!(
                "INSERT INTO events (id, event_id, conversation_id, assistant_request_id, \
                 event_type, event_context, data, \"timestamp\", extra) \
                 SELECT {}, '{}', conversation_id, assistant_request_id, event_type, {}, {}, {}, {} \
                 FROM events WHERE event_id = '{template}'",
                h.id, h.event_id, h.event_context, h.data, h.timestamp, h.extra
            ))
            .await;
    }
    let count: usize = scalar(&store.db.url, "SELECT count(*) FROM events")
        .await
        .parse()
        .unwrap();
    assert_eq!(count, neighbours.len() + hostile.len());

    // All at once, page by page (small pages, so cursors cross zero), by conversation.
    let all = store.get_events().await.unwrap();
    assert_eq!(all.len(), count);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.get_events_page(after, 4).await.unwrap();
        paged.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(ids(&paged), ids(&all), "pages and the whole read disagree");
    let conversation = store.get_conversation_events("conv-h").await.unwrap();
    assert_eq!(ids(&conversation), ids(&all));
    let request = store.get_agent_events("req-h").await.unwrap();
    assert_eq!(ids(&request), ids(&all));
    // Recording order is id order: the rows with ids at or below zero come first.
    assert_eq!(
        &ids(&all)[..3],
        &["id-min", "id-negative", "id-zero"],
        "ordered by id"
    );

    let by_id: HashMap<&str, &Arc<Event>> = all.iter().map(|e| (e.event_id(), e)).collect();
    for event in &neighbours {
        assert_same_event(by_id[event.event_id()], event);
    }
    for h in &hostile {
        let event = by_id[h.event_id];
        let single = store.get_event(h.event_id).await.unwrap().unwrap();
        assert_eq!(*single, **event, "{}: get_event differs", h.event_id);
        match (h.raw_path, &**event) {
            (None, Event::Raw(raw)) => {
                panic!("{}: came back raw: {:?}", h.event_id, raw.decode_error)
            }
            (None, _) => {}
            (Some(path), Event::Raw(raw)) => {
                let reason = raw
                    .decode_error
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: raw without a reason", h.event_id));
                assert_eq!(reason.path, path, "{}: {reason}", h.event_id);
                assert_eq!(reason.event_id.as_deref(), Some(h.event_id));
                assert_eq!(raw.event_type, "ToolInvoke");
                // Read from `event_context`, unless that is only held as text.
                let conversation = if path == "event_context" {
                    ""
                } else {
                    "conv-h"
                };
                assert_eq!(raw.conversation_id, conversation, "{}", h.event_id);
            }
            (Some(_), other) => panic!("{}: decoded as {}", h.event_id, other.event_type()),
        }
    }

    // Timestamps come back as PostgreSQL's text for them.
    for (id, text) in [
        ("ts-infinity", "\"timestamp\": \"infinity\""),
        ("ts-minus-infinity", "\"timestamp\": \"-infinity\""),
        (
            "ts-beyond-chrono",
            "\"timestamp\": \"270000-01-01T00:00:00+00:00\"",
        ),
    ] {
        let json = by_id[id].to_json();
        assert!(json.contains(text), "{id}: {json}");
    }
    // JSON that no value holds keeps its JSON type: an object and a list, not strings.
    let lone = by_id["data-lone-surrogate"].to_json();
    assert!(
        lone.contains(r#""data": {"text": "\ud800 lone", "n": 1.50}"#),
        "{lone}"
    );
    let deep = by_id["data-too-deep"].to_json();
    assert!(
        deep.contains(&format!("\"data\": {}{}", "[".repeat(300), "]".repeat(300))),
        "deep data was not kept as JSON"
    );
    let deep_context = by_id["context-too-deep"].to_json();
    assert!(deep_context.contains(&format!("\"deep\": {}", "[".repeat(300))));
    for id in ["data-lone-surrogate", "data-too-deep", "context-too-deep"] {
        // serde_json refuses exactly what made the row raw; the text is still one JSON
        // document (checked without building values).
        let json = by_id[id].to_json();
        let raw: &serde_json::value::RawValue = serde_json::from_str(&json).unwrap();
        assert!(raw.get().starts_with('{'), "{id}");
    }
}

/// An event read back raw is stored again by another store exactly as it came when it can
/// be, and refused by name when PostgreSQL or Python could not hold it.
#[tokio::test(flavor = "multi_thread")]
async fn raw_hostile_rows_copy_into_another_store_or_are_refused_by_name() {
    let source = setup().await;
    let neighbours = simple_events("conv-c", "req-c", 1);
    source.record_events(neighbours.clone()).await.unwrap();
    let template = neighbours[0].event_id();
    for (id, column, value) in [
        ("lone", "data", "'{\"t\": \"\\udc00\"}'"),
        ("inf", "\"timestamp\"", "'infinity'"),
        ("deep-ctx", "event_context", "event_context || jsonb_build_object('d', (repeat('[', 200) || repeat(']', 200))::jsonb)"),
    ] {
        source
            .db
            .sql(&format!(
                "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
                 event_context, data, \"timestamp\") SELECT '{id}', conversation_id, \
                 assistant_request_id, event_type, event_context, data, \"timestamp\" FROM events \
                 WHERE event_id = '{template}'; UPDATE events SET {column} = {value} WHERE event_id = '{id}'"
            ))
            .await;
    }
    let target = setup().await;
    let get = |id: &'static str| {
        let source = &source;
        async move { (*source.get_event(id).await.unwrap().unwrap()).clone() }
    };
    // Lone surrogate in `data`: the json column keeps it; it comes back the same.
    let lone = get("lone").await;
    assert_eq!(target.record_event(lone.clone()).await.unwrap().recorded, 1);
    let back = target.get_event("lone").await.unwrap().unwrap();
    assert_eq!(back.to_json(), lone.to_json());
    // No instant, or no JSON value jsonb can take: refused, naming the event and the field.
    for (id, needle) in [("inf", "timestamp"), ("deep-ctx", "event_context")] {
        let err = target.record_event(get(id).await).await.unwrap_err();
        assert_eq!(err.event_id(), Some(id), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

fn ids(events: &[Arc<Event>]) -> Vec<&str> {
    events.iter().map(|e| e.event_id()).collect()
}
