//! The event decoder on arbitrary input: it never panics, and an event it accepts re-encodes
//! to a document that decodes to an equal event (and re-encodes to the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = grafi_events::decode_str(text) else {
        return;
    };
    let json = event.to_json();
    let again = grafi_events::decode_str(&json)
        .unwrap_or_else(|e| panic!("re-encoded event does not decode: {e}\n{json}"));
    assert_eq!(again, event, "re-decoded event differs\n{json}");
    assert_eq!(again.to_json(), json, "re-encoding is not stable");
});
