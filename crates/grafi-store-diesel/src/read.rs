//! Rows → events while the rows are still arriving.
//!
//! Why: without a sort in its plan the server sends a read's rows as it reads them. Each full
//! chunk of rows goes to tokio's blocking pool to be decoded while this task receives the
//! next ones; the last chunk is decoded here. Rows are sorted by id at the end. On a
//! 100-event conversation this took a read from 1.85–2.25 ms to 1.50–1.83 ms (same machine,
//! alternating binaries); decoding after the last row, on two threads, was the old way.

use std::collections::VecDeque;
use std::sync::Arc;

use diesel::QueryResult;
use futures::{Stream, StreamExt};
use grafi_events::{Event, EventRegistry};
use grafi_store_core::StoreError;
use tokio::task::{JoinError, JoinHandle};

use crate::document::DocumentRow;
use crate::layout::Shape;
use crate::row::{RowTuple, StoredRow};

/// Rows per chunk handed to the blocking pool.
const CHUNK_ROWS: usize = 25;

/// Chunks decoding at once. More would not go faster on fewer cores, and a long read must
/// not fill tokio's blocking pool (up to 512 threads) with chunks: the next chunk waits for
/// the oldest one instead.
const CHUNKS_IN_FLIGHT: usize = 2;

pub(crate) type DecodedChunk = Vec<(i64, Arc<Event>)>;

/// A read's rows as received: chunks decoded, chunks being decoded (oldest first), and the
/// rows after the last full chunk.
#[derive(Default)]
pub(crate) struct Arriving {
    decoded: Vec<Result<DecodedChunk, JoinError>>,
    decoding: VecDeque<JoinHandle<DecodedChunk>>,
    rest: Vec<RowTuple>,
}

/// Rows of a table of `shape` → `(id, event)`, in row order (a row that does not decode comes
/// back raw).
pub(crate) fn decode(rows: Vec<RowTuple>, shape: Shape, registry: &EventRegistry) -> DecodedChunk {
    rows.into_iter()
        .map(|row| {
            let id = row.0;
            let event = match shape {
                Shape::Columns => StoredRow::from(row).into_event(registry),
                Shape::Document => DocumentRow::from(row).into_event(registry),
            };
            (id, Arc::new(event))
        })
        .collect()
}

/// Receives every row of `rows`, sending each full chunk off to be decoded.
pub(crate) async fn receive<S>(
    rows: S,
    shape: Shape,
    registry: &Arc<EventRegistry>,
) -> QueryResult<Arriving>
where
    S: Stream<Item = QueryResult<RowTuple>>,
{
    let mut rows = std::pin::pin!(rows);
    let mut arriving = Arriving::default();
    while let Some(row) = rows.next().await {
        arriving.rest.push(row?);
        if arriving.rest.len() == CHUNK_ROWS {
            if arriving.decoding.len() == CHUNKS_IN_FLIGHT {
                if let Some(oldest) = arriving.decoding.pop_front() {
                    arriving.decoded.push(oldest.await);
                }
            }
            let chunk = std::mem::replace(&mut arriving.rest, Vec::with_capacity(CHUNK_ROWS));
            let registry = Arc::clone(registry);
            arriving
                .decoding
                .push_back(tokio::task::spawn_blocking(move || {
                    decode(chunk, shape, &registry)
                }));
        }
    }
    Ok(arriving)
}

impl Arriving {
    /// The events in id order: the last rows decoded here, then the chunks awaited.
    pub(crate) async fn finish(
        mut self,
        shape: Shape,
        registry: &EventRegistry,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut events = decode(self.rest, shape, registry);
        for handle in self.decoding {
            self.decoded.push(handle.await);
        }
        for chunk in self.decoded {
            let chunk = chunk.map_err(|join| StoreError::Backend {
                message: format!("decoding task failed: {join}"),
                retryable: false,
                source: None,
            })?;
            events.extend(chunk);
        }
        events.sort_unstable_by_key(|(id, _)| *id);
        Ok(events.into_iter().map(|(_, event)| event).collect())
    }
}
