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
    let builder = DieselEventStore::builder(url.expose()).run_migrations(options.migrates());
    match builder.connect().await {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(describe(url, e)),
    }
}

/// Names the server (host and port) in connection failures and scrubs the password from
/// every message a driver produced.
fn describe(url: &StoreUrl, error: StoreError) -> StoreError {
    let endpoint = url.endpoint().unwrap_or_default();
    match error {
        StoreError::Unavailable {
            message,
            outcome_unknown,
            source,
        } => {
            // The causes are folded into the message (scrubbed) and the source dropped: its
            // text comes from the driver.
            let mut text = message;
            let mut cause: Option<&(dyn std::error::Error + 'static)> = match &source {
                Some(s) => s.source(),
                None => None,
            };
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                cause = c.source();
            }
            StoreError::Unavailable {
                message: format!(
                    "cannot connect to PostgreSQL at {endpoint} ({url}): {}",
                    url.scrub(&text)
                ),
                outcome_unknown,
                source: None,
            }
        }
        StoreError::Timeout { operation, after } => StoreError::Unavailable {
            message: format!(
                "PostgreSQL at {endpoint} ({url}) did not answer: {operation} timed out after {after:?}"
            ),
            outcome_unknown: false,
            source: None,
        },
        StoreError::Config(message) => {
            StoreError::Config(format!("{url}: {}", url.scrub(&message)))
        }
        StoreError::Backend {
            message,
            retryable,
            source: _,
        } => StoreError::Backend {
            message: format!("PostgreSQL at {endpoint} ({url}): {}", url.scrub(&message)),
            retryable,
            source: None,
        },
        other => other,
    }
}
