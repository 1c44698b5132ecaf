//! Event timestamps: the instant, plus the exact text grafi wrote.

use std::fmt;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Timelike, Utc,
    Weekday,
};

use crate::error::{DecodeError, DecodeErrorKind};

/// An event's `timestamp`.
///
/// grafi writes `datetime.isoformat()`: `2025-07-08T09:14:27.318683+00:00`, without the
/// fraction when the microseconds are 0; rows read back from grafi's PostgreSQL table have no
/// offset at all. grafi reads it back with `datetime.fromisoformat`, so [`Timestamp::parse`]
/// accepts exactly what that accepts. The original text is kept so the document re-encodes
/// unchanged, and the instant is available as UTC (a non-UTC offset is converted, a missing one
/// means UTC, as grafi's reader takes it).
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
    /// Parses `text` as Python's `datetime.fromisoformat` does, to the same instant: CPython
    /// 3.15's C implementation (checked against 3.15.2 on millions of strings), since grafi
    /// 0.0.36 asks for Python `>=3.11` and so runs on the newest.
    ///
    /// - A date `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www[-D]` or `YYYYWww[D]`, in years 1..=9999
    ///   (the local date's; [`Timestamp::python_can_read_back`] checks the UTC one);
    /// - optionally, any one character, then a time `HH[:MM[:SS[{.,}f…]]]` or
    ///   `HH[MM[SS[{.,}f…]]]`: fraction digits past six are truncated, not rounded; `:60` is
    ///   refused; `24:00` is the next midnight;
    /// - then, optionally, `Z` or an offset in the same two forms, under 24 hours, with minutes
    ///   and seconds under 60.
    ///
    /// CPython's quirks come along, since grafi reads such rows: digits right after
    /// basic-format seconds are a fraction (`T09142712`), one stray character may stand before
    /// an offset (`09:14:27 +05:00`), a NUL may end the text (`09:14:27\0`), `24:00` makes day
    /// `00` the 1st. Older Pythons differ in such corners only: no `24:00` before 3.14, offset
    /// `:60` taken by 3.14, more malformed fractions and offsets taken by 3.11 to 3.13.0.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        grafi_isoformat(text.as_bytes())
            .or_else(|| fromisoformat(text))
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

    /// Whether grafi can read the event back: Python's `datetime` holds years 1..=9999 only, so
    /// `9999-12-31T23:59:59-01:00` parses (there and here) but its UTC instant, which grafi's
    /// PostgreSQL reader builds, is in year 10000 and fails there.
    pub fn python_can_read_back(&self) -> bool {
        (1..=9999).contains(&self.utc.year())
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

/// What grafi writes, `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, and the same without the offset
/// (grafi's PostgreSQL rows), without the general parser: decoding millions of events parses
/// this many timestamps.
fn grafi_isoformat(b: &[u8]) -> Option<DateTime<Utc>> {
    let b = b.strip_suffix(b"+00:00").unwrap_or(b);
    let micros = match b.len() {
        19 => 0,
        26 if b[19] == b'.' => digits(b, 20, 6)?,
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let date = NaiveDate::from_ymd_opt(year as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)
        .filter(|_| year >= 1)?;
    let time = NaiveTime::from_hms_micro_opt(
        digits(b, 11, 2)?,
        digits(b, 14, 2)?,
        digits(b, 17, 2)?,
        micros,
    )?;
    Some(date.and_time(time).and_utc())
}

/// CPython's C `datetime.fromisoformat`, step by step (`_datetimemodule.c`); naive means UTC.
fn fromisoformat(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    text.chars().nth(6)?; // shorter than 7 characters: refused
    let separator = separator(b)?;
    let (year, month, day) = ymd(b, separator)?;
    let (mut time, mut offset) = ([0; 4], 0);
    if b.len() > separator {
        // The separator may be any one character; the time starts after it.
        let width = text.get(separator..)?.chars().next()?.len_utf8();
        (time, offset) = time_and_offset(b, separator + width)?;
    }
    let [mut hour, minute, second, micros] = time;
    let mut date = NaiveDate::from_ymd_opt(year, month, day.max(1));
    if hour == 24 && minute == 0 && second == 0 && micros == 0 {
        // 3.14+: the next midnight, computed before the date is checked, so day 0 passes.
        hour = 0;
        date = date.and_then(|d| if day == 0 { Some(d) } else { d.succ_opt() });
    } else if day == 0 {
        return None;
    }
    let date = date.filter(|d| (1..=9999).contains(&d.year()))?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    date.and_time(time)
        .and_utc()
        .checked_sub_signed(TimeDelta::microseconds(offset))
}

/// Byte `i`, or 0 past the end: CPython reads a NUL-terminated buffer, so where it looks for
/// the end an embedded NUL counts as one.
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// `n` ASCII digits at `p`.
fn digits(b: &[u8], p: usize, n: usize) -> Option<u32> {
    (p..p + n).try_fold(0, |value, i| {
        let digit = at(b, i).wrapping_sub(b'0');
        (digit < 10).then_some(value * 10 + u32::from(digit))
    })
}

/// Where the date ends (CPython's `_find_isoformat_datetime_separator`).
fn separator(b: &[u8]) -> Option<usize> {
    let n = b.len();
    if n == 7 {
        return Some(7);
    }
    match (at(b, 4), at(b, 5)) {
        (b'-', b'W') if n > 8 && at(b, 8) == b'-' => match n {
            9 => None,
            _ if at(b, 10).is_ascii_digit() => Some(8),
            _ => Some(10),
        },
        (b'-', b'W') => Some(8),
        (b'-', _) => Some(10),
        (b'W', _) => {
            let end = 7 + b[7..].iter().take_while(|c| c.is_ascii_digit()).count();
            Some(match end {
                0..=8 => end,
                _ if end % 2 == 0 => 7,
                _ => 8,
            })
        }
        _ => Some(8),
    }
}

/// Year, month and day in `b[..len]`, unchecked but for week dates (CPython's
/// `parse_isoformat_date`, which may read past `len`).
fn ymd(b: &[u8], len: usize) -> Option<(i32, u32, u32)> {
    let year = digits(b, 0, 4)?;
    let dashes = at(b, 4) == b'-';
    let mut p = 4 + usize::from(dashes);
    let dash = |p: usize| !dashes || at(b, p) == b'-';
    let ymd = if at(b, p) == b'W' {
        let week = digits(b, p + 1, 2)?;
        p += 3;
        let day = if p < len {
            dash(p).then_some(())?;
            digits(b, p + usize::from(dashes), 1)?
        } else {
            1
        };
        if !(1..=9999).contains(&year) || !(1..=7).contains(&day) {
            return None;
        }
        let date = NaiveDate::from_isoywd_opt(year as i32, week, Weekday::Mon)?
            .checked_add_days(Days::new(u64::from(day) - 1))?;
        (date.year(), date.month(), date.day())
    } else {
        let month = digits(b, p, 2)?;
        p += 2;
        dash(p).then_some(())?;
        (year as i32, month, digits(b, p + usize::from(dashes), 2)?)
    };
    Some(ymd)
}

/// `[hour, minute, second, micros]` and the offset in microseconds (0 when naive), from the
/// text after the separator (CPython's `parse_isoformat_time`).
fn time_and_offset(b: &[u8], start: usize) -> Option<([u32; 4], i64)> {
    let zone = start
        + b[start..]
            .iter()
            .take_while(|c| !b"Z+-".contains(c))
            .count();
    let (time, rest) = hh_mm_ss_ff(b, start, zone)?;
    if zone == b.len() {
        return (!rest).then_some((time, 0));
    }
    if b[zone] == b'Z' {
        return (at(b, zone + 1) == 0).then_some((time, 0));
    }
    let ([hours, minutes, seconds, micros], rest) = hh_mm_ss_ff(b, zone + 1, b.len())?;
    if rest || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let offset = i64::from((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + i64::from(micros);
    Some((time, if b[zone] == b'-' { -offset } else { offset }))
}

/// `HH[:MM[:SS[{.,}f…]]]` or `HH[MM[SS[{.,}f…]]]` in `b[p..end]`, and whether anything is
/// left before the end (CPython's `parse_hh_mm_ss_ff`, quirks included).
fn hh_mm_ss_ff(b: &[u8], mut p: usize, end: usize) -> Option<([u32; 4], bool)> {
    let mut values = [0; 4];
    let mut colons = false;
    for i in 0..3 {
        values[i] = digits(b, p, 2)?;
        let c = at(b, p + 2);
        p += 3;
        if i == 0 {
            colons = c == b':';
        }
        if p >= end {
            // Python 3.15 refuses a fraction mark with no digits.
            return (c != b'.' && c != b',').then_some((values, c != 0));
        } else if colons && c == b':' && i < 2 {
            continue;
        } else if (c == b'.' || c == b',') && i == 2 {
            break;
        } else if colons {
            return None;
        }
        p -= 1;
    }
    let width = (end - p).min(6);
    values[3] = digits(b, p, width)? * 10u32.pow(6 - width as u32);
    p += width;
    p += b
        .get(p..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    Some((values, at(b, p) != 0))
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

impl Timestamp {
    /// A timestamp whose text names no instant this type holds (PostgreSQL's `infinity`, a
    /// year beyond chrono's range), kept with the nearest instant: a stored row holding one
    /// still comes back (raw, with the reason), and validation refuses to store it again.
    pub fn unrepresentable(text: impl Into<String>, nearest: DateTime<Utc>) -> Self {
        Self {
            text: text.into(),
            utc: nearest,
        }
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

    proptest::proptest! {
        /// The fast path gives the general parser's answer wherever it answers, and answers
        /// for every valid text in grafi's forms but `24:00`.
        #[test]
        fn fast_path_is_the_general_parser(
            year in 0u32..10_000,
            (month, day) in (0u32..14, 0u32..33),
            (hour, minute, second) in (0u32..25, 0u32..61, 0u32..61),
            micros in proptest::option::of(0u32..1_000_000),
            offset in proptest::sample::select(vec!["+00:00", "", "+00:00+00:00", "Z"]),
        ) {
            let fraction = micros.map(|us| format!(".{us:06}")).unwrap_or_default();
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}"
            );
            let (fast, general) = (grafi_isoformat(text.as_bytes()), fromisoformat(&text));
            proptest::prop_assert_eq!(fast.or(general), general, "{}", text);
            let grafi = hour < 24 && matches!(offset, "" | "+00:00");
            proptest::prop_assert_eq!(fast.is_some(), general.is_some() && grafi, "{}", text);
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
            "2025-07-08T23:59:60+00:00",
            "0000-01-01T00:00:00+00:00",
            "2025-07-08T09:14:27.31868+00:00Z",
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
