//! `erase`, `purge` and the audit trail on PostgreSQL.
//!
//! Selecting what an erasure removes decodes every row, in pages of [`SCAN_PAGE`] rows read
//! by id (each its own short statement), and applies the one definition of
//! `grafi_store_core::lifecycle` to each event: the same events as the in-memory store, for
//! rows grafi-rs wrote, rows Python grafi wrote, and rows plain SQL wrote with any JSON
//! escapes. That costs a read of the whole table per erasure (two for a user); no SQL
//! predicate over the `json` columns would be exact.
//!
//! Removing runs in transactions of at most [`ERASE_BATCH`] events (ledger rows in, event
//! rows out) or, for purges, [`PURGE_BATCH`] events read from a window of at most
//! [`PURGE_WINDOW`] rows: row locks only on `events`, and each
//! transaction short, so concurrent writers wait for none of them beyond the lock on the
//! ledger that an erasure's transaction holds (see `lifecycle.rs`).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bytea, Nullable, Text, Timestamp, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use grafi_events::Event;
use grafi_store_core::lifecycle::{hex, keyed_hash, names, values_of, HashDomain};
use grafi_store_core::{
    AuditAction, AuditRecord, Erasure, ErasureReport, PurgeReport, RunMode, StoreError,
};

use crate::error::Access;
use crate::query::IdRangeQuery;
use crate::row::RowTuple;
use crate::store::DieselEventStore;

/// Rows decoded per page while selecting.
const SCAN_PAGE: i64 = 1_000;

/// Events removed per erasure transaction.
const ERASE_BATCH: usize = 500;

/// Events removed per purge transaction.
const PURGE_BATCH: i64 = 1_000;

/// Rows a purge statement reads at most (from its starting id).
const PURGE_WINDOW: i64 = 10_000;

/// One purge transaction: the window's end (`upper`: the id `$4` rows after `$1`, at most
/// `$5`, the last id when the purge started), then up to `$3` events of the window older
/// than `$2` deleted; the window's end, the last id deleted and how many. The window starts
/// after `$1`, or at it when `$6` (the first window, from the smallest id); `id >= $1` is
/// what lets the server start at `$1` in the primary key rather than read from the start,
/// and the window's end as a scalar subquery (not a join) is what stops it there.
const PURGE_SQL: &str = "\
    WITH bound AS (\
        SELECT least(coalesce((SELECT id FROM events WHERE id >= $1 AND (id > $1 OR $6) \
                               ORDER BY id OFFSET $4 LIMIT 1), $5), $5)::int8 AS upper), \
    gone AS (\
        DELETE FROM events WHERE id IN (\
            SELECT id FROM events \
            WHERE id >= $1 AND (id > $1 OR $6) AND id <= (SELECT upper FROM bound) \
              AND \"timestamp\" < $2 \
            ORDER BY id LIMIT $3) \
        RETURNING id) \
    SELECT (SELECT upper FROM bound) AS upper, max(id)::int8 AS last, count(*)::int8 AS n \
    FROM gone";

/// Whether an event's document is selected.
type Matcher = Arc<dyn Fn(&serde_json::Value) -> bool + Send + Sync>;

/// The events an erasure selected, in id order.
struct Selected {
    ids: Vec<i64>,
    events: Vec<Arc<Event>>,
}

impl Selected {
    fn report(&self, removed: &HashSet<i64>) -> ErasureReport {
        let chosen = self
            .ids
            .iter()
            .zip(&self.events)
            .filter(|(id, _)| removed.contains(id))
            .map(|(_, event)| &**event);
        grafi_store_core::lifecycle::report_of(chosen)
    }
}

impl DieselEventStore {
    /// The ledger key, or why this table cannot erase.
    fn lifecycle_key(&self, operation: &'static str) -> Result<Arc<[u8; 32]>, StoreError> {
        if !self.inner.layout.lifecycle {
            return Err(StoreError::Unsupported {
                operation,
                message: "the database has no erased-id ledger and audit tables: run \
                          `grafi-store migrate run` (migration 2025-07-01-000004)"
                    .into(),
            });
        }
        self.inner
            .ledger_key
            .clone()
            .ok_or_else(|| StoreError::Denied {
                kind: grafi_store_core::DeniedKind::Permission,
                message: "this role may not read table grafi_rs_key, the hash key of the \
                      erased-id ledger: grant SELECT on it (see `grafi-store roles --print-sql`)"
                    .into(),
                source: None,
            })
    }

    /// Refuses a write this role cannot keep erased ids out of, with the server's own
    /// refusal as the source.
    pub(crate) async fn check_ledger_readable(&self) -> Result<(), StoreError> {
        if !self.inner.layout.lifecycle || self.inner.ledger_key.is_some() {
            return Ok(());
        }
        let refusal = with_retries!(self, "record_events", Access::Read, |conn| {
            diesel::sql_query("SELECT key FROM grafi_rs_key LIMIT 0").execute(conn)
        });
        match (self.lifecycle_key("record_events"), refusal) {
            (Err(StoreError::Denied { kind, message, .. }), Err(server)) => {
                Err(StoreError::Denied {
                    kind,
                    message,
                    source: Some(Box::new(server)),
                })
            }
            (Err(error), _) => Err(error),
            (Ok(_), _) => Ok(()),
        }
    }

    /// The rows of one page after `after` (id order) whose event `keep` selects, and the
    /// page's last id (`None`: no rows left). Decoding and matching run on tokio's blocking
    /// pool: both take all of a core, and must not hold up the caller's other tasks.
    async fn scan_page(
        &self,
        after: Option<i64>,
        keep: &Matcher,
    ) -> Result<(Vec<(i64, Arc<Event>)>, Option<i64>), StoreError> {
        let layout = self.inner.layout;
        let rows = with_retries!(self, "erase", Access::Read, |conn| {
            IdRangeQuery {
                layout,
                after,
                limit: Some(SCAN_PAGE),
            }
            .load::<RowTuple>(conn)
        });
        let rows = self.explain_denied(rows, "SELECT").await?;
        let last = rows.last().map(|row| row.0);
        let registry = Arc::clone(&self.inner.config.registry);
        let keep = Arc::clone(keep);
        let shape = layout.shape;
        let kept = tokio::task::spawn_blocking(move || {
            crate::read::decode(rows, shape, &registry)
                .into_iter()
                .filter(|(_, event)| keep(&event.to_value()))
                .collect()
        })
        .await
        .map_err(|e| StoreError::Backend {
            message: format!("decoding rows failed: {e}"),
            retryable: false,
            source: None,
        })?;
        Ok((kept, last))
    }

    /// Every row, in id order, whose event `keep` selects (given its document).
    async fn scan(&self, keep: Matcher) -> Result<Selected, StoreError> {
        let mut selected = Selected {
            ids: Vec::new(),
            events: Vec::new(),
        };
        let mut after = None;
        loop {
            let (page, last) = self.scan_page(after, &keep).await?;
            for (id, event) in page {
                selected.ids.push(id);
                selected.events.push(event);
            }
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        Ok(selected)
    }

    /// What `erasure` removes now (see `grafi_store_core::lifecycle`).
    async fn select(&self, erasure: &Erasure) -> Result<Selected, StoreError> {
        let (key, subject) = (erasure.key(), erasure.subject().to_owned());
        let direct = {
            let subject = subject.clone();
            self.scan(Arc::new(move |doc| names(doc, key, &subject)))
                .await?
        };
        let Erasure::User(_) = erasure else {
            return Ok(direct);
        };
        let mut conversations = BTreeSet::new();
        for event in &direct.events {
            values_of(&event.to_value(), "conversation_id", &mut conversations);
        }
        conversations.remove("");
        if conversations.is_empty() {
            return Ok(direct);
        }
        self.scan(Arc::new(move |doc| {
            names(doc, key, &subject)
                || conversations
                    .iter()
                    .any(|c| names(doc, "conversation_id", c))
        }))
        .await
    }

    pub(crate) async fn subject_events_impl(
        &self,
        erasure: &Erasure,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        self.ensure_open(erasure.action().as_str())?;
        erasure.check()?;
        Ok(self.select(erasure).await?.events)
    }

    pub(crate) async fn erase_impl(
        &self,
        erasure: &Erasure,
        mode: RunMode,
    ) -> Result<ErasureReport, StoreError> {
        let operation = erasure.action().as_str();
        self.ensure_open(operation)?;
        erasure.check()?;
        let key = self.lifecycle_key(operation)?;
        let selected = self.select(erasure).await?;
        if mode == RunMode::DryRun {
            return Ok(selected.report(&selected.ids.iter().copied().collect()));
        }
        let mut removed = HashSet::new();
        for (ids, events) in selected
            .ids
            .chunks(ERASE_BATCH)
            .zip(selected.events.chunks(ERASE_BATCH))
        {
            let hashes: Vec<Vec<u8>> = events
                .iter()
                .map(|e| crate::lifecycle::id_hash(&key[..], e.event_id()))
                .collect();
            removed.extend(self.erase_batch(ids.to_vec(), hashes).await?);
        }
        let report = selected.report(&removed);
        let subject = keyed_hash(
            &key[..],
            HashDomain::Subject(erasure.action()),
            erasure.subject(),
        );
        self.audit(
            erasure.action(),
            Some(subject.to_vec()),
            None,
            report.events,
        )
        .await?;
        if report.events > 0 {
            self.announce_write();
        }
        Ok(report)
    }

    /// One erasure transaction: the ledger locked, the hashes in, the rows out; the ids of
    /// the rows removed.
    async fn erase_batch(
        &self,
        ids: Vec<i64>,
        hashes: Vec<Vec<u8>>,
    ) -> Result<Vec<i64>, StoreError> {
        #[derive(QueryableByName)]
        struct Removed {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let result = with_retries!(self, "erase", Access::Write, |conn| {
            let (ids, hashes) = (ids.clone(), hashes.clone());
            conn.transaction(async move |conn: &mut AsyncPgConnection| {
                diesel::sql_query("LOCK TABLE grafi_rs_erased IN ACCESS EXCLUSIVE MODE")
                    .execute(conn)
                    .await?;
                diesel::sql_query(
                    "INSERT INTO grafi_rs_erased (id_hash) SELECT unnest($1::bytea[]) \
                     ON CONFLICT (id_hash) DO NOTHING",
                )
                .bind::<Array<Bytea>, _>(hashes)
                .execute(conn)
                .await?;
                diesel::sql_query(
                    "DELETE FROM events WHERE id = ANY($1::int8[]) RETURNING id::int8 AS id",
                )
                .bind::<Array<BigInt>, _>(ids)
                .load::<Removed>(conn)
                .await
            })
        });
        let removed = self.explain_denied(result, "DELETE").await?;
        Ok(removed.into_iter().map(|r| r.id).collect())
    }

    pub(crate) async fn purge_impl(
        &self,
        before: DateTime<Utc>,
        mode: RunMode,
    ) -> Result<PurgeReport, StoreError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        #[derive(QueryableByName)]
        struct Removed {
            #[diesel(sql_type = BigInt)]
            upper: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            last: Option<i64>,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        #[derive(QueryableByName)]
        struct IdRange {
            #[diesel(sql_type = Nullable<BigInt>)]
            first: Option<i64>,
            #[diesel(sql_type = Nullable<BigInt>)]
            last: Option<i64>,
        }
        self.ensure_open("purge")?;
        self.lifecycle_key("purge")?;
        let cut_off = before.naive_utc();
        if mode == RunMode::DryRun {
            let counted = with_retries!(self, "purge", Access::Read, |conn| {
                diesel::sql_query("SELECT count(*)::int8 AS n FROM events WHERE \"timestamp\" < $1")
                    .bind::<Timestamp, _>(cut_off)
                    .get_result::<Count>(conn)
            });
            let counted = self.explain_denied(counted, "SELECT").await?;
            return Ok(PurgeReport::new(counted.n.max(0) as u64, before));
        }
        // The ids there are now: events recorded after the purge starts are left to the next.
        let ends = with_retries!(self, "purge", Access::Read, |conn| {
            diesel::sql_query("SELECT min(id)::int8 AS first, max(id)::int8 AS last FROM events")
                .get_result::<IdRange>(conn)
        });
        let ends = self.explain_denied(ends, "SELECT").await?;
        let mut total = 0u64;
        if let (Some(first), Some(last_id)) = (ends.first, ends.last) {
            // Keyset over the primary key, one window of at most PURGE_WINDOW rows per
            // statement: each statement reads a bounded stretch of the table whatever the
            // table's size or how few old events it holds, and deletes at most PURGE_BATCH.
            let (mut after, mut from_first) = (first, true);
            while from_first || after < last_id {
                let batch = with_retries!(self, "purge", Access::Write, |conn| {
                    diesel::sql_query(PURGE_SQL)
                        .bind::<BigInt, _>(after)
                        .bind::<Timestamp, _>(cut_off)
                        .bind::<BigInt, _>(PURGE_BATCH)
                        .bind::<BigInt, _>(PURGE_WINDOW - 1)
                        .bind::<BigInt, _>(last_id)
                        .bind::<diesel::sql_types::Bool, _>(from_first)
                        .get_result::<Removed>(conn)
                });
                let batch = self.explain_denied(batch, "DELETE").await?;
                total += batch.n.max(0) as u64;
                // A full batch may have left old events in its window: go on from its last.
                after = match (batch.n == PURGE_BATCH, batch.last) {
                    (true, Some(last)) => last,
                    _ => batch.upper,
                };
                from_first = false;
            }
        }
        self.audit(AuditAction::Purge, None, Some(before), total)
            .await?;
        if total > 0 {
            self.announce_write();
        }
        Ok(PurgeReport::new(total, before))
    }

    /// Appends one record to the audit trail; the role and `application_name` are the
    /// session's, filled in by the server.
    async fn audit(
        &self,
        action: AuditAction,
        subject_hash: Option<Vec<u8>>,
        before: Option<DateTime<Utc>>,
        events: u64,
    ) -> Result<(), StoreError> {
        let events = i64::try_from(events).unwrap_or(i64::MAX);
        let result = with_retries!(self, "audit", Access::Write, |conn| {
            diesel::sql_query(
                "INSERT INTO grafi_rs_audit (action, subject_hash, before, events) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind::<Text, _>(action.as_str())
            .bind::<Nullable<Bytea>, _>(subject_hash.clone())
            .bind::<Nullable<Timestamptz>, _>(before)
            .bind::<BigInt, _>(events)
            .execute(conn)
        });
        self.explain_denied(result, "INSERT").await.map(|_| ())
    }

    pub(crate) async fn audit_trail_impl(&self) -> Result<Vec<AuditRecord>, StoreError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Timestamptz)]
            at: DateTime<Utc>,
            #[diesel(sql_type = Text)]
            action: String,
            #[diesel(sql_type = Nullable<Bytea>)]
            subject_hash: Option<Vec<u8>>,
            #[diesel(sql_type = Nullable<Timestamptz>)]
            before: Option<DateTime<Utc>>,
            #[diesel(sql_type = BigInt)]
            events: i64,
            #[diesel(sql_type = Text)]
            role: String,
            #[diesel(sql_type = Text)]
            application_name: String,
        }
        self.ensure_open("audit_trail")?;
        // Reading the trail needs the table, not the key (a reader role may lack it).
        if !self.inner.layout.lifecycle {
            self.lifecycle_key("audit_trail")?;
        }
        let rows = with_retries!(self, "audit_trail", Access::Read, |conn| {
            diesel::sql_query(
                "SELECT id, at, action, subject_hash, before, events, role, application_name \
                 FROM grafi_rs_audit ORDER BY id",
            )
            .load::<Row>(conn)
        });
        let rows = self.explain_denied(rows, "SELECT").await?;
        rows.into_iter()
            .map(|row| {
                let action =
                    row.action
                        .parse::<AuditAction>()
                        .map_err(|why| StoreError::Backend {
                            message: format!("audit record {}: {why}", row.id),
                            retryable: false,
                            source: None,
                        })?;
                Ok(AuditRecord::new(
                    row.id.max(0) as u64,
                    row.at,
                    action,
                    row.subject_hash.as_deref().map(hex),
                    row.before,
                    row.events.max(0) as u64,
                    row.role,
                    row.application_name,
                ))
            })
            .collect()
    }
}
