//! Which event of a failed batch the database refused.
//!
//! Why: a batch is one transaction, so a row the server refuses for its values (a `CHECK`
//! constraint someone added, a customised column type: anything the shared validation cannot
//! know) fails the whole batch with an error that names no row. Finding the row turns that
//! into [`StoreError::InvalidEvent`] for one event, which callers (like `grafi-store import`)
//! drop and report while storing the rest, as for events the validation refuses.

use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use grafi_store_core::{InvalidReason, StoreError};

use crate::query::InsertChunk;

/// Whether an error with this SQLSTATE blames the values of the row being written: data
/// exceptions (class 22), program limits (an index entry too big, nesting too deep), and
/// `CHECK` violations. Not `NOT NULL` violations (23502): those blame the table's shape and
/// would fail every row alike.
pub(crate) fn blames_a_row(sqlstate: &str) -> bool {
    sqlstate.starts_with("22") || matches!(sqlstate, "54000" | "54001" | "23514")
}

/// The SQLSTATE of the database error behind a store error, if there is one.
pub(crate) fn sqlstate(error: &StoreError) -> Option<String> {
    let mut cause = std::error::Error::source(error);
    while let Some(err) = cause {
        if let Some(DieselError::DatabaseError(_, info)) = err.downcast_ref::<DieselError>() {
            return info.sqlstate().map(|s| s.as_str().to_owned());
        }
        cause = err.source();
    }
    None
}

/// How the probe's transaction ends: always rolled back.
enum Probe {
    Found(StoreError),
    /// Nothing found, or the probe failed (the caller reports the original error).
    Stop,
}

impl From<DieselError> for Probe {
    fn from(_: DieselError) -> Self {
        Probe::Stop
    }
}

/// The refusing SQLSTATE of a failed statement, with the server's message.
fn refusal(result: &Result<usize, DieselError>) -> Option<String> {
    match result {
        Err(DieselError::DatabaseError(_, info)) => {
            let state = info.sqlstate()?;
            blames_a_row(state.as_str())
                .then(|| format!("{} (SQLSTATE {})", info.message(), state.as_str()))
        }
        _ => None,
    }
}

/// Inserts the chunks, then the rows of the first chunk that fails, each under a savepoint of
/// one transaction that is always rolled back: nothing is written. `None` when no single row
/// fails on its own (or the probe itself failed: the caller reports the original error).
pub(crate) async fn find(
    conn: &mut AsyncPgConnection,
    chunks: &[InsertChunk],
) -> Option<StoreError> {
    let outcome = conn
        .transaction(async |conn| {
            let mut first_index = 0;
            for chunk in chunks {
                let whole = conn.transaction(async |c| chunk.execute(c).await).await;
                if refusal(&whole).is_some() {
                    for at in 0..chunk.len() {
                        let Some(row) = chunk.row(at) else { break };
                        let event_id = row.event_id().to_owned();
                        let one = conn.transaction(async |c| row.execute(c).await).await;
                        if let Some(message) = refusal(&one) {
                            return Err(Probe::Found(StoreError::InvalidEvent {
                                event_id,
                                index: first_index + at,
                                reason: InvalidReason::Refused { message },
                            }));
                        }
                        one?;
                    }
                } else {
                    whole?;
                }
                first_index += chunk.len();
            }
            Err::<(), _>(Probe::Stop)
        })
        .await;
    match outcome {
        Err(Probe::Found(invalid)) => Some(invalid),
        _ => None,
    }
}
