//! `record_events`' fast path: the whole batch as one binary `COPY events FROM STDIN`.
//!
//! A `COPY` costs the server less than any `INSERT` (no `ON CONFLICT` probe of the unique index
//! before each row, multi-row heap inserts; see docs/performance.md), but it cannot skip ids
//! that are already stored: one duplicate fails the whole statement with a unique violation,
//! and nothing is written. So a batch is first tried as a `COPY`; if that fails for any reason,
//! [`CopyAttempt::Fallback`] hands it, already encoded, to the `INSERT … ON CONFLICT DO
//! NOTHING` path, which has the retries, the error reporting and the idempotence. The server's
//! error only reaches the client once the whole batch is sent, so a fallback costs about a
//! `COPY` plus an `INSERT`.
//!
//! diesel-async has no `COPY` (and keeps its tokio-postgres client private), so the `COPY`
//! runs on a small pool of its own raw tokio-postgres connections, in an explicit transaction
//! (see [`copy_batch`]). Rows get their ids in the order they are sent: the batch order.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::NaiveDateTime;
use futures::SinkExt;
use grafi_store_core::StoreError;
use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use crate::batch::Encoded;
use crate::connect::{unavailable, Connect, LogErrorSink};
use crate::layout::Shape;
use crate::lifecycle::Written;
use crate::query::InsertChunk;

/// The `COPY` statement for the table's layout, columns in [`put_rows`]' order (grafi's own
/// tables have no `extra`).
fn copy_sql(shape: Shape, with_extra: bool) -> &'static str {
    match (shape, with_extra) {
        (Shape::Columns, true) => {
            "COPY events (event_id, conversation_id, assistant_request_id, event_type, \
             event_context, data, \"timestamp\", extra) FROM STDIN (FORMAT binary)"
        }
        (Shape::Columns, false) => {
            "COPY events (event_id, conversation_id, assistant_request_id, event_type, \
             event_context, data, \"timestamp\") FROM STDIN (FORMAT binary)"
        }
        (Shape::Document, true) => {
            "COPY events (event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\", extra) FROM STDIN (FORMAT binary)"
        }
        (Shape::Document, false) => {
            "COPY events (event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\") FROM STDIN (FORMAT binary)"
        }
    }
}

/// Rows per `COPY` message. Small messages let the server start sooner and keep the client's
/// encoding overlapped with its inserting: measured on 2 KB events (docs/performance.md), 32
/// rows beat 250 by 5–20 % for batches of 100 to 1,000 events, and 8, 16, 64 and 128 rows.
pub(crate) const COPY_CHUNK_ROWS: usize = 32;

/// Binary text: `varchar`, `text` and `json` share one binary form (the UTF-8 bytes).
const TEXT: &[&str] = &["character varying", "text"];

/// The column types the binary rows are encoded for: what grafi's tables and our migrations
/// create. A table with other types (altered by hand) is written with `INSERT` only.
pub(crate) fn copy_column_types(shape: Shape) -> [(&'static str, &'static [&'static str]); 8] {
    let own: [(&str, &[&str]); 2] = match shape {
        Shape::Columns => [("event_context", &["jsonb"]), ("data", &["json"])],
        Shape::Document => [("event_version", TEXT), ("event_data", &["jsonb"])],
    };
    [
        ("event_id", TEXT),
        ("conversation_id", TEXT),
        ("assistant_request_id", TEXT),
        ("event_type", TEXT),
        own[0],
        own[1],
        ("timestamp", &["timestamp without time zone"]),
        ("extra", &["json"]),
    ]
}

/// A raw connection of the `COPY` pool, with its `COPY` statement prepared once.
pub(crate) struct CopyConnection {
    client: Client,
    statement: Statement,
    /// The erased-id ledger check, prepared once on a table that has the ledger.
    erased_hits: Option<Statement>,
    /// Cleared while a `COPY` runs: a connection whose `COPY` was abandoned midway (deadline,
    /// lost socket) is discarded, not reused.
    clean: bool,
}

/// Opens [`CopyConnection`]s as the diesel pool opens its own (same TLS, same session).
pub(crate) struct CopyManager {
    connect: Connect,
    shape: Shape,
    with_extra: bool,
    ledger: bool,
}

impl bb8::ManageConnection for CopyManager {
    type Connection = CopyConnection;
    type Error = StoreError;

    async fn connect(&self) -> Result<CopyConnection, StoreError> {
        let client = self.connect.client().await?;
        let sql = copy_sql(self.shape, self.with_extra);
        let statement = client
            .prepare(sql)
            .await
            .map_err(|e| unavailable("cannot prepare the COPY", e))?;
        let erased_hits = match self.ledger {
            false => None,
            true => Some(
                client
                    .prepare(crate::lifecycle::ERASED_HITS_SQL)
                    .await
                    .map_err(|e| unavailable("cannot prepare the erased-id check", e))?,
            ),
        };
        Ok(CopyConnection {
            client,
            statement,
            erased_hits,
            clean: true,
        })
    }

    async fn is_valid(&self, conn: &mut CopyConnection) -> Result<(), StoreError> {
        conn.client
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| unavailable("COPY connection check failed", e))
    }

    fn has_broken(&self, conn: &mut CopyConnection) -> bool {
        !conn.clean || conn.client.is_closed()
    }
}

/// What became of a batch sent as a `COPY`.
#[derive(Debug)]
pub(crate) enum CopyAttempt {
    /// Every row was written; the count of rows.
    Recorded(Written),
    /// An event failed its checks while being encoded; nothing was written.
    Invalid(StoreError),
    /// Nothing was written, or (`outcome_unknown`) the `COPY` may have committed: the batch
    /// must go through the `INSERT … ON CONFLICT DO NOTHING` path.
    Fallback {
        reason: String,
        outcome_unknown: bool,
    },
}

impl CopyAttempt {
    fn fallback(reason: impl Into<String>) -> Self {
        CopyAttempt::Fallback {
            reason: reason.into(),
            outcome_unknown: false,
        }
    }
}

/// How often batches went through `COPY`, and how often they had to fall back to `INSERT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyStats {
    /// Batches written whole by `COPY`.
    pub copied: u64,
    /// Batches that tried `COPY` and were then written by `INSERT … ON CONFLICT` (an id
    /// already stored or repeated in the batch, every `COPY` connection busy, an error).
    pub fallbacks: u64,
}

impl CopyWriter {
    /// Closes the idle `COPY` connections (after [`DieselEventStore::close`](crate::DieselEventStore)
    /// stopped new batches): each is taken and marked broken, so the pool drops it.
    pub(crate) async fn close_idle(&self) {
        for _ in 0..self.pool.state().idle_connections {
            match tokio::time::timeout(std::time::Duration::from_millis(50), self.pool.get()).await
            {
                Ok(Ok(mut conn)) => conn.clean = false,
                _ => break,
            }
        }
    }
}

/// The `COPY` pool and its counters.
pub(crate) struct CopyWriter {
    pool: bb8::Pool<CopyManager>,
    /// One per pool connection (see [`CopyWriter::write`]).
    permits: Semaphore,
    copied: AtomicU64,
    fallbacks: AtomicU64,
}

impl CopyWriter {
    /// Connections are opened on first use and closed after 10 minutes idle, so a store that
    /// never records a large batch never opens one.
    pub(crate) fn new(
        connect: Connect,
        shape: Shape,
        with_extra: bool,
        ledger: bool,
        max_size: u32,
        connection_timeout: Duration,
        errors: LogErrorSink,
    ) -> Self {
        let pool = bb8::Pool::builder()
            .max_size(max_size)
            .min_idle(None)
            .connection_timeout(connection_timeout)
            .test_on_check_out(false)
            .error_sink(Box::new(errors))
            .build_unchecked(CopyManager {
                connect,
                shape,
                with_extra,
                ledger,
            });
        Self {
            pool,
            permits: Semaphore::new(max_size as usize),
            copied: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CopyStats {
        CopyStats {
            copied: self.copied.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// Sends the batch in `encoded` as one `COPY`, encoding each chunk while the server works
    /// on the previous one. Chunks stay in `encoded` for the fallback.
    ///
    /// When every `COPY` connection is taken, the batch falls back at once rather than wait:
    /// the `INSERT` path on the main pool is slower per row but not idle.
    pub(crate) async fn write(&self, encoded: &Mutex<Encoded>) -> CopyAttempt {
        // A permit per connection, taken before the pool is asked: bb8's own state does not
        // count connections still being opened, so it cannot say "all taken" on a cold pool.
        let attempt = match self.permits.try_acquire() {
            Err(_) => CopyAttempt::fallback("every COPY connection is busy"),
            Ok(_permit) => match self.pool.get().await {
                Ok(mut conn) => copy_batch(&mut conn, encoded).await,
                Err(error) => CopyAttempt::fallback(format!("no COPY connection: {error}")),
            },
        };
        let counter = match attempt {
            CopyAttempt::Recorded(_) => &self.copied,
            CopyAttempt::Fallback { .. } => &self.fallbacks,
            CopyAttempt::Invalid(_) => return attempt,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        attempt
    }
}

/// Why a `COPY` did not record the batch.
enum Failure {
    /// The server refused it (a unique violation, a timeout, a failed commit): nothing was
    /// written and the connection still answers.
    Server(String),
    /// The connection failed. Once `COMMIT` was sent the server may have committed.
    Lost {
        reason: String,
        maybe_committed: bool,
    },
    /// An event failed its checks while being encoded.
    Invalid(StoreError),
    /// A row this encoding cannot express (the `INSERT` path will report it).
    Unencodable(String),
}

impl Failure {
    fn from_error(error: &tokio_postgres::Error, committing: bool) -> Self {
        if error.as_db_error().is_none() {
            return Failure::Lost {
                reason: format!("COPY connection failed: {error}"),
                maybe_committed: committing,
            };
        }
        Failure::Server(if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            "an event id is already stored or repeated in the batch".to_owned()
        } else {
            format!("COPY failed: {error}")
        })
    }
}

/// The batch in one transaction: `BEGIN` (pipelined with the `COPY`), the `COPY`, `COMMIT`.
/// The explicit `COMMIT` is what says the rows are durable: tokio-postgres' `finish` returns
/// at the `COPY`'s CommandComplete, before an implicit transaction's commit (which a deferred
/// constraint or a serializable conflict can still fail) has answered.
///
/// After any failure but a lost connection the transaction is rolled back and the connection
/// kept; otherwise (and when the call is abandoned midway) it is discarded.
async fn copy_batch(conn: &mut CopyConnection, encoded: &Mutex<Encoded>) -> CopyAttempt {
    conn.clean = false;
    let failure = match copy_in_transaction(conn, encoded).await {
        Ok(written) => {
            conn.clean = true;
            return CopyAttempt::Recorded(written);
        }
        Err(failure) => failure,
    };
    if !matches!(failure, Failure::Lost { .. }) {
        // A server error (FATAL ones included) that closed the connection fails this too.
        conn.clean = conn.client.batch_execute("ROLLBACK").await.is_ok();
    }
    match failure {
        Failure::Invalid(invalid) => CopyAttempt::Invalid(invalid),
        Failure::Server(reason) | Failure::Unencodable(reason) => CopyAttempt::fallback(reason),
        Failure::Lost {
            reason,
            maybe_committed,
        } => CopyAttempt::Fallback {
            reason,
            outcome_unknown: maybe_committed,
        },
    }
}

async fn copy_in_transaction(
    conn: &CopyConnection,
    encoded: &Mutex<Encoded>,
) -> Result<Written, Failure> {
    let client = &conn.client;
    let (_, sink) = futures::try_join!(
        client.batch_execute("BEGIN"),
        client.copy_in::<_, Bytes>(&conn.statement)
    )
    .map_err(|e| Failure::from_error(&e, false))?;
    // Dropping the sink before `finish` aborts the COPY (CopyFail).
    let mut sink = pin!(sink);
    let mut buf = BytesMut::new();
    put_header(&mut buf);
    let mut index = 0usize;
    loop {
        {
            let mut guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
            if index == guard.chunks.len() {
                match guard.encoder.next() {
                    Some(chunk) => guard.chunks.push(chunk),
                    None => match guard.encoder.take_invalid() {
                        Some(invalid) => return Err(Failure::Invalid(invalid)),
                        None => break,
                    },
                }
            }
            put_rows(&guard.chunks[index], &mut buf).map_err(Failure::Unencodable)?;
        }
        index += 1;
        sink.as_mut()
            .send(buf.split().freeze())
            .await
            .map_err(|e| Failure::from_error(&e, false))?;
    }
    buf.put_i16(-1);
    sink.as_mut()
        .send(buf.freeze())
        .await
        .map_err(|e| Failure::from_error(&e, false))?;
    // Server errors (a unique violation) only come back here: the client streams the whole
    // batch first, and the server discards what follows the error.
    let rows = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| Failure::from_error(&e, false))?;
    let inserted = usize::try_from(rows).unwrap_or(usize::MAX);
    let written = match &conn.erased_hits {
        None => Written::inserted(inserted),
        Some(check) => keep_out_erased(client, check, encoded, inserted).await?,
    };
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| Failure::from_error(&e, true))?;
    Ok(written)
}

/// Asks the ledger about the batch just copied and deletes the rows of erased ids again,
/// in the `COPY`'s transaction (see `lifecycle.rs`).
async fn keep_out_erased(
    client: &Client,
    check: &Statement,
    encoded: &Mutex<Encoded>,
    inserted: usize,
) -> Result<Written, Failure> {
    let hashes = {
        let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
        crate::lifecycle::batch_hashes(&guard.chunks)
    };
    let hits: Vec<Vec<u8>> = client
        .query(check, &[&hashes])
        .await
        .map_err(|e| Failure::from_error(&e, false))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if hits.is_empty() {
        return Ok(Written::inserted(inserted));
    }
    let (ids, erased) = {
        let guard = encoded.lock().unwrap_or_else(|p| p.into_inner());
        crate::lifecycle::erased_ids(&guard.chunks, &hits)
    };
    let retracted = client
        .execute(crate::lifecycle::RETRACT_SQL, &[&ids])
        .await
        .map_err(|e| Failure::from_error(&e, false))?;
    Ok(Written {
        inserted,
        retracted: usize::try_from(retracted).unwrap_or(usize::MAX),
        erased,
    })
}

/// PostgreSQL's binary `COPY` header: signature, no flags, no extension.
fn put_header(buf: &mut BytesMut) {
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0);
    buf.put_i32(0);
}

/// Appends the chunk's rows in binary `COPY` format, columns in [`copy_sql`]'s order.
fn put_rows(chunk: &InsertChunk, buf: &mut BytesMut) -> Result<(), String> {
    let bytes: usize = chunk.own[0].iter().map(String::len).sum::<usize>()
        + chunk.own[1].iter().map(String::len).sum::<usize>();
    buf.reserve(bytes + chunk.event_id.len() * 200);
    for row in 0..chunk.event_id.len() {
        buf.put_i16(if chunk.with_extra { 8 } else { 7 });
        put_text(buf, &chunk.event_id[row])?;
        put_text(buf, &chunk.conversation_id[row])?;
        put_text(buf, &chunk.assistant_request_id[row])?;
        put_text(buf, &chunk.event_type[row])?;
        match chunk.shape {
            // event_context jsonb, data json
            Shape::Columns => {
                put_jsonb(buf, &chunk.own[0][row])?;
                put_text(buf, &chunk.own[1][row])?;
            }
            // event_version varchar, event_data jsonb
            Shape::Document => {
                put_text(buf, &chunk.own[0][row])?;
                put_jsonb(buf, &chunk.own[1][row])?;
            }
        }
        put_timestamp(buf, &chunk.timestamp[row])?;
        match &chunk.extra[row] {
            _ if !chunk.with_extra => {}
            Some(extra) => put_text(buf, extra)?,
            None => buf.put_i32(-1),
        }
    }
    Ok(())
}

fn field_len(len: usize) -> Result<i32, String> {
    i32::try_from(len).map_err(|_| format!("a value of {len} bytes is too large for COPY"))
}

/// `text`, `varchar` and `json` share one binary form: the UTF-8 bytes.
fn put_text(buf: &mut BytesMut, value: &str) -> Result<(), String> {
    buf.put_i32(field_len(value.len())?);
    buf.put_slice(value.as_bytes());
    Ok(())
}

/// Binary `jsonb` is a version byte (1) and the JSON text.
fn put_jsonb(buf: &mut BytesMut, value: &str) -> Result<(), String> {
    buf.put_i32(field_len(value.len() + 1)?);
    buf.put_u8(1);
    buf.put_slice(value.as_bytes());
    Ok(())
}

/// Binary `timestamp`: microseconds since 2000-01-01 00:00, computed exactly as diesel binds
/// the `INSERT` path's timestamps, so both paths store the same value.
fn put_timestamp(buf: &mut BytesMut, value: &NaiveDateTime) -> Result<(), String> {
    const PG_EPOCH: NaiveDateTime = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
        Some(date) => date.and_time(chrono::NaiveTime::MIN),
        None => panic!("2000-01-01 is a date"),
    };
    let micros = (*value - PG_EPOCH)
        .num_microseconds()
        .ok_or_else(|| format!("timestamp {value} is out of range"))?;
    buf.put_i32(8);
    buf.put_i64(micros);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_microseconds_since_2000_truncated_like_diesel() {
        let mut buf = BytesMut::new();
        let t = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .and_hms_nano_opt(0, 0, 1, 2_999)
            .unwrap();
        put_timestamp(&mut buf, &t).unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x42]);
        let before = chrono::NaiveDate::from_ymd_opt(1999, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap();
        buf.clear();
        put_timestamp(&mut buf, &before).unwrap();
        assert_eq!(&buf[4..], &(-1i64).to_be_bytes());
    }

    #[test]
    fn a_row_is_eight_length_prefixed_fields_with_null_as_minus_one() {
        let chunk = InsertChunk {
            event_id: vec!["e".into()],
            conversation_id: vec!["c".into()],
            assistant_request_id: vec!["r".into()],
            event_type: vec!["T".into()],
            own: [vec!["{}".into()], vec!["[]".into()]],
            timestamp: vec![chrono::DateTime::UNIX_EPOCH.naive_utc()],
            extra: vec![None],
            id_hash: vec![],
            shape: Shape::Columns,
            with_extra: true,
        };
        let mut buf = BytesMut::new();
        put_rows(&chunk, &mut buf).unwrap();
        let mut expected = vec![0, 8];
        for field in [&b"e"[..], b"c", b"r", b"T"] {
            expected.extend_from_slice(&1i32.to_be_bytes());
            expected.extend_from_slice(field);
        }
        expected.extend_from_slice(&3i32.to_be_bytes());
        expected.extend_from_slice(b"\x01{}");
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"[]");
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&(-946_684_800_000_000i64).to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(&buf[..], &expected[..]);
    }
}
