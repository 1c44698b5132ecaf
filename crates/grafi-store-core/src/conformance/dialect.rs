//! The grafi dialect the suite's generated events are written in, so one suite runs unchanged
//! on a backend (or a table) that holds either dialect.
//!
//! A test binary names its dialect once (the macros' `dialect:` argument); it is a process
//! global because clauses spawn tasks and threads that a task-local would not reach, and each
//! test binary is a process of its own.

use std::sync::OnceLock;

use grafi_events::{Dialect, Event};

static SUITE_DIALECT: OnceLock<Dialect> = OnceLock::new();

/// Sets the dialect of this test binary's generated events (the macros call it).
///
/// # Panics
/// When the binary already runs the suite in another dialect: give each dialect its own test
/// file.
pub fn set_suite_dialect(dialect: Dialect) {
    let set = *SUITE_DIALECT.get_or_init(|| dialect);
    assert_eq!(
        set, dialect,
        "one suite dialect per test binary: run the other dialect from another test file"
    );
}

/// The dialect generated events are written in: 0.0.24 unless the binary named another.
pub fn suite_dialect() -> Dialect {
    SUITE_DIALECT.get().copied().unwrap_or_default()
}

/// `event`, built by grafi-events' constructors (which write 0.0.24), in the suite's dialect.
///
/// For grafi 0.0.36: [`Event::into_grafi_0_0_36`] (the embedded events' ids derive from the
/// event's, so a fixture stays deterministic).
pub fn in_suite_dialect(event: Event) -> Event {
    match suite_dialect() {
        Dialect::V0_0_36 => event.into_grafi_0_0_36(),
        _ => event,
    }
}

/// [`in_suite_dialect`] for a batch.
pub fn all_in_suite_dialect(events: Vec<Event>) -> Vec<Event> {
    events.into_iter().map(in_suite_dialect).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::agent_trace;

    /// The conversion writes what grafi 0.0.36 can read: every event fits its dialect's
    /// shapes and decodes back to itself from its document.
    #[test]
    fn a_trace_in_0_0_36_fits_the_dialect_and_round_trips() {
        let trace: Vec<Event> = agent_trace("c", 2, 0)
            .into_iter()
            .map(Event::into_grafi_0_0_36)
            .collect();
        for event in &trace {
            assert_eq!(event.dialect(), Some(Dialect::V0_0_36));
            assert_eq!(event.shape_error(), None, "{}", event.event_type());
            let back = grafi_events::decode_str(&event.to_json()).unwrap();
            assert_eq!(&back, event);
        }
    }
}
