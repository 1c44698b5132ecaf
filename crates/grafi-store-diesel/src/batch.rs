//! `record_events`' write path: events are encoded chunk by chunk while earlier chunks are
//! already on their way to the server (pipelined on one connection, in one transaction), so
//! the client's encoding overlaps the server's inserting instead of preceding it.

use std::sync::Mutex;

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use grafi_events::Event;

use crate::query::InsertChunk;
use crate::row::{encode, NewRow};

/// Cuts a batch into INSERT chunks of at most `rows` rows and (unless a single row is
/// larger) `bytes` bytes, encoding each event once, as late as possible.
pub(crate) struct ChunkEncoder<'e> {
    events: std::slice::Iter<'e, Event>,
    /// A row that did not fit in the previous chunk.
    carry: Option<NewRow>,
    rows: usize,
    bytes: usize,
}

impl<'e> ChunkEncoder<'e> {
    pub(crate) fn new(events: &'e [Event], rows: usize, bytes: usize) -> Self {
        Self {
            events: events.iter(),
            carry: None,
            rows: rows.max(1),
            bytes,
        }
    }

    /// Whether every event has been handed out in a chunk.
    pub(crate) fn is_done(&self) -> bool {
        self.carry.is_none() && self.events.len() == 0
    }
}

impl Iterator for ChunkEncoder<'_> {
    type Item = InsertChunk;

    fn next(&mut self) -> Option<InsertChunk> {
        let mut current: Vec<NewRow> = Vec::new();
        let mut size = 0usize;
        if let Some(row) = self.carry.take() {
            size += row.size();
            current.push(row);
        }
        while current.len() < self.rows {
            let Some(event) = self.events.next() else {
                break;
            };
            let row = encode(event);
            if !current.is_empty() && size + row.size() > self.bytes {
                self.carry = Some(row);
                break;
            }
            size += row.size();
            current.push(row);
        }
        (!current.is_empty()).then(|| InsertChunk::new(current))
    }
}

/// The chunks encoded so far (kept for retries) and the rest still to encode.
pub(crate) struct Encoded<'e> {
    pub(crate) chunks: Vec<InsertChunk>,
    pub(crate) encoder: ChunkEncoder<'e>,
}

/// Sends every chunk on `conn` without waiting for the previous one to finish, encoding the
/// next chunk while the server works. Must run inside a transaction: PostgreSQL executes the
/// statements in order, and after a failure the transaction rolls back as a whole.
pub(crate) async fn insert_pipelined(
    conn: &mut AsyncPgConnection,
    encoded: &Mutex<Encoded<'_>>,
) -> QueryResult<usize> {
    let shared: &AsyncPgConnection = conn;
    let mut inflight = FuturesOrdered::new();
    let mut recorded = 0usize;
    let mut index = 0usize;
    loop {
        let statement = {
            let mut guard = encoded
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if index == guard.chunks.len() {
                match guard.encoder.next() {
                    Some(chunk) => guard.chunks.push(chunk),
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
            recorded += result?;
        }
    }
    while let Some(result) = inflight.next().await {
        recorded += result?;
    }
    Ok(recorded)
}
