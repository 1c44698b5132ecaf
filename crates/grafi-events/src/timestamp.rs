//! Event timestamps: the instant, plus the exact text grafi wrote.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, SecondsFormat, Timelike, Utc};

use crate::error::{DecodeError, DecodeErrorKind};

/// An event's `timestamp`.
///
/// grafi writes `datetime.isoformat()`: `2025-07-08T09:14:27.318683+00:00`, without the
/// fraction when the microseconds are 0; rows read back from grafi's PostgreSQL table have no
/// offset at all. The original text is kept so the document re-encodes unchanged, and the
/// instant is available as UTC (a non-UTC offset is converted, a missing one means UTC).
///
/// ```
/// use grafi_events::Timestamp;
/// let ts = Timestamp::parse("2025-07-08T11:14:27.5+02:00").unwrap();
/// assert_eq!(ts.utc().to_rfc3339(), "2025-07-08T09:14:27.500+00:00");
/// assert_eq!(ts.as_str(), "2025-07-08T11:14:27.5+02:00");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    utc: DateTime<Utc>,
}

impl Timestamp {
    /// Parses an ISO-8601 / RFC 3339 timestamp as Python's `datetime.fromisoformat` accepts it
    /// (`T` or space separator, optional fraction, optional offset).
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        parse_instant(text)
            .map(|utc| Self {
                text: text.to_owned(),
                utc,
            })
            .ok_or_else(|| DecodeError::new("", DecodeErrorKind::InvalidTimestamp(shorten(text))))
    }

    /// The current time, in grafi's format.
    pub fn now() -> Self {
        Self::from_utc(Utc::now())
    }

    /// An instant written as Python's `isoformat()` writes an aware UTC datetime.
    pub fn from_utc(utc: DateTime<Utc>) -> Self {
        // Python keeps microseconds; truncate so the text and the instant agree.
        let utc = utc
            .with_nanosecond(utc.nanosecond() / 1_000 * 1_000)
            .unwrap_or(utc);
        Self {
            text: python_isoformat(&utc),
            utc,
        }
    }

    /// The instant, in UTC.
    pub fn utc(&self) -> DateTime<Utc> {
        self.utc
    }

    /// The text as it appears in the document.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `utc` (whole microseconds) as Python's `isoformat()` writes an aware UTC datetime:
/// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, which is chrono's RFC 3339 text for it.
///
/// Written by hand because every row read and every event recorded builds one, and chrono's
/// formatter (through `fmt`) cost ~800 instructions of a ~60,000-instruction lookup.
fn python_isoformat(utc: &DateTime<Utc>) -> String {
    let (year, nanos) = (utc.year(), utc.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Outside Python's range, or a leap second: chrono's own text.
        let format = if nanos == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Micros
        };
        return utc.to_rfc3339_opts(format, false);
    }
    let mut text = String::with_capacity(32);
    push_digits(&mut text, year.unsigned_abs(), 4);
    text.push('-');
    push_digits(&mut text, utc.month(), 2);
    text.push('-');
    push_digits(&mut text, utc.day(), 2);
    text.push('T');
    push_digits(&mut text, utc.hour(), 2);
    text.push(':');
    push_digits(&mut text, utc.minute(), 2);
    text.push(':');
    push_digits(&mut text, utc.second(), 2);
    if nanos != 0 {
        text.push('.');
        push_digits(&mut text, nanos / 1_000, 6);
    }
    text.push_str("+00:00");
    text
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::<FixedOffset>::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(dt) = DateTime::<FixedOffset>::parse_from_str(text, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// Keeps error messages short even when someone puts a megabyte in a timestamp.
fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_grafi_forms_and_converts_offsets() {
        let with_fraction = Timestamp::parse("2025-07-08T09:14:27.318683+00:00").unwrap();
        assert_eq!(with_fraction.utc().timestamp_micros() % 1_000_000, 318_683);
        let no_fraction = Timestamp::parse("2025-07-12T08:00:00+00:00").unwrap();
        assert_eq!(no_fraction.utc().timestamp(), 1_752_307_200);
        let naive = Timestamp::parse("2025-07-12T08:00:00").unwrap();
        assert_eq!(naive.utc(), no_fraction.utc());
        let shifted = Timestamp::parse("2025-07-12T10:30:00+02:30").unwrap();
        assert_eq!(shifted.utc(), no_fraction.utc());
        let zulu = Timestamp::parse("2025-07-12T08:00:00Z").unwrap();
        assert_eq!(zulu.utc(), no_fraction.utc());
    }

    proptest::proptest! {
        /// The hand-written text is chrono's RFC 3339 text, at every instant Python can hold
        /// and beyond (years 0 and 10,000+ fall back to chrono).
        #[test]
        fn isoformat_is_chronos_rfc3339_text(
            seconds in -62_200_000_000i64..260_000_000_000,
            micros in proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..1_000_000],
        ) {
            let utc = DateTime::from_timestamp(seconds, micros * 1_000).unwrap();
            let format = if micros == 0 { SecondsFormat::Secs } else { SecondsFormat::Micros };
            let ours = Timestamp::from_utc(utc);
            proptest::prop_assert_eq!(ours.as_str(), utc.to_rfc3339_opts(format, false));
        }
    }

    #[test]
    fn rejects_what_is_not_an_instant() {
        for bad in [
            "infinity",
            "",
            "2025-13-01T00:00:00",
            "99999-01-01T00:00:00+00:00",
            "now",
        ] {
            let err = Timestamp::parse(bad).unwrap_err();
            assert!(
                matches!(err.kind, DecodeErrorKind::InvalidTimestamp(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_like_python_isoformat() {
        let whole = DateTime::from_timestamp(1_752_307_200, 0).unwrap();
        assert_eq!(
            Timestamp::from_utc(whole).as_str(),
            "2025-07-12T08:00:00+00:00"
        );
        let micros = DateTime::from_timestamp(1_752_307_200, 120_000_999).unwrap();
        let ts = Timestamp::from_utc(micros);
        assert_eq!(ts.as_str(), "2025-07-12T08:00:00.120000+00:00");
        assert_eq!(Timestamp::parse(ts.as_str()).unwrap(), ts);
    }
}
