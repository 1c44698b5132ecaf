//! `grafi-store migrate status|run|revert` and `grafi-store roles --print-sql`: the schema
//! operations a store never does on its own to an existing table.

// Without PostgreSQL support the commands only say so.
#![cfg_attr(not(feature = "postgres"), allow(dead_code, unused_imports))]

use std::time::{Duration, Instant};

use grafi_store::{Selection, StoreUrl};

use crate::{outln, Outcome, UsageError};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Show applied and pending migrations, the table, and what each pending one would do.
    Status,
    /// Apply the pending migrations.
    Run,
    /// Revert the last applied migration.
    Revert,
}

fn postgres_url(selection: &Selection) -> anyhow::Result<&StoreUrl> {
    if selection.url.is_memory() {
        return Err(UsageError(
            "migrate needs a PostgreSQL store: give --store postgres://… (or GRAFI_STORE_URL)"
                .into(),
        )
        .into());
    }
    Ok(&selection.url)
}

/// `--lock-timeout`: `None` waits as long as it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTimeout(pub Option<Duration>);

/// Parses `10s`, `500ms`, `2m`, or `0` (wait as long as it takes).
pub fn parse_timeout(text: &str) -> Result<LockTimeout, String> {
    parse_duration(text).map(LockTimeout)
}

fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(None);
    }
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 10s, 500ms or 2m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("`{text}`: use ms, s or m")),
    };
    // Far beyond any use, and no arithmetic on instants overflows.
    const MAX: Duration = Duration::from_secs(24 * 60 * 60);
    if d > MAX {
        return Err(format!("`{text}`: at most a day (1440m)"));
    }
    Ok(Some(d))
}

#[cfg(not(feature = "postgres"))]
pub async fn run(
    _selection: &Selection,
    _action: Action,
    _yes: bool,
    _lock_timeout: Option<Duration>,
    _dialect: Option<grafi_events::Dialect>,
) -> anyhow::Result<Outcome> {
    Err(UsageError("this grafi-store was built without PostgreSQL support".into()).into())
}

#[cfg(feature = "postgres")]
pub async fn run(
    selection: &Selection,
    action: Action,
    yes: bool,
    lock_timeout: Option<Duration>,
    dialect: Option<grafi_events::Dialect>,
) -> anyhow::Result<Outcome> {
    use grafi_store::grafi_store_diesel::migrate;

    let url = postgres_url(selection)?;
    let mut status = migrate::status(url.expose()).await?;
    // A missing table is created by the store, in the layout of the dialect named (--dialect
    // or the URL's grafi_dialect=; grafi 0.0.24's otherwise), with every migration; a table
    // that exists must have the layout named. Neither happens without --yes.
    if matches!(action, Action::Run) && yes && (status.table.is_none() || dialect.is_some()) {
        let create = status.table.is_none();
        let options = grafi_store::OpenOptions::default()
            .run_migrations(create)
            .dialect(dialect);
        let store = grafi_store::open_url_with(&selection.url, options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the store: {e}"))?;
        if create {
            let created = store.table_dialect().unwrap_or_default();
            outln!("created table events in grafi {created}'s layout")?;
            status = migrate::status(url.expose()).await?;
        }
        store.close().await?;
    }
    outln!("database: {url}")?;
    match &status.table {
        Some(table) => outln!(
            "table events: grafi {}'s layout, {} rows, {:.1} MB with indexes, id {}, {}",
            table.dialect,
            match table.estimated_rows {
                n if n >= 0 => format!("about {n}"),
                _ => "an unknown number of".to_owned(),
            },
            table.total_bytes as f64 / 1_048_576.0,
            table.id_type,
            if table.has_extra {
                "column `extra` present"
            } else {
                "no `extra` column (as grafi creates it)"
            }
        )?,
        None => outln!("table events: none yet")?,
    }
    let rows = match status.table.as_ref().map(|t| t.estimated_rows) {
        Some(n) if n >= 0 => format!("about {n} (planner estimate)"),
        _ => "not estimated yet (ANALYZE events gives an estimate)".to_owned(),
    };
    match action {
        Action::Status => {
            outln!("applied: {}", list(&status.applied))?;
            outln!("pending: {}", list(&status.pending))?;
            for name in &status.pending {
                outln!("\n{name}\n  run: {}", migrate::plan(name).run)?;
            }
            Ok(Outcome::Success)
        }
        Action::Run => {
            if status.pending.is_empty() {
                outln!("nothing to do: every migration is applied")?;
                return Ok(Outcome::Success);
            }
            if status.table.is_none() {
                let named =
                    grafi_store::grafi_store_diesel::ConnectionSettings::parse(url.expose())
                        .ok()
                        .and_then(|settings| settings.dialect());
                let layout = dialect.or(named).unwrap_or_default();
                outln!(
                    "the table is created in grafi {layout}'s layout (--dialect names another)"
                )?;
            }
            outln!("plan (in this order, each in its own transaction):")?;
            for name in &status.pending {
                let plan = migrate::plan(name);
                outln!("  {name}\n    {}", plan.run)?;
                if plan.rewrites_table && status.table.is_some() {
                    outln!("    rows rewritten: {rows}")?;
                }
            }
            print_lock_timeout(lock_timeout)?;
            if !yes {
                return Err(
                    UsageError("nothing changed: add --yes to apply this plan".into()).into(),
                );
            }
            let started = Instant::now();
            let applied = migrate::run_pending_migrations(url.expose(), lock_timeout)
                .await
                .map_err(|e| lock_hint(e, lock_timeout))?;
            outln!(
                "applied {} in {:.1} s: {}",
                applied.len(),
                started.elapsed().as_secs_f64(),
                list(&applied)
            )?;
            Ok(Outcome::Success)
        }
        Action::Revert => {
            let Some(last) = status.applied.last() else {
                outln!("nothing to revert: no migration is applied")?;
                return Ok(Outcome::Success);
            };
            let plan = migrate::plan(last);
            outln!("plan: revert {last}\n    {}", plan.revert)?;
            print_lock_timeout(lock_timeout)?;
            if !yes {
                return Err(UsageError(
                    "nothing changed: add --yes to revert this migration".into(),
                )
                .into());
            }
            let started = Instant::now();
            let reverted = migrate::revert_last_migration(url.expose(), lock_timeout)
                .await
                .map_err(|e| lock_hint(e, lock_timeout))?;
            outln!(
                "reverted in {:.1} s: {}",
                started.elapsed().as_secs_f64(),
                reverted.as_deref().unwrap_or("nothing")
            )?;
            Ok(Outcome::Success)
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

fn print_lock_timeout(lock_timeout: Option<Duration>) -> anyhow::Result<()> {
    match lock_timeout {
        Some(t) => outln!(
            "each waits at most {t:?} for its lock, then gives up and changes nothing \
             (--lock-timeout)"
        )?,
        None => outln!("each waits for its lock as long as it takes (--lock-timeout 0)")?,
    }
    Ok(())
}

#[cfg(feature = "postgres")]
fn lock_hint(error: grafi_store::StoreError, lock_timeout: Option<Duration>) -> anyhow::Error {
    match lock_timeout {
        Some(t) => anyhow::anyhow!(
            "{error}\nhint: if another client held the table longer than {t:?} (a long \
             transaction), nothing was changed; retry when it is done, or raise --lock-timeout"
        ),
        None => anyhow::Error::new(error),
    }
}

/// `grafi-store roles --print-sql`.
#[cfg(feature = "postgres")]
pub fn print_roles(prefix: &str) -> anyhow::Result<Outcome> {
    let sql = grafi_store::grafi_store_diesel::roles_sql(prefix)
        .map_err(|e| UsageError(e.to_string()))?;
    crate::out::bytes(sql.as_bytes())?;
    Ok(Outcome::Success)
}

/// `grafi-store roles --print-sql`.
#[cfg(not(feature = "postgres"))]
pub fn print_roles(_prefix: &str) -> anyhow::Result<Outcome> {
    Err(UsageError("this grafi-store was built without PostgreSQL support".into()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_duration("10s"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(
            parse_duration("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_duration("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_duration("0"), Ok(None));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
        assert_eq!(
            parse_duration("1440m"),
            Ok(Some(Duration::from_secs(86_400)))
        );
        for too_long in ["1441m", "18446744073709551615s", "18446744073709551615m"] {
            assert!(parse_duration(too_long).is_err(), "{too_long}");
        }
    }
}
