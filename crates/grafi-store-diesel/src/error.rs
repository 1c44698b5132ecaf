//! diesel / bb8 failures → [`StoreError`] kinds.
//!
//! A server error is classified by its SQLSTATE (diesel's `DatabaseErrorInformation::sqlstate`),
//! never by its message, which the server may translate (`lc_messages`). Only errors that
//! carry no SQLSTATE (diesel-async's own, for a connection that failed) fall back to
//! [`DatabaseErrorKind`]. Everything unrecognised is a permanent backend error: never retried.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use grafi_store_core::{DeniedKind, StoreError};

/// What the failed call was doing, for `outcome_unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// What a SQLSTATE means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The connection or the server went away: the outcome of a write is unknown.
    Lost,
    /// Rolled back, nothing written; the same call may succeed (a conflict, a timeout, a
    /// replica during a failover, a server out of connections).
    Transient,
    /// The role lacks a privilege.
    Permission,
    /// Anything else: retrying cannot help.
    Permanent,
}

fn class_of(sqlstate: &str) -> Class {
    match sqlstate {
        // serialization failure, deadlock, statement timeout / cancel, lock timeout,
        // read-only transaction, too many connections.
        "40001" | "40P01" | "57014" | "55P03" | "25006" | "53300" => Class::Transient,
        // admin shutdown, crash shutdown, cannot connect now.
        "57P01" | "57P02" | "57P03" => Class::Lost,
        "42501" => Class::Permission,
        code if code.starts_with("08") => Class::Lost,
        _ => Class::Permanent,
    }
}

/// A diesel error raised while running a statement. The diesel error is kept as the source.
pub(crate) fn from_diesel(error: DieselError, access: Access) -> StoreError {
    let write = access == Access::Write;
    let (class, message) = match &error {
        DieselError::DatabaseError(kind, info) => {
            let state = info.sqlstate();
            let class = match (&state, kind) {
                (Some(state), _) => class_of(state.as_str()),
                (
                    None,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                ) => Class::Lost,
                (None, _) => Class::Permanent,
            };
            let message = match state {
                Some(state) => format!("{} (SQLSTATE {state})", info.message()),
                None => info.message().to_owned(),
            };
            (class, message)
        }
        DieselError::BrokenTransactionManager => (
            Class::Lost,
            "the connection's transaction state is broken".to_owned(),
        ),
        DieselError::RollbackErrorOnCommit { rollback_error, .. } => {
            let rollback = rollback_error.to_string();
            let DieselError::RollbackErrorOnCommit { commit_error, .. } = error else {
                return StoreError::Backend {
                    message: rollback,
                    retryable: false,
                    source: None,
                };
            };
            // The commit failed and so did the rollback: the connection is gone or unusable.
            let mut mapped = from_diesel(*commit_error, access);
            if let StoreError::Unavailable { message, .. } = &mut mapped {
                message.push_str(&format!(" (rollback also failed: {rollback})"));
            }
            return mapped;
        }
        other => (Class::Permanent, other.to_string()),
    };
    let source: Option<Box<dyn std::error::Error + Send + Sync>> = Some(Box::new(error));
    match class {
        Class::Lost => StoreError::Unavailable {
            message: format!("connection lost: {message}"),
            outcome_unknown: write,
            source,
        },
        Class::Transient => StoreError::Backend {
            message: format!("transient failure, nothing written: {message}"),
            retryable: true,
            source,
        },
        Class::Permission => StoreError::Denied {
            kind: DeniedKind::Permission,
            message: format!(
                "{message}; grant the role what it needs (see `grafi-store roles --print-sql`)"
            ),
            source,
        },
        Class::Permanent => StoreError::Backend {
            message,
            retryable: false,
            source,
        },
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
    fn classifies_by_sqlstate() {
        for (code, class) in [
            ("40P01", Class::Transient),
            ("40001", Class::Transient),
            ("57014", Class::Transient),
            ("55P03", Class::Transient),
            ("57P01", Class::Lost),
            ("08006", Class::Lost),
            ("42501", Class::Permission),
            ("22003", Class::Permanent),
            ("23505", Class::Permanent),
        ] {
            assert_eq!(class_of(code), class, "{code}");
        }
    }
}
