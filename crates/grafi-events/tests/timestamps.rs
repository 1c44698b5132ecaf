//! `Timestamp::parse` against Python's `datetime.fromisoformat`: a table of what CPython 3.15.2
//! (its C implementation) answered, and generated texts in the forms it accepts.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use grafi_events::{DecodeErrorKind, Timestamp};
use proptest::prelude::*;

/// Text, and the UTC instant `datetime.fromisoformat` gives for it (`None`: `ValueError`),
/// naive read as UTC, written as `%Y-%m-%dT%H:%M:%S%.6f`. Collected with CPython 3.15.2.
const CPYTHON_3_15: &[(&str, Option<&str>)] = &[
    (
        "2025-07-08T09:14:27.318683+00:00",
        Some("2025-07-08T09:14:27.318683"),
    ),
    (
        "2025-07-08T09:14:27+00:00",
        Some("2025-07-08T09:14:27.000000"),
    ),
    (
        "2025-07-08T09:14:27.318683",
        Some("2025-07-08T09:14:27.318683"),
    ),
    (
        "2025-07-08 09:14:27.318683",
        Some("2025-07-08T09:14:27.318683"),
    ),
    (
        "2025-07-08T09:14:27.000001+00:00",
        Some("2025-07-08T09:14:27.000001"),
    ),
    (
        "2025-07-08T09:14:27+05:30:15",
        Some("2025-07-08T03:44:12.000000"),
    ),
    (
        "2025-07-08T09:14:27,5+00:00",
        Some("2025-07-08T09:14:27.500000"),
    ),
    ("2025-07-08t09:14:27", Some("2025-07-08T09:14:27.000000")),
    ("2025-07-08x09:14:27", Some("2025-07-08T09:14:27.000000")),
    ("2025-07-08é09:14:27", Some("2025-07-08T09:14:27.000000")),
    ("2025-07-08😀09:14:27", Some("2025-07-08T09:14:27.000000")),
    (
        "2025-07-08\u{0}09:14:27",
        Some("2025-07-08T09:14:27.000000"),
    ),
    ("2025-07-08T", None),
    ("2025-07-08é", None),
    ("2025-07-0809:14:27", None),
    ("2025-07-08TT09:14:27", None),
    ("2025-07-08", Some("2025-07-08T00:00:00.000000")),
    ("20250708", Some("2025-07-08T00:00:00.000000")),
    ("20250708T091427", Some("2025-07-08T09:14:27.000000")),
    ("2025-W28-2", Some("2025-07-08T00:00:00.000000")),
    ("2025W282", Some("2025-07-08T00:00:00.000000")),
    ("2025-W28", Some("2025-07-07T00:00:00.000000")),
    ("2025W28", Some("2025-07-07T00:00:00.000000")),
    ("2025-W28-2T09:14:27", Some("2025-07-08T09:14:27.000000")),
    ("2025W282T0914", Some("2025-07-08T09:14:00.000000")),
    ("2025-W28T09", Some("2025-07-07T09:00:00.000000")),
    ("2020-W53-7", Some("2021-01-03T00:00:00.000000")),
    ("2021-W53-1", None),
    ("2025-W00-1", None),
    ("2025-W28-0", None),
    ("2025-W28-8", None),
    ("2025-W282", None),
    ("2025W28-2", None),
    ("2025-0708", None),
    ("202507-08", None),
    ("0001-01-01T00:00:00", Some("0001-01-01T00:00:00.000000")),
    (
        "9999-12-31T23:59:59.999999",
        Some("9999-12-31T23:59:59.999999"),
    ),
    ("9999-W52-5", Some("9999-12-31T00:00:00.000000")),
    ("9999-W52-6", None),
    ("0001-W01-1", Some("0001-01-01T00:00:00.000000")),
    ("0000-01-01T00:00:00", None),
    ("2024-02-29T12:00", Some("2024-02-29T12:00:00.000000")),
    ("2025-02-29T12:00", None),
    ("2100-02-29", None),
    ("2000-02-29", Some("2000-02-29T00:00:00.000000")),
    ("2025-13-01", None),
    ("2025-00-10", None),
    ("2025-07-32", None),
    ("2025-07-00T00:00", None),
    ("2025-189", None),
    ("2025-07", None),
    ("2025", None),
    ("+2025-07-08", None),
    ("2025-7-08", None),
    ("99999-01-01T00:00:00+00:00", None),
    ("٢٠٢٥-07-08", None),
    ("２０２５-07-08", None),
    ("2025-07-08T09", Some("2025-07-08T09:00:00.000000")),
    ("2025-07-08T0914", Some("2025-07-08T09:14:00.000000")),
    ("2025-07-08T09:14", Some("2025-07-08T09:14:00.000000")),
    ("2025-07-08T091427", Some("2025-07-08T09:14:27.000000")),
    ("2025-07-08T09:1427", None),
    ("2025-07-08T0914:27", None),
    ("2025-07-08T9:14:27", None),
    ("2025-07-08T09:14:2", None),
    ("2025-07-08T09:1", None),
    ("2025-07-08T0", None),
    ("2025-07-08T25:00", None),
    ("2025-07-08T09:60", None),
    ("2025-07-08T23:59:60", None),
    ("2025-07-08T23:59:60Z", None),
    ("2025-07-08T09:14:27:00", None),
    ("2025-07-08T09:14.5", None),
    ("2025-07-08T09.5", None),
    ("2025-07-08T0914.5", None),
    ("2025-07-08T09:14:27.3", Some("2025-07-08T09:14:27.300000")),
    ("2025-07-08T09:14:27,3", Some("2025-07-08T09:14:27.300000")),
    ("2025-07-08T09:14:27.31", Some("2025-07-08T09:14:27.310000")),
    (
        "2025-07-08T09:14:27.318",
        Some("2025-07-08T09:14:27.318000"),
    ),
    (
        "2025-07-08T09:14:27.3186",
        Some("2025-07-08T09:14:27.318600"),
    ),
    (
        "2025-07-08T09:14:27.31868",
        Some("2025-07-08T09:14:27.318680"),
    ),
    (
        "2025-07-08T09:14:27.3186839",
        Some("2025-07-08T09:14:27.318683"),
    ),
    (
        "2025-07-08T09:14:27.999999999999",
        Some("2025-07-08T09:14:27.999999"),
    ),
    (
        "2025-07-08T23:59:59.9999999+00:00",
        Some("2025-07-08T23:59:59.999999"),
    ),
    (
        "2025-07-08T09:14:27.0000001",
        Some("2025-07-08T09:14:27.000000"),
    ),
    ("2025-07-08T091427.5", Some("2025-07-08T09:14:27.500000")),
    (
        "2025-07-08T091427,123456789",
        Some("2025-07-08T09:14:27.123456"),
    ),
    ("2025-07-08T09:14:27.", None),
    ("2025-07-08T09:14:27,", None),
    ("2025-07-08T09:14:27..5", None),
    ("2025-07-08T09:14:27.5x", None),
    ("2025-07-08T09:14:27.-5", None),
    ("2025-07-08T09:14:27.1_2", None),
    ("2025-07-08T09:14:27.+05:00", None),
    ("2025-07-08T09:14:27.Z", None),
    ("2025-07-08T09:14:27.١", None),
    ("2025-07-08T24:00", Some("2025-07-09T00:00:00.000000")),
    ("2025-07-08T24", Some("2025-07-09T00:00:00.000000")),
    (
        "2025-07-08T24:00:00.000000",
        Some("2025-07-09T00:00:00.000000"),
    ),
    (
        "2025-07-08T24:00:00.0000009",
        Some("2025-07-09T00:00:00.000000"),
    ),
    ("2025-07-08T24:00:00.000001", None),
    ("2025-07-08T24:01", None),
    ("2025-12-31T24:00+01:00", Some("2025-12-31T23:00:00.000000")),
    ("2024-02-29T24:00", Some("2024-03-01T00:00:00.000000")),
    ("2025-02-29T24:00", None),
    ("2025-04-31T24:00", None),
    ("2025-07-00T24:00", Some("2025-07-01T00:00:00.000000")),
    ("2025-00-00T24:00", None),
    ("9999-12-31T24:00", None),
    ("0000-12-31T24:00", Some("0001-01-01T00:00:00.000000")),
    ("0000-12-30T24:00", None),
    ("2025-W28-2T24:00", Some("2025-07-09T00:00:00.000000")),
    ("2025-07-08T09:14:27Z", Some("2025-07-08T09:14:27.000000")),
    ("2025-07-08T09:14:27z", None),
    (
        "2025-07-08T09:14:27+05:30",
        Some("2025-07-08T03:44:27.000000"),
    ),
    (
        "2025-07-08T09:14:27+0530",
        Some("2025-07-08T03:44:27.000000"),
    ),
    ("2025-07-08T09:14:27+05", Some("2025-07-08T04:14:27.000000")),
    ("2025-07-08T09:14:27-05", Some("2025-07-08T14:14:27.000000")),
    (
        "2025-07-08T09:14:27+053015",
        Some("2025-07-08T03:44:12.000000"),
    ),
    (
        "2025-07-08T09:14:27+05:30:15.5",
        Some("2025-07-08T03:44:11.500000"),
    ),
    (
        "2025-07-08T09:14:27+05:30:15,123456",
        Some("2025-07-08T03:44:11.876544"),
    ),
    (
        "2025-07-08T09:14:27-05:30:15.1234567",
        Some("2025-07-08T14:44:42.123456"),
    ),
    (
        "2025-07-08T09:14:27+053015.25",
        Some("2025-07-08T03:44:11.750000"),
    ),
    (
        "2025-07-08T09:14:27-00:00",
        Some("2025-07-08T09:14:27.000000"),
    ),
    (
        "2025-07-08T09:14:27+00:00:00.000001",
        Some("2025-07-08T09:14:26.999999"),
    ),
    (
        "2025-07-08T09:14:27-00:00:00.000001",
        Some("2025-07-08T09:14:27.000001"),
    ),
    (
        "2025-07-08T09:14:27+23:59:59.999999",
        Some("2025-07-07T09:14:27.000001"),
    ),
    (
        "2025-07-08T09:14:27-23:59:59.999999",
        Some("2025-07-09T09:14:26.999999"),
    ),
    ("2025-07-08T09:14:27+24:00", None),
    ("2025-07-08T09:14:27+24", None),
    ("2025-07-08T09:14:27+05:60", None),
    ("2025-07-08T09:14:27+05:30:60", None),
    ("2025-07-08T09:14:27+05:30.5", None),
    ("2025-07-08T09:14:27+05.5", None),
    ("2025-07-08T09:14:27+5:30", None),
    ("2025-07-08T09:14:27+05:3", None),
    ("2025-07-08T09:14:27+0", None),
    ("2025-07-08T09:14:27+", None),
    ("2025-07-08T09:14:27-", None),
    ("2025-07-08T09:14:27+05:30:", None),
    ("2025-07-08T09:14:27+05:3015", None),
    ("2025-07-08T09:14:27+0530:15", None),
    ("2025-07-08T09:14:27+05:30Z", None),
    ("2025-07-08T09:14:27Z+05:00", None),
    ("2025-07-08T09:14:27ZZ", None),
    ("2025-07-08T09:14:27UTC", None),
    ("2025-07-08T09:14:27+05:30+01:00", None),
    ("2025-07-08T09+05:30", Some("2025-07-08T03:30:00.000000")),
    ("2025-07-08T0914-0130", Some("2025-07-08T10:44:00.000000")),
    ("2025-07-08+05:00", Some("2025-07-08T05:00:00.000000")),
    ("2025-07-08Z", None),
    ("2025-07-08T+05:00", None),
    (
        "9999-12-31T23:59:59-01:00",
        Some("+10000-01-01T00:59:59.000000"),
    ),
    (
        "0001-01-01T00:00:00+01:00",
        Some("0000-12-31T23:00:00.000000"),
    ),
    ("0000-12-31T24:00+01:00", Some("0000-12-31T23:00:00.000000")),
    ("2025-07-08T09142712", Some("2025-07-08T09:14:27.120000")),
    ("2025-07-08T091427123", Some("2025-07-08T09:14:27.123000")),
    ("2025-07-08T0914275", None),
    (
        "2025-07-08T09:14:27 +05:00",
        Some("2025-07-08T04:14:27.000000"),
    ),
    (
        "2025-07-08T09:14:27x+05:00",
        Some("2025-07-08T04:14:27.000000"),
    ),
    ("2025-07-08T09x+05:00", Some("2025-07-08T04:00:00.000000")),
    (
        "2025-07-08T09:14:27.1234567x+05:00",
        Some("2025-07-08T04:14:27.123456"),
    ),
    (
        "2025-07-08T09:14:27+05301512",
        Some("2025-07-08T03:44:11.880000"),
    ),
    (
        "2025-07-08T09:14:27\u{0}",
        Some("2025-07-08T09:14:27.000000"),
    ),
    (
        "2025-07-08T09:14:27Z\u{0}",
        Some("2025-07-08T09:14:27.000000"),
    ),
    (
        "2025-07-08T09\u{0}+05:00",
        Some("2025-07-08T04:00:00.000000"),
    ),
    ("2025-07-08T09:14:27.5\u{0}", None),
    ("2025-07-08T09:14:27+05:30\u{0}x", None),
    ("", None),
    ("now", None),
    ("infinity", None),
    (" 2025-07-08T09:14:27", None),
    ("2025-07-08T09:14:27 ", None),
    ("2025-07-08T09:14:27\n", None),
    ("2025-07-08T09:14:27.3 ", None),
    ("﻿2025-07-08", None),
];

#[test]
fn parses_what_cpython_parses_to_the_same_instant() {
    for &(text, expected) in CPYTHON_3_15 {
        match (Timestamp::parse(text), expected) {
            (Ok(ts), Some(utc)) => {
                assert_eq!(
                    ts.utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                    utc,
                    "{text:?}"
                );
                assert_eq!(ts.as_str(), text, "the text is kept");
            }
            (Err(err), None) => {
                assert!(
                    matches!(err.kind, DecodeErrorKind::InvalidTimestamp(_)),
                    "{text:?}"
                );
            }
            (got, _) => panic!("{text:?}: Python gives {expected:?}, we give {got:?}"),
        }
    }
}

#[test]
fn python_can_read_back_only_years_it_holds_in_utc() {
    for (text, readable) in [
        ("2025-07-08T09:14:27.318683+00:00", true),
        ("0001-01-01T00:00:00+00:00", true),
        ("0001-01-01T01:00:00+01:00", true),
        ("9999-12-31T23:59:59.999999", true),
        ("9999-12-31T22:59:59+23:00", true),
        // Python parses these, but their UTC instants are in years 10000 and 0.
        ("9999-12-31T23:59:59-01:00", false),
        ("0001-01-01T00:00:00+01:00", false),
        ("0000-12-31T24:00+00:01", false),
    ] {
        let ts = Timestamp::parse(text).unwrap();
        assert_eq!(ts.python_can_read_back(), readable, "{text}");
    }
    let ancient = NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap();
    let ancient = Timestamp::from_utc(ancient.and_hms_opt(0, 0, 0).unwrap().and_utc());
    assert!(!ancient.python_can_read_back());
}

/// A wall-clock time, an offset and how to write them.
#[derive(Debug, Clone)]
struct Parts {
    date: NaiveDate,
    hms: (u32, u32, u32),
    micros: u32,
    /// Digits past the sixth, which Python truncates.
    extra: String,
    /// East of UTC, in microseconds, under 24 hours.
    offset: i64,
    form: usize,
}

fn parts() -> impl Strategy<Value = Parts> {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
    (
        0u64..3_652_059,
        (0u32..24, 0u32..60, 0u32..60),
        prop_oneof![Just(0u32), 0u32..1_000_000],
        "[0-9]{0,6}",
        prop_oneof![Just(0i64), -86_399_999_999i64..86_400_000_000],
        0usize..FORMS,
    )
        .prop_map(move |(day, hms, micros, extra, offset, form)| Parts {
            date: first + Days::new(day),
            hms,
            micros,
            extra,
            offset,
            form,
        })
}

const FORMS: usize = 8;

/// The text in form `p.form`, and the instant chrono computes for what that form keeps.
fn render(p: &Parts) -> (String, Option<DateTime<Utc>>) {
    let (h, m, s) = p.hms;
    let d = p.date;
    let (sign, abs) = (
        if p.offset < 0 { '-' } else { '+' },
        p.offset.unsigned_abs(),
    );
    let (oh, om, os, ous) = (
        abs / 3_600_000_000,
        abs / 60_000_000 % 60,
        abs / 1_000_000 % 60,
        abs % 1_000_000,
    );
    let whole_minutes = (oh * 3600 + om * 60) as i64 * 1_000_000 * p.offset.signum();
    let whole_hours = (oh * 3600) as i64 * 1_000_000 * p.offset.signum();
    let week = d.iso_week();
    let wd = d.weekday().number_from_monday();
    let (text, hms, micros, offset) = match p.form {
        0 => (
            format!(
                "{}T{h:02}:{m:02}:{s:02}.{:06}{}{sign}{oh:02}:{om:02}:{os:02}.{ous:06}",
                d.format("%Y-%m-%d"),
                p.micros,
                p.extra
            ),
            p.hms,
            p.micros,
            p.offset,
        ),
        1 => (
            format!(
                "{}T{h:02}{m:02}{s:02},{:06}{}{sign}{oh:02}{om:02}{os:02},{ous:06}",
                d.format("%Y%m%d"),
                p.micros,
                p.extra
            ),
            p.hms,
            p.micros,
            p.offset,
        ),
        2 => (
            format!(
                "{} {h:02}:{m:02}:{s:02}{sign}{oh:02}:{om:02}",
                d.format("%Y-%m-%d")
            ),
            p.hms,
            0,
            whole_minutes,
        ),
        3 => {
            // Python writes `.ffffff`; a shorter fraction (here, without trailing zeros) is fine.
            let fraction = format!("{:06}", p.micros);
            let fraction = fraction.trim_end_matches('0');
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            (
                format!(
                    "{:04}-W{:02}-{wd}T{h:02}:{m:02}:{s:02}.{fraction}Z",
                    week.year(),
                    week.week()
                ),
                p.hms,
                p.micros,
                0,
            )
        }
        4 => (
            format!(
                "{:04}W{:02}{wd}T{h:02}{m:02}{s:02}",
                week.year(),
                week.week()
            ),
            p.hms,
            0,
            0,
        ),
        5 => (
            format!("{}T{h:02}{sign}{oh:02}", d.format("%Y-%m-%d")),
            (h, 0, 0),
            0,
            whole_hours,
        ),
        6 => (
            format!("{}T{h:02}:{m:02}{sign}{oh:02}{om:02}", d.format("%Y%m%d")),
            (h, m, 0),
            0,
            whole_minutes,
        ),
        _ => {
            // `24:00` is the next midnight; past 9999-12-31 Python refuses it.
            let text = format!("{}T24:00{sign}{oh:02}:{om:02}", d.format("%Y-%m-%d"));
            return match d.succ_opt().filter(|next| next.year() <= 9999) {
                Some(next) => (text, Some(instant(next, (0, 0, 0), 0, whole_minutes))),
                None => (text, None),
            };
        }
    };
    (text, Some(instant(d, hms, micros, offset)))
}

fn instant(date: NaiveDate, (h, m, s): (u32, u32, u32), micros: u32, offset: i64) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_micro_opt(h, m, s, micros).unwrap();
    date.and_time(time).and_utc() - TimeDelta::microseconds(offset)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Each form Python accepts parses to the instant chrono computes, and keeps its text.
    #[test]
    fn python_forms_parse_to_chronos_instant(p in parts()) {
        let (text, expected) = render(&p);
        let parsed = Timestamp::parse(&text).ok();
        prop_assert_eq!(parsed.as_ref().map(Timestamp::utc), expected, "{}", text);
        if let Some(ts) = parsed {
            prop_assert_eq!(ts.as_str(), text.as_str());
            prop_assert_eq!(ts.python_can_read_back(), (1..=9999).contains(&ts.utc().year()));
        }
    }

    /// What grafi writes reads back as the same instant.
    #[test]
    fn grafi_text_round_trips(p in parts()) {
        let utc = instant(p.date, p.hms, p.micros, p.offset);
        let written = Timestamp::from_utc(utc);
        if (1..=9999).contains(&utc.year()) {
            prop_assert_eq!(Timestamp::parse(written.as_str()).unwrap(), written);
        }
    }
}
