//! `postgres://` URLs: the diesel store, with errors that name the server but not the password.

use std::sync::Arc;

use grafi_store_core::{EventStore, StoreError};
use grafi_store_diesel::DieselEventStore;

use crate::url::StoreUrl;
use crate::OpenOptions;

pub(crate) async fn open(
    url: &StoreUrl,
    options: OpenOptions,
) -> Result<Arc<dyn EventStore>, StoreError> {
    let mut builder = DieselEventStore::builder(url.expose()).run_migrations(options.migrates());
    let (dialect, new_table_dialect) = options.dialects();
    if let Some(dialect) = dialect {
        builder = builder.dialect(dialect);
    }
    if let Some(dialect) = new_table_dialect {
        builder = builder.new_table_dialect(dialect);
    }
    match builder.connect().await {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(describe(url, e)),
    }
}

/// Names the server in failures, scrubs the password from any text a driver produced, and
/// keeps the kind and the source (with its SQLSTATE) so callers can act on them.
fn describe(url: &StoreUrl, error: StoreError) -> StoreError {
    match error {
        StoreError::Unavailable {
            message,
            outcome_unknown,
            source,
        } => StoreError::Unavailable {
            message: format!("PostgreSQL at {url}: {}", url.scrub(&message)),
            outcome_unknown,
            source,
        },
        StoreError::Timeout { operation, after } => StoreError::Unavailable {
            message: format!(
                "PostgreSQL at {url} did not answer: {operation} timed out after {after:?}"
            ),
            outcome_unknown: false,
            source: Some(Box::new(StoreError::Timeout { operation, after })),
        },
        StoreError::Denied {
            kind,
            message,
            source,
        } => StoreError::Denied {
            kind,
            message: url.scrub(&message),
            source,
        },
        StoreError::Config(message) => {
            StoreError::Config(format!("{url}: {}", url.scrub(&message)))
        }
        StoreError::Backend {
            message,
            retryable,
            source,
        } => StoreError::Backend {
            message: format!("PostgreSQL at {url}: {}", url.scrub(&message)),
            retryable,
            source,
        },
        other => other,
    }
}
