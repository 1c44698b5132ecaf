//! Losslessness at the edges, typed errors for malformed documents, and each type's shape.

use grafi_events::{
    decode_str, ComponentInfo, ConsumeFromTopic, DecodeErrorKind, Event, EventRegistry, EventType,
    InvokeContext, Message, NodeInfo,
};
use serde_json::{json, Value};

fn ctx() -> InvokeContext {
    InvokeContext::new("conv-1", "req-1").with_user_id("alice")
}

/// A valid document of each built-in type, built with the constructors.
fn one_of_each() -> Vec<Event> {
    let c = ComponentInfo::new("C", "CType");
    let n = NodeInfo::new("N", "LLMNode");
    let m = [Message::user("hi")];
    let consumed = ConsumeFromTopic::new(ctx(), ("N", "LLMNode"), ("in", 0), &m);
    let topic = grafi_events::TopicEvent {
        meta: grafi_events::EventMeta::new(ctx()),
        topic_name: "t".into(),
        topic_type: None,
        offset: 7,
        data: grafi_events::MessageList::from_messages(&m),
    };
    vec![
        Event::assistant_invoke(ctx(), c.clone(), &m),
        Event::assistant_respond(ctx(), c.clone(), &m, &m),
        Event::assistant_failed(ctx(), c.clone(), &m, "boom"),
        Event::workflow_invoke(ctx(), c.clone(), &m),
        Event::workflow_respond(ctx(), c.clone(), &m, &m),
        Event::workflow_failed(ctx(), c.clone(), &m, "boom"),
        Event::node_invoke(ctx(), n.clone(), vec![consumed.clone()]),
        Event::node_respond(ctx(), n.clone(), vec![consumed.clone()], &m),
        Event::node_failed(ctx(), n, vec![consumed.clone()], "boom"),
        Event::tool_invoke(ctx(), c.clone(), &m),
        Event::tool_respond(ctx(), c.clone(), &m, &m),
        Event::tool_failed(ctx(), c, &m, "boom"),
        Event::TopicEvent(topic),
        Event::publish_to_topic(
            ctx(),
            ("N", "LLMNode"),
            ("out", 1),
            vec![consumed.meta.event_id.clone()],
            &m,
        ),
        Event::ConsumeFromTopic(consumed),
        Event::output_topic(ctx(), ("N", "LLMNode"), ("out", 2), vec![], &m),
    ]
}

#[test]
fn each_type_round_trips_and_reports_its_type() {
    let events = one_of_each();
    let types: Vec<EventType> = events.iter().map(|e| e.builtin_type().unwrap()).collect();
    assert_eq!(types, EventType::ALL.to_vec());
    for e in &events {
        let json = e.to_json();
        let back = decode_str(&json).unwrap();
        assert_eq!(&back, e, "{}", e.event_type());
        assert_eq!(back.to_json(), json);
        assert_eq!(e.event_id().len(), 32);
        assert_eq!(e.conversation_id(), "conv-1");
        assert_eq!(e.assistant_request_id(), "req-1");
        let doc: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(doc["event_type"], e.event_type());
        assert_eq!(doc["event_context"]["invoke_context"]["user_id"], "alice");
    }
    // Topic accessors on exactly the four topic types.
    let with_topic: Vec<&str> = events
        .iter()
        .filter(|e| e.topic().is_some())
        .map(Event::event_type)
        .collect();
    assert_eq!(
        with_topic,
        [
            "TopicEvent",
            "PublishToTopic",
            "ConsumeFromTopic",
            "OutputTopic"
        ]
    );
    assert_eq!(events[12].topic(), Some(("t", 7)));
}

#[test]
fn grafi_quirks_are_kept_in_the_typed_shape() {
    let events = one_of_each();
    let doc: Value = serde_json::from_str(&events[0].to_json()).unwrap();
    assert!(
        doc["data"]["input_data"].is_string(),
        "message lists are JSON strings"
    );
    let node: Value = serde_json::from_str(&events[6].to_json()).unwrap();
    assert_eq!(
        node["data"]["input_data"][0]["event_type"], "ConsumeFromTopic",
        "node input embeds consume documents"
    );
    let publish = events[13].to_json();
    assert!(
        publish.starts_with("{\"event_context\": "),
        "PublishToTopic writes event_context first"
    );
    let output = events[15].to_json();
    assert!(
        output.starts_with("{\"event_id\": "),
        "OutputTopic does not"
    );
    let failed: Value = serde_json::from_str(&events[2].to_json()).unwrap();
    assert_eq!(failed["data"]["error"], "boom");
}

/// Builds a document from one corpus-like template with `kwargs` replaced.
fn tool_doc_with_kwargs(kwargs: &str) -> String {
    format!(
        concat!(
            r#"{{"event_id": "e-1", "event_version": "1.0", "assistant_request_id": "r", "event_type": "ToolInvoke", "#,
            r#""timestamp": "2025-07-08T09:14:27+00:00", "event_context": {{"tool_id": "t", "tool_name": "n", "#,
            r#""tool_type": "T", "invoke_context": {{"conversation_id": "c", "invoke_id": "i", "#,
            r#""assistant_request_id": "r", "user_id": "u", "kwargs": {}}}}}, "data": {{"input_data": "[]"}}}}"#
        ),
        kwargs
    )
}

#[test]
fn numbers_keep_their_exact_text() {
    let kwargs = r#"{"big": 123456789012345678901234567890, "neg_zero": -0.0, "tiny": 5e-324, "huge": 1e+21, "u64max": 18446744073709551615, "i64min": -9223372036854775808, "pi": 3.141592653589793}"#;
    let doc = tool_doc_with_kwargs(kwargs);
    let event = decode_str(&doc).unwrap();
    assert_eq!(event.to_json(), doc);
}

#[test]
fn strings_with_control_characters_and_astral_planes_survive() {
    let kwargs =
        r#"{"s": "NUL \u0000 BEL \u0007 DEL \u007f \ud83d\ude00 \u00e9 \u2028 \"q\" \\ /"}"#;
    let doc = tool_doc_with_kwargs(kwargs);
    let event = decode_str(&doc).unwrap();
    assert_eq!(event.to_json(), doc);
    let kw = event.invoke_context().unwrap().kwargs.as_ref().unwrap();
    assert_eq!(kw["s"].as_str().unwrap().chars().next_back(), Some('/'));
    assert!(kw["s"].as_str().unwrap().contains('\u{0}'));
}

/// DEL is printable for serde_json but not for `ensure_ascii`; with only plain ASCII around
/// it, it is found by the formatter's fast check alone.
#[test]
fn del_among_plain_ascii_is_escaped_as_python_does() {
    assert_eq!(
        grafi_events::python_json::to_string(&"plain \u{7f} text".into()),
        r#""plain \u007f text""#
    );
    let doc = tool_doc_with_kwargs(r#"{"s": "plain \u007f text", "t": "\u007f"}"#);
    assert_eq!(decode_str(&doc).unwrap().to_json(), doc);
}

#[test]
fn deep_nesting_within_the_parser_limit_round_trips() {
    let depth = 60; // 120 levels + 3 of envelope: just under serde_json's limit of 128
    let kwargs = format!("{}1{}", r#"{"a": ["#.repeat(depth), "]}".repeat(depth));
    let doc = tool_doc_with_kwargs(&kwargs);
    assert_eq!(decode_str(&doc).unwrap().to_json(), doc);
}

#[test]
fn nesting_beyond_the_parser_limit_is_a_typed_error() {
    let kwargs = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let err = decode_str(&tool_doc_with_kwargs(&format!(r#"{{"x": {kwargs}}}"#))).unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::InvalidJson(_)), "{err}");
}

#[test]
fn unknown_fields_are_kept_everywhere() {
    let doc = json!({
        "event_id": "e-2", "event_version": "1.0", "assistant_request_id": "r", "event_type": "AssistantRespond",
        "timestamp": "2025-07-08T09:14:27.000001+00:00",
        "event_context": {"assistant_id": "a", "assistant_name": "n", "assistant_type": "T", "future_ctx": [1],
            "invoke_context": {"conversation_id": "c", "invoke_id": "i", "assistant_request_id": "r", "user_id": null,
                "kwargs": null, "tenant": "acme"}},
        "data": {"input_data": "[]", "output_data": "[]", "usage": {"tokens": 12}},
        "trace_id": "abc"
    });
    let event = EventRegistry::builtin().decode_value(doc.clone()).unwrap();
    assert!(matches!(event, Event::AssistantRespond(_)));
    assert_eq!(event.to_value(), doc);
    let meta = event.meta().unwrap();
    assert_eq!(meta.unknown.top["trace_id"], "abc");
    assert_eq!(meta.unknown.data["usage"]["tokens"], 12);
    assert_eq!(meta.invoke_context.extra["tenant"], "acme");
    assert_eq!(meta.invoke_context.user_id, None);
}

#[test]
fn malformed_documents_name_the_event_and_the_field() {
    let cases = [
        (
            tool_doc_with_kwargs("{}").replace(r#""tool_name": "n", "#, ""),
            "event_context.tool_name",
            "missing",
        ),
        (
            tool_doc_with_kwargs("{}")
                .replace(r#""conversation_id": "c""#, r#""conversation_id": 7"#),
            "event_context.invoke_context.conversation_id",
            "expected string, found number",
        ),
        (
            tool_doc_with_kwargs("[]"),
            "event_context.invoke_context.kwargs",
            "expected object or null",
        ),
        (
            tool_doc_with_kwargs("{}").replace("2025-07-08T09:14:27+00:00", "infinity"),
            "timestamp",
            "not an ISO-8601",
        ),
        (
            tool_doc_with_kwargs("{}").replace(r#""input_data": "[]""#, r#""input_data": []"#),
            "data.input_data",
            "expected string",
        ),
    ];
    for (doc, path, message) in cases {
        let err = decode_str(&doc).unwrap_err();
        assert_eq!(err.event_id.as_deref(), Some("e-1"), "{err}");
        assert_eq!(err.path, path, "{err}");
        assert!(err.to_string().contains(message), "{err}");
        assert!(err.to_string().contains("\"e-1\""), "{err}");
    }
    let err = decode_str("{not json").unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::InvalidJson(_)));
    let err = decode_str("[1, 2]").unwrap_err();
    assert!(err.to_string().contains("expected object"), "{err}");
    let err = decode_str(r#"{"event_id": "x"}"#).unwrap_err();
    assert_eq!(
        (err.path.as_str(), err.event_id.as_deref()),
        ("event_type", Some("x"))
    );
}

#[test]
fn errors_inside_embedded_consume_events_have_full_paths() {
    let events = one_of_each();
    let mut doc: Value = serde_json::from_str(&events[6].to_json()).unwrap();
    doc["data"]["input_data"][0]["event_context"]["offset"] = json!("zero");
    let err = EventRegistry::builtin().decode_value(doc).unwrap_err();
    assert_eq!(err.path, "data.input_data[0].event_context.offset");
    assert_eq!(err.event_id.as_deref(), Some(events[6].event_id()));
}

#[test]
fn unregistered_types_decode_raw_and_lenient_decoding_keeps_broken_rows() {
    let doc = tool_doc_with_kwargs("{}").replace("ToolInvoke", "ToolRetried");
    let event = decode_str(&doc).unwrap();
    assert!(matches!(&event, Event::Raw(r) if r.decode_error.is_none()));
    assert_eq!(
        (
            event.event_type(),
            event.conversation_id(),
            event.assistant_request_id()
        ),
        ("ToolRetried", "c", "r")
    );
    assert_eq!(event.to_json(), doc);

    let broken = tool_doc_with_kwargs("[]");
    let map = match serde_json::from_str::<Value>(&broken).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let kept = EventRegistry::builtin().decode_map_lenient(map).unwrap();
    match &kept {
        Event::Raw(r) => assert_eq!(
            r.decode_error.as_ref().unwrap().path,
            "event_context.invoke_context.kwargs"
        ),
        other => panic!("expected raw, got {other:?}"),
    }
    assert_eq!(kept.to_json(), broken);
}

#[test]
fn an_empty_registry_keeps_everything_raw() {
    let event = one_of_each().remove(0);
    let raw = EventRegistry::empty().decode_str(&event.to_json()).unwrap();
    assert!(matches!(raw, Event::Raw(_)));
    assert_eq!(raw.to_json(), event.to_json());
    assert_eq!(raw.utc(), event.utc());
}

#[test]
fn messages_decode_into_typed_fields() {
    let mut m = Message::tool("call_1", "{\"temp\": 31}");
    m.name = Some("weather".into());
    m.tool_calls = Some(
        json!([{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]),
    );
    let list = grafi_events::MessageList::from_messages(&[m.clone(), Message::assistant("ok")]);
    let back = list.decode().unwrap();
    assert_eq!(back[0], m);
    assert_eq!(back[0].role, "tool");
    assert_eq!(back[1].content.as_text(), Some("ok"));
    let single = grafi_events::MessageList::from_json(
        list.decode()
            .map(|v| grafi_events::python_json::to_string(&serde_json::to_value(&v[1]).unwrap()))
            .unwrap(),
    );
    assert_eq!(
        single.decode().unwrap().len(),
        1,
        "grafi accepts a single message object"
    );
}
