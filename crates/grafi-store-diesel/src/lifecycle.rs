//! The erased-id ledger on the write path (migration 4, `grafi_rs_erased`).
//!
//! How an erased id is kept out, whichever way a batch is written:
//! * one event: its `INSERT` reads the ledger in the same statement (`query::InsertOne`);
//! * a batch (`INSERT` chunks in a transaction, or one `COPY`): every row is written, then,
//!   last in the same transaction, one statement asks the ledger about the batch's hashes
//!   ([`ERASED_HITS_SQL`]); the rare hit is deleted again before `COMMIT`
//!   ([`RETRACT_SQL`]: only rows this transaction inserted).
//!
//! Why that cannot let an erased event back in: an erasure locks the ledger `ACCESS
//! EXCLUSIVE` for each of its transactions (ledger rows in, event rows out, commit). A
//! writer's ledger read takes `ACCESS SHARE` on it before its snapshot, and keeps it until
//! its own commit. Either the writer read the ledger first, and the erasure waits for the
//! writer's commit and then deletes what it wrote; or the erasure committed first, and the
//! writer's read sees its hashes. An `INSERT` or `COPY` that waited on the unique index for an
//! erasure deleting the same id does write the row, and its ledger read, after that commit,
//! takes it back out.

use std::collections::HashSet;

use diesel::sql_types::{Array, Bytea, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use grafi_store_core::lifecycle::{keyed_hash, HashDomain};
use grafi_store_core::{RecordOutcome, StoreError};

use crate::error::{from_diesel, Access};
use crate::query::InsertChunk;

/// The ledger entries among a batch's hashes.
pub(crate) const ERASED_HITS_SQL: &str =
    "SELECT id_hash FROM grafi_rs_erased WHERE id_hash = ANY($1::bytea[])";

/// Deletes again rows of erased ids that this transaction itself inserted.
pub(crate) const RETRACT_SQL: &str =
    "DELETE FROM events WHERE event_id = ANY($1::text[]) AND xmin = pg_current_xact_id()::xid";

/// Whether one event id is in the ledger (after a one-event insert wrote nothing: a
/// duplicate, or an erased id).
const IS_ERASED_SQL: &str = "SELECT id_hash FROM grafi_rs_erased WHERE id_hash = $1";

/// The ledger's hash of an event id.
pub(crate) fn id_hash(key: &[u8], event_id: &str) -> Vec<u8> {
    keyed_hash(key, HashDomain::EventId, event_id).to_vec()
}

/// The store's hash key (`grafi_rs_key`), read once when the store opens.
pub(crate) async fn load_key(conn: &mut AsyncPgConnection) -> Result<[u8; 32], StoreError> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Bytea)]
        key: Vec<u8>,
    }
    let rows: Vec<Key> = diesel::sql_query("SELECT key FROM grafi_rs_key")
        .load(conn)
        .await
        .map_err(|e| from_diesel(e, Access::Read))?;
    let key = rows.into_iter().next().map(|k| k.key).unwrap_or_default();
    <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
        StoreError::Config(
            "table grafi_rs_key holds no 32-byte key: without it erased events cannot be kept \
             out; restore it from a backup (a new key would forget every erasure)"
                .into(),
        )
    })
}

/// A ledger hash, as the hits query returns it.
#[derive(QueryableByName)]
pub(crate) struct Hit {
    #[diesel(sql_type = Bytea)]
    pub id_hash: Vec<u8>,
}

/// What a batch's statements did: rows inserted, rows taken out again because their id was
/// erased, and events of the batch refused as erased (each occurrence).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub inserted: usize,
    pub retracted: usize,
    pub erased: usize,
}

impl Written {
    /// Rows inserted, none erased.
    pub(crate) fn inserted(inserted: usize) -> Self {
        Self {
            inserted,
            ..Self::default()
        }
    }

    /// The outcome of a batch of `total` events.
    pub(crate) fn outcome(self, total: usize) -> RecordOutcome {
        let recorded = self.inserted.saturating_sub(self.retracted);
        RecordOutcome::new(recorded, total.saturating_sub(recorded + self.erased))
            .with_erased(self.erased)
    }
}

/// Every hash of the batch, for [`ERASED_HITS_SQL`].
pub(crate) fn batch_hashes(chunks: &[InsertChunk]) -> Vec<Vec<u8>> {
    chunks
        .iter()
        .flat_map(|chunk| chunk.id_hash.iter().cloned())
        .collect()
}

/// The distinct ids of the batch whose hash is in `hits`, and how many events of the batch
/// carry one.
pub(crate) fn erased_ids(chunks: &[InsertChunk], hits: &[Vec<u8>]) -> (Vec<String>, usize) {
    let hits: HashSet<&[u8]> = hits.iter().map(Vec::as_slice).collect();
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let mut occurrences = 0;
    for chunk in chunks {
        for (id, hash) in chunk.event_id.iter().zip(&chunk.id_hash) {
            if hits.contains(hash.as_slice()) {
                occurrences += 1;
                if seen.insert(id.as_str()) {
                    ids.push(id.clone());
                }
            }
        }
    }
    (ids, occurrences)
}

/// Deletes the rows this transaction wrote for `ids` (erased ones); how many.
pub(crate) async fn retract(
    conn: &mut AsyncPgConnection,
    ids: Vec<String>,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(RETRACT_SQL)
        .bind::<Array<Text>, _>(ids)
        .execute(conn)
        .await
}

/// Whether `hash` is in the ledger.
pub(crate) async fn is_erased(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> diesel::QueryResult<bool> {
    let rows: Vec<Hit> = diesel::sql_query(IS_ERASED_SQL)
        .bind::<Bytea, _>(hash)
        .load(conn)
        .await?;
    Ok(!rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_counts_retracted_rows_as_erased_not_recorded() {
        let written = Written {
            inserted: 5,
            retracted: 1,
            erased: 2,
        };
        let outcome = written.outcome(7);
        assert_eq!(
            (outcome.recorded, outcome.duplicates, outcome.erased),
            (4, 1, 2)
        );
        assert_eq!(Written::inserted(3).outcome(3), RecordOutcome::new(3, 0));
    }
}
