//! The streaming forms of the conversation and request reads, in bounded memory.
//!
//! Why one statement, not keyset pages: the indexes grafi gives the table are on
//! `conversation_id` and `assistant_request_id` alone, so each page of a keyset read would
//! visit the whole conversation again (quadratic on a conversation of 200,000 events). One
//! statement, sorted by id on the server, sends its rows only as fast as they are taken: a
//! task holding one pooled connection reads them, decodes them in chunks on the blocking pool
//! and hands the events through a bounded channel (two chunks decoding while the next rows
//! arrive), so memory stays at a few chunks whatever
//! the size of the conversation. It runs in a read-only transaction with `statement_timeout`
//! lifted (`SET LOCAL`, gone at its end): a slow consumer must not make the server cancel a
//! read that is not slow itself. A read-only transaction takes no transaction id, so it does
//! not hold subscriptions back. Dropping the stream ends the read at the next chunk.

use std::marker::PhantomData;
use std::sync::Arc;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use grafi_events::Event;
use grafi_store_core::{ReadStream, StoreError};
use tokio::sync::mpsc;

use crate::error::{from_diesel, Access};
use crate::query::{ByColumn, OrderedByColumnQuery};
use crate::row::RowTuple;
use crate::store::{DieselEventStore, Inner};

/// Rows decoded per chunk, and decoded chunks the channel holds. Chunks, not events, go
/// through the channel: one hand-over per 100 events, not one per event.
const CHUNK_ROWS: usize = 100;
const CHANNEL_CHUNKS: usize = 2;

type Sender = mpsc::Sender<Result<Vec<Arc<Event>>, StoreError>>;

impl DieselEventStore {
    /// The events whose column `C` equals `value`, in id order, as a stream.
    pub(crate) fn stream_where<C: ByColumn + Send + Sync>(
        &self,
        operation: &'static str,
        value: &str,
    ) -> ReadStream<'static> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let inner = Arc::clone(&self.inner);
        let value = value.to_owned();
        tokio::spawn(async move {
            if let Err(error) = read::<C>(&inner, operation, &value, &sender).await {
                let _ = sender.send(Err(error)).await;
            }
        });
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .flat_map(|chunk| match chunk {
            Ok(events) => futures::stream::iter(events.into_iter().map(Ok)).left_stream(),
            Err(error) => futures::stream::iter([Err(error)]).right_stream(),
        })
        .boxed()
    }
}

/// The consumer went away: roll back and stop.
#[derive(Debug)]
struct Gone;

async fn read<C: ByColumn + Send + Sync>(
    inner: &Inner,
    operation: &'static str,
    value: &str,
    sender: &Sender,
) -> Result<(), StoreError> {
    if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
        return Err(StoreError::Closed { operation });
    }
    let pooled = inner.pool.get().await.map_err(|e| inner.pool_error(e))?;
    let mut checkout = crate::retry::Checkout {
        pooled,
        clean: false,
    };
    let conn: &mut AsyncPgConnection = &mut checkout.pooled;
    let layout = inner.layout;
    let registry = &inner.config.registry;
    let result = conn
        .transaction(async |conn| {
            diesel::sql_query("SET TRANSACTION READ ONLY")
                .execute(conn)
                .await
                .map_err(Failure::Db)?;
            diesel::sql_query("SET LOCAL statement_timeout = 0")
                .execute(conn)
                .await
                .map_err(Failure::Db)?;
            let rows = OrderedByColumnQuery::<C> {
                layout,
                value,
                column: PhantomData,
            }
            .load_stream::<RowTuple>(conn)
            .await
            .map_err(Failure::Db)?;
            // Two chunks decode on the blocking pool while the next rows arrive.
            let decoded = rows.chunks(CHUNK_ROWS).map(|chunk| {
                let registry = Arc::clone(registry);
                async move {
                    let chunk: Vec<RowTuple> = chunk
                        .into_iter()
                        .collect::<diesel::QueryResult<_>>()
                        .map_err(Failure::Db)?;
                    tokio::task::spawn_blocking(move || {
                        crate::read::decode(chunk, layout.shape, &registry)
                    })
                    .await
                    .map_err(|join| Failure::Decode(join.to_string()))
                }
            });
            let mut decoded = std::pin::pin!(decoded.buffered(2));
            while let Some(chunk) = decoded.next().await {
                let events = chunk?.into_iter().map(|(_, event)| event).collect();
                if sender.send(Ok(events)).await.is_err() {
                    return Err(Failure::Gone(Gone));
                }
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => {
            checkout.clean = true;
            Ok(())
        }
        Err(Failure::Gone(Gone)) => {
            checkout.clean = true;
            Ok(())
        }
        Err(Failure::Db(error)) => Err(from_diesel(error, Access::Read)),
        Err(Failure::Decode(message)) => Err(StoreError::Backend {
            message: format!("decoding task failed: {message}"),
            retryable: false,
            source: None,
        }),
    }
}

/// Why the read's transaction ended early.
#[derive(Debug)]
enum Failure {
    Db(diesel::result::Error),
    Decode(String),
    Gone(Gone),
}

impl From<diesel::result::Error> for Failure {
    fn from(error: diesel::result::Error) -> Self {
        Failure::Db(error)
    }
}
