//! `grafi-store purge`: remove every event recorded before a cut-off (retention).

use std::io::Write;

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, TimeDelta, Utc};
use grafi_store::EventStore;
use grafi_store_core::RunMode;
use serde::Serialize;

use crate::erase::plural;
use crate::{out, Intent, Outcome, UsageError};

/// `--json`: its help, which lists the fields of [`Summary`].
pub const JSON_HELP: &str = "Print one JSON document on stdout instead of the message. Fields:
  action: purge
  dry_run: true when nothing was changed (--dry-run)
  before: the cut-off, RFC 3339 UTC: events whose timestamp is before it are removed
  events: events removed (would be removed, in a dry run)";

/// `purge --json`: one document on stdout (field names are stable).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Always `purge`, the audit action.
    pub action: &'static str,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The cut-off, RFC 3339 in UTC.
    pub before: String,
    /// Events removed (or, in a dry run, that would be).
    pub events: u64,
}

/// Which events to purge: those whose timestamp is before this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    /// `--before TIME`.
    Before(DateTime<Utc>),
    /// `--older-than DURATION`: now minus the duration.
    OlderThan(TimeDelta),
}

impl Cutoff {
    /// The cut-off as a time. `--older-than` counts back from `now` in whole seconds, so the
    /// cut-off printed is the one used.
    pub fn at(self, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
        match self {
            Cutoff::Before(t) => Ok(t),
            Cutoff::OlderThan(age) => now
                .trunc_subsecs(0)
                .checked_sub_signed(age)
                .ok_or_else(|| UsageError("--older-than reaches before any time".into()).into()),
        }
    }
}

/// `--before`: RFC 3339 (`2026-01-01T00:00:00Z`), or a date (`2026-01-01`: midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "`{text}` is no time: give RFC 3339 (2026-01-01T00:00:00Z) or a date (2026-01-01, \
         midnight UTC)"
    ))
}

/// `--older-than`: a whole number above zero and a unit, `s`, `m`, `h`, `d` or `w` (`90d`).
pub fn parse_age(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let usage = || format!("`{text}` is no age: give a number and a unit, s, m, h, d or w (90d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(usage)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| usage())?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        "w" => 7 * 24 * 60 * 60,
        _ => return Err(usage()),
    };
    if n == 0 {
        return Err(format!(
            "`{text}`: the age must be above zero (0 would purge every event recorded until now)"
        ));
    }
    n.checked_mul(seconds_per)
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(|| format!("`{text}` is longer than any time the store holds"))
}

/// Purges before `cutoff` as `intent` says. [`Intent::Ask`] counts (a dry run) and refuses
/// with a usage error that says how much `--yes` would remove: nothing changes without it.
pub async fn run(
    store: &dyn EventStore,
    cutoff: Cutoff,
    intent: Intent,
    json: bool,
    sink: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let before = cutoff.at(Utc::now())?;
    let mode = match intent {
        Intent::Apply => RunMode::Apply,
        Intent::DryRun | Intent::Ask => RunMode::DryRun,
    };
    let report = store.purge(before, mode).await?;
    let at = rfc3339(report.before);
    tracing::info!(
        target: "grafi_cli",
        before = %at,
        dry_run = mode == RunMode::DryRun,
        events = report.events,
        "purge done"
    );
    let counted = plural(report.events, "event");
    match intent {
        Intent::Ask => Err(UsageError(format!(
            "purging would remove {counted} recorded before {at}; nothing changed: add --yes \
             to purge them, or --dry-run to only count"
        ))
        .into()),
        _ if json => {
            out::json_to(
                sink,
                &Summary {
                    action: "purge",
                    dry_run: mode == RunMode::DryRun,
                    before: at,
                    events: report.events,
                },
            )?;
            Ok(Outcome::Success)
        }
        Intent::DryRun => {
            writeln!(
                sink,
                "dry run: purging would remove {counted} recorded before {at}; nothing changed"
            )
            .map_err(out::write_error)?;
            Ok(Outcome::Success)
        }
        Intent::Apply => {
            writeln!(
                sink,
                "purged {counted} recorded before {at}; the audit trail keeps the purge \
                 (grafi-store audit)"
            )
            .map_err(out::write_error)?;
            Ok(Outcome::Success)
        }
    }
}

/// RFC 3339 in UTC, with as many fraction digits as the time has.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use grafi_store::MemoryEventStore;
    use grafi_store_core::conformance::grafi_corpus;

    use super::*;
    use crate::test_support::{corpus_store, ids};

    #[test]
    fn ages_are_a_number_and_a_unit() {
        let cases = [
            ("45s", 45),
            ("30m", 30 * 60),
            ("12h", 12 * 3600),
            ("90d", 90 * 86_400),
            ("2w", 14 * 86_400),
            (" 1d ", 86_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_age(text), Ok(TimeDelta::seconds(seconds)), "{text}");
        }
        for bad in [
            "", " ", "d", "90", "90x", "90 d", "1.5d", "-1d", "+1d", "d90", "90dd", "1D",
        ] {
            let error = parse_age(bad).unwrap_err();
            assert!(error.contains("is no age"), "{bad:?}: {error}");
        }
        for zero in ["0d", "0s", "000w"] {
            let error = parse_age(zero).unwrap_err();
            assert!(error.contains("above zero"), "{zero}: {error}");
        }
        assert!(parse_age("99999999999999999w").is_err());
        assert!(parse_age("999999999999999999999d").is_err());
    }

    #[test]
    fn times_are_rfc3339_or_a_date_at_midnight_utc() {
        let midnight = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for text in [
            "2026-01-01",
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T19:00:00-05:00",
        ] {
            assert_eq!(parse_time(text), Ok(midnight), "{text}");
        }
        assert_eq!(
            rfc3339(parse_time("2026-01-01T00:00:00.25Z").unwrap()),
            "2026-01-01T00:00:00.250Z"
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-01-01T25:00:00Z",
            "yesterday",
            "1767225600",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn older_than_counts_back_from_now_in_whole_seconds() {
        let now = parse_time("2026-03-01T12:00:00.999Z").unwrap();
        let age = parse_age("90d").unwrap();
        assert_eq!(
            rfc3339(Cutoff::OlderThan(age).at(now).unwrap()),
            "2025-12-01T12:00:00Z"
        );
        let fixed = parse_time("2026-01-01").unwrap();
        assert_eq!(Cutoff::Before(fixed).at(now).unwrap(), fixed);
        let forever = parse_age("1000000000w").unwrap();
        assert!(Cutoff::OlderThan(forever).at(now).is_err());
    }

    async fn purge(
        store: &MemoryEventStore,
        cutoff: Cutoff,
        intent: Intent,
        json: bool,
    ) -> (anyhow::Result<Outcome>, String) {
        let mut sink = Vec::new();
        let result = run(store, cutoff, intent, json, &mut sink).await;
        (result, String::from_utf8(sink).unwrap())
    }

    fn summary(text: &str) -> serde_json::Value {
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(text).unwrap()
    }

    /// The corpus spans 1970 (grafi's default timestamp) to 2025-07-12: a cut-off inside it
    /// keeps some events.
    #[tokio::test]
    async fn a_dry_run_counts_what_the_real_run_removes_and_changes_nothing() {
        let cutoff = parse_time("2025-07-10").unwrap();
        let older = grafi_corpus().iter().filter(|e| e.utc() < cutoff).count() as u64;
        assert!(0 < older && older < 211, "{older}");

        let store = corpus_store().await;
        let before = ids(&store.get_events().await.unwrap());
        let (result, dry) = purge(&store, Cutoff::Before(cutoff), Intent::DryRun, true).await;
        result.unwrap();
        let dry = summary(&dry);
        assert_eq!(
            dry,
            serde_json::json!({"action": "purge", "dry_run": true,
                               "before": "2025-07-10T00:00:00Z", "events": older})
        );
        assert_eq!(ids(&store.get_events().await.unwrap()), before);
        assert!(store.audit_trail().await.unwrap().is_empty());

        let (result, real) = purge(&store, Cutoff::Before(cutoff), Intent::Apply, true).await;
        result.unwrap();
        let real = summary(&real);
        assert_eq!(real["dry_run"], false);
        assert_eq!(
            (&real["events"], &real["before"]),
            (&dry["events"], &dry["before"])
        );
        let rest = store.get_events().await.unwrap();
        assert_eq!(rest.len() as u64, 211 - older);
        assert!(rest.iter().all(|e| e.utc() >= cutoff));
        assert_eq!(store.audit_trail().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_messages_name_the_cutoff_and_the_count() {
        let store = corpus_store().await;
        let cutoff = Cutoff::Before(parse_time("2025-07-10").unwrap());
        let (result, dry) = purge(&store, cutoff, Intent::DryRun, false).await;
        result.unwrap();
        assert!(
            dry.starts_with("dry run: purging would remove ")
                && dry.ends_with(" events recorded before 2025-07-10T00:00:00Z; nothing changed\n"),
            "{dry}"
        );
        let (result, real) = purge(&store, cutoff, Intent::Apply, false).await;
        result.unwrap();
        let count = dry.split(' ').nth(5).unwrap();
        assert!(
            real.starts_with(&format!(
                "purged {count} events recorded before 2025-07-10T00:00:00Z;"
            )),
            "{real}"
        );
    }

    #[tokio::test]
    async fn without_yes_nothing_changes_and_the_refusal_says_how_much() {
        let store = corpus_store().await;
        let before = ids(&store.get_events().await.unwrap());
        for json in [false, true] {
            let age = Cutoff::OlderThan(parse_age("1d").unwrap());
            let (result, printed) = purge(&store, age, Intent::Ask, json).await;
            let error = result.unwrap_err();
            assert!(error.is::<UsageError>(), "{error:#}");
            let message = error.to_string();
            assert!(
                message.starts_with("purging would remove 211 events recorded before "),
                "{message}"
            );
            assert!(message.contains("add --yes"), "{message}");
            assert_eq!(printed, "");
        }
        assert_eq!(ids(&store.get_events().await.unwrap()), before);
        assert!(store.audit_trail().await.unwrap().is_empty());
    }
}
