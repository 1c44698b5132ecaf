//! Running a call on a pooled connection: the call's deadline, bounded retries of failures
//! that may heal, and connections discarded when a call leaves them in an unknown state.

use std::time::Duration;

use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};
use grafi_store_core::StoreError;

/// A checked-out connection that is thrown away, not returned to the pool, unless the call
/// that used it finished cleanly: a call cancelled by its deadline (e.g. during a network
/// partition) or a connection that reported itself lost leaves it in an unknown state.
///
/// This replaces a health-check round trip on every checkout (`test_on_check_out`), which
/// cost ~70 µs per call on loopback and more over a network.
pub(crate) struct Checkout<'a> {
    pub(crate) pooled: bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>,
    pub(crate) clean: bool,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if !self.clean {
            // `has_broken` (checked when bb8 takes the connection back) then reports it broken.
            let conn: &mut AsyncPgConnection = &mut self.pooled;
            <AsyncPgConnection as AsyncConnection>::TransactionManager::transaction_manager_status_mut(conn)
            .set_in_error();
        }
    }
}

/// Runs `$body` (an expression of type `impl Future<Output = QueryResult<T>>` using the
/// connection `$conn`) under the call's deadline, retrying transient failures with backoff.
///
/// A connection found dead (killed by `pg_terminate_backend`, a server restart) is discarded
/// and the call retried at once on another one, up to `pool_size` times beyond `max_retries`:
/// every idle connection may have died together, and finding that out costs no round trip.
macro_rules! with_retries {
    ($store:expr, $op:literal, $access:expr, |$conn:ident| $body:expr) => {{
        let deadline = tokio::time::Instant::now() + $store.inner.config.call_timeout;
        with_retries!($store, $op, $access, deadline, false, |$conn| $body)
    }};
    // `$deadline`: the call's; `$unknown`: whether an earlier attempt (a `COPY`) may have
    // committed.
    ($store:expr, $op:literal, $access:expr, $deadline:expr, $unknown:expr, |$conn:ident| $body:expr) => {{
        let inner = &$store.inner;
        let deadline: tokio::time::Instant = $deadline;
        let mut attempt: u32 = 0;
        let mut dead_connections: u32 = 0;
        // Once an attempt of a write may have committed, every later failure of the call must
        // say so: "not written" would be a lie the caller acts on.
        let mut earlier_unknown: bool = $unknown;
        loop {
            if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
                break Err(StoreError::Closed { operation: $op });
            }
            let result = tokio::time::timeout_at(deadline, async {
                let pooled = inner
                    .pool
                    .get()
                    .await
                    .map_err(|e| (inner.pool_error(e), false))?;
                let mut checkout = $crate::retry::Checkout { pooled, clean: false };
                let outcome = {
                    let $conn: &mut AsyncPgConnection = &mut checkout.pooled;
                    $body.await.map_err(|e| $crate::error::from_diesel(e, $access))
                };
                let lost = matches!(outcome, Err(StoreError::Unavailable { .. }));
                checkout.clean = !lost;
                outcome.map_err(|e| (e, lost))
            })
            .await;
            let (error, lost) = match result {
                Ok(Ok(value)) => break Ok(value),
                Ok(Err(failure)) => failure,
                Err(_) => {
                    tracing::warn!(operation = $op, attempt, "deadline passed");
                    // A timeout already reports its outcome as unknown.
                    break Err(StoreError::Timeout {
                        operation: $op,
                        after: inner.config.call_timeout,
                    });
                }
            };
            earlier_unknown |= error.outcome_unknown();
            let error = $crate::retry::with_earlier_outcome(error, earlier_unknown);
            if lost && dead_connections < inner.config.pool_size {
                dead_connections += 1;
                tracing::debug!(operation = $op, error = %error, "connection lost, retrying on another");
                continue;
            }
            if !error.is_retryable() || attempt >= inner.config.max_retries {
                tracing::debug!(operation = $op, attempt, error = %error, "failed");
                break Err(error);
            }
            let backoff = $crate::retry::backoff(inner.config.retry_backoff, attempt);
            if tokio::time::Instant::now() + backoff >= deadline {
                break Err(error);
            }
            tracing::warn!(operation = $op, attempt, error = %error, ?backoff, "transient failure, retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }};
}

/// `error`, marked as of unknown outcome when an earlier attempt of the same call may have
/// committed.
pub(crate) fn with_earlier_outcome(error: StoreError, earlier_unknown: bool) -> StoreError {
    if !earlier_unknown || error.outcome_unknown() {
        return error;
    }
    match error {
        StoreError::Unavailable {
            message, source, ..
        } => StoreError::Unavailable {
            message: format!("{message} (an earlier attempt may have committed)"),
            outcome_unknown: true,
            source,
        },
        other => StoreError::Unavailable {
            message: format!("an earlier attempt may have committed; then: {other}"),
            outcome_unknown: true,
            source: Some(Box::new(other)),
        },
    }
}

pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(2);
    base.saturating_mul(1u32 << attempt.min(16)).min(CAP)
}
