//! Positions on PostgreSQL: `(grafi_tx, id)`, read only below the snapshot's `xmin`.
//!
//! Why it is gap-free: `grafi_tx` is the id of the transaction that inserted the row (set by
//! the column's default, whoever writes). `pg_snapshot_xmin(pg_current_snapshot())` is the
//! oldest transaction id still running when the snapshot was taken: every transaction below it
//! has committed or rolled back, and every transaction that starts later gets a higher id. So
//! the rows with `grafi_tx` below it are final: none can still appear, and a reader that
//! delivers them in `(grafi_tx, id)` order and resumes after the last one never passes an
//! event that commits later. Ids alone cannot do this: a sequence hands ids out in one order
//! and transactions commit in another. Rows from before the column read `grafi_tx = 0`: they
//! come first, in id order.
//!
//! The horizon is read in a statement of its own before the rows: every transaction below it
//! had ended before the rows' snapshot was taken, so all their rows are visible to it.
//!
//! A cursor is `(grafi_tx, id with its sign bit flipped)`, so it orders like the position over
//! the whole `bigint` range of ids.

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use grafi_store_core::{Cursor, Filter, PositionPage, Positioned, StoreError};

use crate::error::Access;
use crate::query::PositionQuery;
use crate::row::RowTuple;
use crate::store::DieselEventStore;

const SIGN: u64 = 1 << 63;

/// The cursor after the row `(grafi_tx, id)`.
pub(crate) fn cursor_of(tx: i64, id: i64) -> Cursor {
    Cursor::at(tx as u64, (id as u64) ^ SIGN)
}

/// `(grafi_tx as text, id)` of the row a cursor resumes after; `None` for the start.
fn after_of(cursor: &Cursor) -> Option<(String, i64)> {
    cursor
        .position()
        .map(|(tx, minor)| (tx.to_string(), (minor ^ SIGN) as i64))
}

/// The cursor after every row of every transaction below `xmin`.
fn horizon_cursor(xmin: u64) -> Cursor {
    Cursor::at(xmin.saturating_sub(1), u64::MAX)
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Text)]
    xmin: String,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pending: bool,
}

async fn horizon(conn: &mut AsyncPgConnection) -> diesel::QueryResult<String> {
    diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin")
        .get_result::<Horizon>(conn)
        .await
        .map(|h| h.xmin)
}

fn parse_xmin(xmin: &str) -> Result<u64, StoreError> {
    xmin.parse().map_err(|_| StoreError::Backend {
        message: format!("the server's snapshot xmin is not a number: {xmin:?}"),
        retryable: false,
        source: None,
    })
}

impl DieselEventStore {
    /// Refuses `operation` on a table without the position column, naming the fix.
    fn ensure_positions(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.inner.layout.positions {
            return Ok(());
        }
        Err(StoreError::Unsupported {
            operation,
            message: "table `events` has no position column `grafi_tx`; run `grafi-store \
                      migrate run` to add it (catalog only: no table rewrite)"
                .into(),
        })
    }

    pub(crate) async fn read_positions_page(
        &self,
        after: &Cursor,
        filter: &Filter,
        limit: usize,
    ) -> Result<PositionPage, StoreError> {
        self.ensure_open("read_positions")?;
        self.ensure_positions("read_positions")?;
        if limit == 0 {
            return Ok(PositionPage::new(Vec::new(), *after, false));
        }
        // One extra row says whether more are final already.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let layout = self.inner.layout;
        let after_row = after_of(after);
        let read = with_retries!(self, "read_positions", Access::Read, |conn| {
            let after_row = after_row.clone();
            async move {
                let horizon = horizon(conn).await?;
                let rows = PositionQuery {
                    layout,
                    after: after_row,
                    horizon: horizon.clone(),
                    filter,
                    limit: fetch,
                }
                .load::<(RowTuple, i64)>(conn)
                .await?;
                // Nothing final after the cursor: are rows waiting behind the horizon? (One probe
                // of the index, only then: a read that delivers goes out without it.)
                let pending = if !rows.is_empty() {
                    false
                } else {
                    diesel::sql_query(
                        "SELECT EXISTS (SELECT 1 FROM events WHERE grafi_tx >= $1::xid8) AS pending",
                    )
                    .bind::<Text, _>(&horizon)
                    .get_result::<Pending>(conn)
                    .await?
                    .pending
                };
                Ok((horizon, rows, pending))
            }
        });
        let (xmin, mut rows, pending) = self.explain_denied(read, "SELECT").await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let cursors: Vec<Cursor> = rows.iter().map(|(row, tx)| cursor_of(*tx, row.0)).collect();
        let end = match (more, cursors.last()) {
            (true, Some(last)) => *last,
            _ => horizon_cursor(parse_xmin(&xmin)?).max(*after),
        };
        let events = self
            .decode_rows(rows.into_iter().map(|(row, _)| row).collect())
            .await?;
        let all = filter.is_all();
        let events = cursors
            .into_iter()
            .zip(events)
            .filter(|(_, event)| all || filter.matches(event))
            .map(|(cursor, event)| Positioned::new(cursor, event))
            .collect();
        Ok(PositionPage::new(events, end, more).with_pending(pending))
    }

    pub(crate) async fn horizon_end_cursor(&self) -> Result<Cursor, StoreError> {
        self.ensure_open("end_cursor")?;
        self.ensure_positions("end_cursor")?;
        let read = with_retries!(self, "end_cursor", Access::Read, |conn| horizon(conn));
        let xmin = self.explain_denied(read, "SELECT").await?;
        Ok(horizon_cursor(parse_xmin(&xmin)?))
    }

    pub(crate) fn start_listening(&self) -> Result<Box<dyn grafi_store_core::Wakeup>, StoreError> {
        self.ensure_open("subscribe")?;
        self.ensure_positions("subscribe")?;
        Ok(Box::new(crate::listen::Listener::spawn(
            self.inner.connect.clone(),
            self.inner.config.poll_interval,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_order_like_positions_and_round_trip() {
        let rows = [
            (0, i64::MIN),
            (0, -1),
            (0, 0),
            (0, i64::MAX),
            (3, i64::MIN),
            (3, 5),
            (i64::MAX, 0),
        ];
        for pair in rows.windows(2) {
            assert!(cursor_of(pair[0].0, pair[0].1) < cursor_of(pair[1].0, pair[1].1));
        }
        for (tx, id) in rows {
            assert_eq!(after_of(&cursor_of(tx, id)), Some((tx.to_string(), id)));
        }
        assert!(cursor_of(6, i64::MAX) < horizon_cursor(8));
        assert!(horizon_cursor(8) < cursor_of(8, i64::MIN));
        assert_eq!(after_of(&Cursor::start()), None);
    }
}
