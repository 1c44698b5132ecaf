//! The event decoder on arbitrary input: it never panics; its fast path and its general path
//! (through a `serde_json::Value` document) give the same answer; and an event it accepts
//! re-encodes to a document that decodes to an equal event (and re-encodes to the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = grafi_events::decode_str(text);
    // `decode_str` takes the fast path when it can; `decode_value` never does.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let general = grafi_events::EventRegistry::builtin().decode_value(value);
        match (&decoded, &general) {
            (Ok(fast), Ok(general)) => assert_eq!(fast, general, "the two paths differ\n{text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("one path accepts, the other refuses\n{text}\n{decoded:?}\n{general:?}"),
        }
    }
    let Ok(event) = decoded else {
        return;
    };
    let json = event.to_json();
    let again = grafi_events::decode_str(&json)
        .unwrap_or_else(|e| panic!("re-encoded event does not decode: {e}\n{json}"));
    assert_eq!(again, event, "re-decoded event differs\n{json}");
    assert_eq!(again.to_json(), json, "re-encoding is not stable");
});
