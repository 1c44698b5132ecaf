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
//! rows out) or, for purges, [`PURGE_BATCH`] events: row locks only on `events`, and each
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

    /// One page of rows after `after`, decoded, in id order.
    async fn scan_page(&self, after: Option<i64>) -> Result<Vec<(i64, Arc<Event>)>, StoreError> {
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
        let registry = Arc::clone(&self.inner.config.registry);
        let shape = layout.shape;
        tokio::task::spawn_blocking(move || crate::read::decode(rows, shape, &registry))
            .await
            .map_err(|e| StoreError::Backend {
                message: format!("decoding rows failed: {e}"),
                retryable: false,
                source: None,
            })
    }

    /// Every row, in id order, whose event passes `keep` (given its document).
    async fn scan(
        &self,
        mut keep: impl FnMut(&serde_json::Value) -> bool,
    ) -> Result<Selected, StoreError> {
        let mut selected = Selected {
            ids: Vec::new(),
            events: Vec::new(),
        };
        let mut after = None;
        loop {
            let page = self.scan_page(after).await?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            for (id, event) in page {
                if keep(&event.to_value()) {
                    selected.ids.push(id);
                    selected.events.push(event);
                }
            }
            after = Some(last);
        }
        Ok(selected)
    }

    /// What `erasure` removes now (see `grafi_store_core::lifecycle`).
    async fn select(&self, erasure: &Erasure) -> Result<Selected, StoreError> {
        let (key, subject) = (erasure.key(), erasure.subject());
        let direct = self.scan(|doc| names(doc, key, subject)).await?;
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
        self.scan(|doc| {
            names(doc, key, subject)
                || conversations
                    .iter()
                    .any(|c| names(doc, "conversation_id", c))
        })
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
            #[diesel(sql_type = Nullable<BigInt>)]
            last: Option<i64>,
            #[diesel(sql_type = BigInt)]
            n: i64,
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
        let mut after = i64::MIN;
        let mut total = 0u64;
        loop {
            // Keyset over the primary key: each batch starts where the last one ended, so a
            // purge reads the table once, whatever it leaves behind.
            let batch = with_retries!(self, "purge", Access::Write, |conn| {
                diesel::sql_query(
                    "WITH gone AS (DELETE FROM events WHERE id IN (\
                         SELECT id FROM events WHERE id > $1 AND \"timestamp\" < $2 \
                         ORDER BY id LIMIT $3) RETURNING id) \
                     SELECT max(id)::int8 AS last, count(*)::int8 AS n FROM gone",
                )
                .bind::<BigInt, _>(after)
                .bind::<Timestamp, _>(cut_off)
                .bind::<BigInt, _>(PURGE_BATCH)
                .get_result::<Removed>(conn)
            });
            let batch = self.explain_denied(batch, "DELETE").await?;
            total += batch.n.max(0) as u64;
            match batch.last {
                Some(last) => after = last,
                None => break,
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
