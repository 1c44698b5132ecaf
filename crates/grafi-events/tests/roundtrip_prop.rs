//! Property: generated events (any strings, kwargs, offsets, timestamps) round-trip through
//! the wire format unchanged.

use grafi_events::{
    decode_str, ComponentInfo, ConsumeFromTopic, Dialect, Event, InvokeContext, Message, NodeInfo,
    Timestamp,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

prop_compose! {
    fn invoke_context()(conv in any::<String>(), req in any::<String>(), user in proptest::option::of(any::<String>()),
                        kwargs in prop::collection::btree_map(any::<String>(), json_value(), 0..5)) -> InvokeContext {
        let mut ctx = InvokeContext::new(conv, req);
        ctx.user_id = user;
        ctx.kwargs = Some(kwargs.into_iter().collect());
        ctx
    }
}

prop_compose! {
    fn message()(role in "[a-z]{1,10}", text in any::<String>(), streaming in any::<bool>()) -> Message {
        let mut m = Message::new(role, text);
        m.is_streaming = streaming;
        m
    }
}

fn event() -> impl Strategy<Value = Event> {
    (
        invoke_context(),
        prop::collection::vec(message(), 0..4),
        any::<String>(),
        any::<i64>(),
        0i64..253_402_300_799,
        0u32..1_000_000,
        0u8..8,
    )
        .prop_map(|(ctx, msgs, name, offset, secs, micros, kind)| {
            let c = ComponentInfo::new(name.clone(), "T");
            let mut e = match kind {
                0 => Event::assistant_invoke(ctx, c, &msgs),
                1 => Event::workflow_respond(ctx, c, &msgs, &msgs),
                2 => Event::tool_failed(ctx, c, &msgs, name),
                3 => {
                    let consumed =
                        ConsumeFromTopic::new(ctx.clone(), (&name, "N"), (&name, offset), &msgs);
                    Event::node_invoke(ctx, NodeInfo::new(name.clone(), "LLMNode"), vec![consumed])
                }
                4 => Event::publish_to_topic(
                    ctx,
                    (&name, "N"),
                    (&name, offset),
                    vec![name.clone()],
                    &msgs,
                ),
                5 => Event::ConsumeFromTopic(ConsumeFromTopic::new(
                    ctx,
                    (&name, "N"),
                    (&name, offset),
                    &msgs,
                )),
                6 => Event::output_topic(ctx, (&name, "N"), (&name, offset), vec![], &msgs),
                _ => Event::node_failed(ctx, NodeInfo::new(name.clone(), "N"), vec![], name),
            };
            let instant = chrono::DateTime::from_timestamp(secs, micros * 1000).unwrap();
            e.meta_mut().unwrap().timestamp = Timestamp::from_utc(instant);
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_events_round_trip(e in event()) {
        let json = e.to_json();
        prop_assert!(json.is_ascii(), "json.dumps escapes everything outside ASCII");
        let back = decode_str(&json).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.to_json(), json);
        for list in back.input_messages().into_iter().chain(back.output_messages()) {
            prop_assert!(list.decode().is_ok());
        }
    }

    /// The same events laid out as grafi 0.0.36 records them, with an `error_details` object
    /// on failures: decoded in their dialect, equal, byte for byte.
    #[test]
    fn generated_0_0_36_events_round_trip(e in event(), details in proptest::option::of(json_value())) {
        let mut e = e.into_grafi_0_0_36();
        if let Event::ToolFailed(f) | Event::AssistantFailed(f) | Event::WorkflowFailed(f) = &mut e {
            f.error_details = details;
        }
        if let Event::NodeFailed(f) = &mut e {
            f.error_details = Some(serde_json::json!({"error_type": "ValueError"}));
        }
        prop_assert_eq!(e.shape_error(), None);
        let json = e.to_json();
        prop_assert!(json.is_ascii());
        let back = decode_str(&json).unwrap();
        prop_assert_eq!(back.dialect(), Some(Dialect::V0_0_36));
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.to_json(), json);
    }
}
