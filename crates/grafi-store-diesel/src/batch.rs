//! `record_events`' write path: events are encoded chunk by chunk while earlier chunks are
//! already on their way to the server (pipelined on one connection, in one transaction), so
//! the client's encoding overlaps the server's inserting instead of preceding it.

use std::sync::{Arc, Mutex};

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use grafi_events::{Event, EventRegistry};
use grafi_store_core::validate::{self, Limits};
use grafi_store_core::{InvalidReason, StoreError};

use crate::layout::{Layout, Shape};
use crate::lifecycle::Written;
use crate::query::InsertChunk;
use crate::row::NewRow;

/// Cuts a batch into INSERT chunks of at most `rows` rows and (unless a single row is
/// larger) `bytes` bytes, encoding each event once, as late as possible.
///
/// It owns the events, and checks and drops each one when it encodes it: checking costs
/// ≈ 0.9 µs and freeing ≈ 2.5 µs an event, and done here both overlap the server's work on the
/// previous chunk instead of preceding the first one or following the last one. A chunk is
/// only handed out once all its events passed the checks; an event that fails ends the
/// batch ([`ChunkEncoder::invalid`]), and since every chunk after the first runs in the
/// batch's transaction, nothing of the batch is written.
pub(crate) struct ChunkEncoder {
    events: std::vec::IntoIter<Event>,
    limits: Limits,
    /// Batch index of the next event.
    index: usize,
    invalid: Option<StoreError>,
    /// A row that did not fit in the previous chunk.
    carry: Option<NewRow>,
    rows: usize,
    bytes: usize,
    /// Rows in the next chunk: small at first, then `rows` (see [`ChunkEncoder::new`]).
    next_rows: usize,
    /// The table the rows are for.
    table: Table,
}

/// What the encoder needs to know of the table.
struct Table {
    /// Which grafi's columns it has; an event of the other grafi's dialect is refused
    /// ([`InvalidReason::WrongDialect`]).
    shape: Shape,
    /// Whether it has the `extra` column. Without it, an event grafi 0.0.24's columns cannot
    /// hold is refused ([`InvalidReason::NeedsMigration`]); grafi 0.0.36's `event_data` holds
    /// every document, as `jsonb` keeps it.
    with_extra: bool,
    /// For a grafi 0.0.36 table with `extra`: decodes what a row will give back, to know
    /// whether the row needs `extra` (see `document.rs`).
    exact: Option<Arc<EventRegistry>>,
    /// The hash key of the erased-id ledger, when the table has one.
    ledger_key: Option<Arc<[u8; 32]>>,
}

/// The first chunk of a batch that needs several is this fraction of a full one.
const FIRST_CHUNK_DIVISOR: usize = 4;

impl ChunkEncoder {
    /// A batch that fits in one chunk is sent as one. A larger batch starts with a quarter
    /// chunk: the server has nothing to do until the first chunk is encoded, so a small first
    /// chunk gets it working sooner; every later chunk is encoded while it works.
    pub(crate) fn new(events: Vec<Event>, limits: Limits, rows: usize, bytes: usize) -> Self {
        let rows = rows.max(1);
        let next_rows = if events.len() > rows {
            (rows / FIRST_CHUNK_DIVISOR).max(1)
        } else {
            rows
        };
        Self {
            events: events.into_iter(),
            limits,
            index: 0,
            invalid: None,
            carry: None,
            rows,
            bytes,
            next_rows,
            table: Table {
                shape: Shape::Columns,
                with_extra: true,
                exact: None,
                ledger_key: None,
            },
        }
    }

    /// For the table `layout` describes, whose rows `registry` decodes.
    pub(crate) fn for_table(
        mut self,
        layout: Layout,
        registry: Arc<EventRegistry>,
        ledger_key: Option<Arc<[u8; 32]>>,
    ) -> Self {
        let exact = (layout.shape == Shape::Document && layout.extra).then_some(registry);
        self.table = Table {
            shape: layout.shape,
            with_extra: layout.extra,
            exact,
            ledger_key,
        };
        self
    }

    /// The error for the event at `index` when it is of the other grafi's dialect.
    fn wrong_dialect(&self, event: &Event, index: usize) -> Option<StoreError> {
        let table = self.table.shape.dialect();
        let dialect = event.dialect().filter(|d| *d != table)?;
        Some(StoreError::InvalidEvent {
            event_id: event.event_id().to_owned(),
            index,
            reason: InvalidReason::WrongDialect {
                event: dialect,
                table,
            },
        })
    }

    /// Every check of the event at `index`: the shared validation, then the table's dialect.
    fn check(&self, event: &Event, index: usize) -> Result<(), StoreError> {
        validate::check(event, index, &self.limits)?;
        self.wrong_dialect(event, index).map_or(Ok(()), Err)
    }

    /// The event's row for this table.
    fn encode(&self, event: &Event) -> NewRow {
        match self.table.shape {
            Shape::Columns => crate::row::encode(event),
            Shape::Document => crate::document::encode(event, self.table.exact.as_deref()),
        }
    }

    /// The error for the event at `index` when its row needs `extra` and the table has none.
    fn needs_extra(&self, row: &NewRow, index: usize) -> Option<StoreError> {
        (!self.table.with_extra && row.extra.is_some()).then(|| StoreError::InvalidEvent {
            event_id: row.event_id.clone(),
            index,
            reason: InvalidReason::NeedsMigration { column: "extra" },
        })
    }

    /// Whether every event has been handed out in a chunk (or one failed its checks).
    pub(crate) fn is_done(&self) -> bool {
        self.carry.is_none() && self.events.len() == 0
    }

    /// Whether an event failed its checks; no chunk is handed out after it.
    pub(crate) fn found_invalid(&self) -> bool {
        self.invalid.is_some()
    }

    /// The first event that failed its checks.
    pub(crate) fn take_invalid(&mut self) -> Option<StoreError> {
        self.invalid.take()
    }

    /// Checks the events not encoded yet, without encoding them. Called when the call failed
    /// for another reason (pool exhausted, deadline, server down) before the encoder reached
    /// them: a batch holding an invalid event is reported as invalid, as the memory store
    /// does, not as a failure worth retrying.
    pub(crate) fn check_rest(&mut self) {
        if self.invalid.is_some() {
            return;
        }
        let first = self.index;
        let failed = self
            .events
            .as_slice()
            .iter()
            .enumerate()
            .find_map(|(i, event)| {
                self.check(event, first + i).err().or_else(|| {
                    match (self.table.shape, self.table.with_extra) {
                        // Only grafi 0.0.24's columns can need `extra` (see `Table`).
                        (Shape::Columns, false) => self.needs_extra(&self.encode(event), first + i),
                        _ => None,
                    }
                })
            });
        self.invalid = failed;
    }

    /// Cuts the chunks not handed out yet at `rows` rows instead.
    pub(crate) fn set_rows(&mut self, rows: usize) {
        self.rows = rows.max(1);
        self.next_rows = self.rows;
    }

    fn stop(&mut self, error: StoreError) -> Option<InsertChunk> {
        self.invalid = Some(error);
        self.carry = None;
        self.events = Vec::new().into_iter();
        None
    }
}

impl Iterator for ChunkEncoder {
    type Item = InsertChunk;

    fn next(&mut self) -> Option<InsertChunk> {
        let mut current: Vec<NewRow> = Vec::new();
        let mut size = 0usize;
        if let Some(row) = self.carry.take() {
            size += row.size();
            current.push(row);
        }
        let limit = std::mem::replace(&mut self.next_rows, self.rows);
        while current.len() < limit {
            let Some(event) = self.events.next() else {
                break;
            };
            if let Err(error) = self.check(&event, self.index) {
                return self.stop(error);
            }
            let row = self.encode(&event);
            drop(event);
            if let Some(error) = self.needs_extra(&row, self.index) {
                return self.stop(error);
            }
            self.index += 1;
            if !current.is_empty() && size + row.size() > self.bytes {
                self.carry = Some(row);
                break;
            }
            size += row.size();
            current.push(row);
        }
        (!current.is_empty()).then(|| {
            InsertChunk::new(
                current,
                self.table.shape,
                self.table.with_extra,
                self.table.ledger_key.as_deref().map(|k| &k[..]),
            )
        })
    }
}

/// The chunks encoded so far (kept for retries) and the rest still to encode.
pub(crate) struct Encoded {
    pub(crate) chunks: Vec<InsertChunk>,
    pub(crate) encoder: ChunkEncoder,
}

impl Encoded {
    /// Regroups the chunks a failed `COPY` left (small messages) into INSERT statements of up
    /// to `rows` rows and `bytes` bytes, and has the encoder cut the rest likewise, so the
    /// fallback sends about as many statements as the INSERT path would have alone (whole
    /// messages are merged: 32-row ones give 224-row statements for 250). Rows are moved, not
    /// copied, and keep their order.
    pub(crate) fn regroup(&mut self, rows: usize, bytes: usize) {
        let mut regrouped: Vec<InsertChunk> = Vec::new();
        let mut size = 0;
        for chunk in std::mem::take(&mut self.chunks) {
            let chunk_size = chunk.size();
            match regrouped.last_mut() {
                Some(last) if last.len() + chunk.len() <= rows && size + chunk_size <= bytes => {
                    last.append(chunk);
                    size += chunk_size;
                }
                _ => {
                    regrouped.push(chunk);
                    size = chunk_size;
                }
            }
        }
        self.chunks = regrouped;
        self.encoder.set_rows(rows);
    }
}

/// Sends every chunk on `conn` without waiting for the previous one to finish, encoding the
/// next chunk while the server works. Must run inside a transaction: PostgreSQL executes the
/// statements in order, and after a failure the transaction rolls back as a whole.
///
/// With `ledger`, the last statement asks the erased-id ledger about the batch, and rows of
/// erased ids are deleted again before the caller commits (see `lifecycle.rs`).
pub(crate) async fn insert_pipelined(
    conn: &mut AsyncPgConnection,
    encoded: &Mutex<Encoded>,
    ledger: bool,
) -> QueryResult<Written> {
    let hits = {
        let shared: &AsyncPgConnection = conn;
        let mut inflight = FuturesOrdered::new();
        let mut inserted = 0usize;
        let mut index = 0usize;
        loop {
            let statement = {
                let mut guard = encoded
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if index == guard.chunks.len() {
                    match guard.encoder.next() {
                        Some(chunk) => guard.chunks.push(chunk),
                        // An invalid event: roll the transaction back (the caller reports it).
                        None if guard.encoder.found_invalid() => {
                            return Err(diesel::result::Error::RollbackTransaction)
                        }
                        None => break,
                    }
                }
                // The future holds the serialised statement, not the chunk.
                let mut pipelined = shared;
                (&guard.chunks[index]).execute(&mut pipelined)
            };
            index += 1;
            inflight.push_back(statement);
            // Polling once sends the statement; collect whatever already finished.
            while let Some(Some(result)) = inflight.next().now_or_never() {
                inserted += result?;
            }
        }
        // Sent after every insert: PostgreSQL runs it last.
        let check = async {
            if !ledger {
                return Ok(Vec::new());
            }
            let hashes = {
                let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
                crate::lifecycle::batch_hashes(&guard.chunks)
            };
            let mut pipelined = shared;
            diesel::sql_query(crate::lifecycle::ERASED_HITS_SQL)
                .bind::<diesel::sql_types::Array<diesel::sql_types::Bytea>, _>(hashes)
                .load::<crate::lifecycle::Hit>(&mut pipelined)
                .await
        };
        let drain = async {
            while let Some(result) = inflight.next().await {
                inserted += result?;
            }
            QueryResult::Ok(inserted)
        };
        let (drained, hits) = futures::join!(drain, check);
        (drained?, hits?)
    };
    let (inserted, hits) = hits;
    if hits.is_empty() {
        return Ok(Written::inserted(inserted));
    }
    let hits: Vec<Vec<u8>> = hits.into_iter().map(|hit| hit.id_hash).collect();
    let (ids, erased) = {
        let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
        crate::lifecycle::erased_ids(&guard.chunks, &hits)
    };
    let retracted = crate::lifecycle::retract(conn, ids).await?;
    Ok(Written {
        inserted,
        retracted,
        erased,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::encode;
    use grafi_events::{InvokeContext, NodeInfo};

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|_| {
                Event::node_failed(
                    InvokeContext::new("c", "r"),
                    NodeInfo::new("n", "T"),
                    vec![],
                    "boom",
                )
            })
            .collect()
    }

    fn chunk_sizes(n: usize, rows: usize, bytes: usize) -> Vec<usize> {
        ChunkEncoder::new(events(n), Limits::default(), rows, bytes)
            .map(|chunk| chunk.event_id.len())
            .collect()
    }

    #[test]
    fn a_batch_that_fits_is_one_chunk() {
        assert_eq!(chunk_sizes(1, 500, usize::MAX), [1]);
        assert_eq!(chunk_sizes(500, 500, usize::MAX), [500]);
    }

    #[test]
    fn a_larger_batch_starts_with_a_quarter_chunk_then_full_ones() {
        assert_eq!(chunk_sizes(501, 500, usize::MAX), [125, 376]);
        assert_eq!(chunk_sizes(1_000, 500, usize::MAX), [125, 500, 375]);
        assert_eq!(chunk_sizes(7, 2, usize::MAX), [1, 2, 2, 2]);
    }

    #[test]
    fn the_byte_limit_cuts_chunks_but_never_below_one_row() {
        let sizes = chunk_sizes(10, 500, 1);
        assert_eq!(sizes, [1; 10]);
        let one_row = encode(&events(1)[0]).size();
        assert_eq!(chunk_sizes(10, 500, one_row * 3), [3, 3, 3, 1]);
    }

    #[test]
    fn regrouping_merges_small_chunks_in_order_and_cuts_the_rest_alike() {
        let batch = events(1_000);
        let ids: Vec<String> = batch.iter().map(|e| e.event_id().to_owned()).collect();
        let mut encoder = ChunkEncoder::new(batch, Limits::default(), 32, usize::MAX);
        let chunks: Vec<InsertChunk> = encoder.by_ref().take(4).collect();
        assert_eq!(
            chunks.iter().map(InsertChunk::len).collect::<Vec<_>>(),
            [8, 32, 32, 32]
        );
        let mut encoded = Encoded { chunks, encoder };
        encoded.regroup(50, usize::MAX);
        let mut sizes: Vec<usize> = encoded.chunks.iter().map(InsertChunk::len).collect();
        assert_eq!(sizes, [40, 32, 32]);
        let rest: Vec<InsertChunk> = encoded.encoder.by_ref().collect();
        sizes.extend(rest.iter().map(InsertChunk::len));
        assert_eq!(&sizes[3..6], [50, 50, 50]);
        assert_eq!(sizes.iter().sum::<usize>(), 1_000);
        let order: Vec<&String> = encoded
            .chunks
            .iter()
            .chain(&rest)
            .flat_map(|c| &c.event_id)
            .collect();
        assert!(order.iter().copied().eq(ids.iter()));

        let one_row = encode(&events(1)[0]).size();
        let mut encoder = ChunkEncoder::new(events(100), Limits::default(), 10, usize::MAX);
        let chunks: Vec<InsertChunk> = encoder.by_ref().take(3).collect();
        let mut encoded = Encoded { chunks, encoder };
        encoded.regroup(1_000, one_row * 15);
        let sizes: Vec<usize> = encoded.chunks.iter().map(InsertChunk::len).collect();
        assert_eq!(sizes, [12, 10]);
    }

    #[test]
    fn an_invalid_event_ends_the_batch_with_its_index_and_no_partial_chunk() {
        let mut batch = events(1_000);
        batch[700].meta_mut().unwrap().event_id = String::new();
        let mut encoder = ChunkEncoder::new(batch, Limits::default(), 500, usize::MAX);
        let sizes: Vec<usize> = encoder.by_ref().map(|c| c.event_id.len()).collect();
        // 125 + 500 = 625 events pass; the chunk holding event 700 is never handed out.
        assert_eq!(sizes, [125, 500]);
        assert!(encoder.is_done());
        match encoder.take_invalid() {
            Some(StoreError::InvalidEvent { index, .. }) => assert_eq!(index, 700),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_invalid_event_not_yet_encoded_is_found_by_check_rest() {
        let mut batch = events(1_000);
        batch[700].meta_mut().unwrap().event_id = String::new();
        let mut encoder = ChunkEncoder::new(batch, Limits::default(), 500, usize::MAX);
        assert_eq!(encoder.next().map(|c| c.event_id.len()), Some(125));
        assert!(!encoder.found_invalid());
        encoder.check_rest();
        match encoder.take_invalid() {
            Some(StoreError::InvalidEvent { index, .. }) => assert_eq!(index, 700),
            other => panic!("{other:?}"),
        }
        let mut clean = ChunkEncoder::new(events(1_000), Limits::default(), 500, usize::MAX);
        clean.next();
        clean.check_rest();
        assert!(clean.take_invalid().is_none());
    }
}
