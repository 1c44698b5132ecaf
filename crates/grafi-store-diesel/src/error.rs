//! diesel / bb8 failures → [`StoreError`] kinds.
//!
//! diesel-async maps only a few SQLSTATEs to [`DatabaseErrorKind`]s (unique violation,
//! serialization failure, …) and keeps no SQLSTATE for the rest; the few transient ones it
//! folds into `Unknown` (deadlock 40P01, statement timeout 57014, admin shutdown 57P01) are
//! recognised by PostgreSQL's (English, `lc_messages=C`/`en`) message text. Everything
//! unrecognised is a permanent backend error: never retried.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use grafi_store_core::StoreError;

/// What the failed call was doing, for `outcome_unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// A diesel error raised while running a statement.
pub(crate) fn from_diesel(error: DieselError, access: Access) -> StoreError {
    let write = access == Access::Write;
    match error {
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_owned();
            match kind {
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    StoreError::Unavailable {
                        message: format!("connection lost: {message}"),
                        outcome_unknown: write,
                        source: None,
                    }
                }
                DatabaseErrorKind::SerializationFailure => StoreError::Backend {
                    message: format!("serialization failure (40001): {message}"),
                    retryable: true,
                    source: None,
                },
                DatabaseErrorKind::ReadOnlyTransaction => StoreError::Backend {
                    // A replica or a failover in progress: another attempt may reach the primary.
                    message: format!("read-only transaction (25006): {message}"),
                    retryable: true,
                    source: None,
                },
                _ => classify_unknown(message, write),
            }
        }
        DieselError::BrokenTransactionManager => StoreError::Unavailable {
            message: "the connection's transaction state is broken".into(),
            outcome_unknown: write,
            source: None,
        },
        DieselError::RollbackErrorOnCommit {
            commit_error,
            rollback_error,
        } => {
            // The commit failed and so did the rollback: the connection is gone or unusable.
            let mut mapped = from_diesel(*commit_error, access);
            if let StoreError::Unavailable { message, .. } = &mut mapped {
                message.push_str(&format!(" (rollback also failed: {rollback_error})"));
            }
            mapped
        }
        other => StoreError::Backend {
            message: other.to_string(),
            retryable: false,
            source: Some(Box::new(other)),
        },
    }
}

fn classify_unknown(message: String, write: bool) -> StoreError {
    const DEADLOCK: &str = "deadlock detected";
    const SERIALIZE: &str = "could not serialize access";
    const STATEMENT_TIMEOUT: &str = "canceling statement due to statement timeout";
    const TERMINATING: &str = "terminating connection";
    const SHUTTING_DOWN: &str = "the database system is";
    if message.starts_with(DEADLOCK) || message.starts_with(SERIALIZE) {
        StoreError::Backend {
            message: format!("transient conflict: {message}"),
            retryable: true,
            source: None,
        }
    } else if message.starts_with(STATEMENT_TIMEOUT) {
        // The server cancelled the statement, so the transaction rolled back: nothing written.
        StoreError::Backend {
            message: format!("statement timeout: {message}"),
            retryable: true,
            source: None,
        }
    } else if message.starts_with(TERMINATING) || message.starts_with(SHUTTING_DOWN) {
        StoreError::Unavailable {
            message: message.clone(),
            outcome_unknown: write,
            source: None,
        }
    } else {
        StoreError::Backend {
            message,
            retryable: false,
            source: None,
        }
    }
}

/// A failure to check a connection out of the pool. `last_connect_failure` is the classified
/// failure of the pool's last connect (bb8 and diesel-async keep only its message).
pub(crate) fn from_pool(
    error: bb8::RunError<PoolError>,
    timeout: Duration,
    last_connect_failure: Option<StoreError>,
) -> StoreError {
    match error {
        bb8::RunError::TimedOut => match last_connect_failure {
            // bb8 retries failed connects until its timeout, then says only "timed out".
            Some(denied @ StoreError::Denied { .. }) => denied,
            Some(failure) => StoreError::Unavailable {
                message: format!(
                    "no database connection available within {timeout:?}; last connect: {failure}"
                ),
                outcome_unknown: false,
                source: Some(Box::new(failure)),
            },
            None => StoreError::Unavailable {
                message: format!("no database connection available within {timeout:?}"),
                outcome_unknown: false,
                source: None,
            },
        },
        bb8::RunError::User(PoolError::ConnectionError(e)) => match last_connect_failure {
            Some(failure) => failure,
            None => StoreError::Unavailable {
                message: format!("cannot connect: {e}"),
                outcome_unknown: false,
                source: Some(Box::new(e)),
            },
        },
        bb8::RunError::User(PoolError::QueryError(e)) => match from_diesel(e, Access::Read) {
            // A failed health check: the connection, not the statement, is the problem.
            StoreError::Backend { message, .. } => StoreError::Unavailable {
                message: format!("connection health check failed: {message}"),
                outcome_unknown: false,
                source: None,
            },
            other => other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_transient_messages() {
        assert!(classify_unknown("deadlock detected".into(), true).is_retryable());
        assert!(classify_unknown(
            "terminating connection due to administrator command".into(),
            true
        )
        .outcome_unknown());
        assert!(!classify_unknown("value overflows numeric format".into(), true).is_retryable());
    }
}
