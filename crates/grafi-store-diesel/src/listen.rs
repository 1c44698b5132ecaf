//! Waking subscriptions: `NOTIFY` after our writes commit, `LISTEN` on a connection of each
//! subscription's own, and polling for the writes nobody announces.
//!
//! Notifications only say "read again": what a subscription delivers comes from its reads
//! (`position.rs`), so a lost, late or spurious notification can delay an event, never skip or
//! repeat one. That is why:
//! * the `NOTIFY` is a statement of its own after the write committed, on a pooled connection,
//!   by a background task: a full notification queue or a lost connection can never fail or
//!   slow a write, and a burst of writes coalesces into one notification;
//! * the payload is the writer's schema (a few bytes, far below `NOTIFY`'s 8,000), so
//!   subscribers of another schema of the same database can ignore it;
//! * every subscription also polls ([`DieselStoreBuilder::poll_interval`]): rows that a
//!   Python grafi service or plain SQL inserts are not announced, and a notification sent
//!   while a listener reconnects is lost;
//! * a listener whose connection fails opens a new one (with backoff) and wakes its
//!   subscription once listening again.
//!
//! [`DieselStoreBuilder::poll_interval`]: crate::DieselStoreBuilder::poll_interval

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use grafi_store_core::{StoreError, Wakeup};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::connect::Connect;
use crate::store::Inner;

/// The channel every grafi-rs store of a database notifies on.
pub(crate) const CHANNEL: &str = "grafi_rs_events";

/// The writers' side: wakes the background task that sends the `NOTIFY`.
pub(crate) struct Notifier {
    wake: mpsc::Sender<()>,
}

impl Notifier {
    /// Starts the task; it ends when the store (and with it this notifier) is dropped.
    pub(crate) fn spawn(inner: Weak<Inner>) -> Self {
        // One pending wake is enough: the task notifies once for every write before it.
        let (wake, mut woken) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                let Some(inner) = inner.upgrade() else { return };
                if let Err(error) = notify(&inner).await {
                    tracing::debug!(%error, "NOTIFY failed; subscribers will poll");
                }
            }
        });
        Self { wake }
    }

    /// Asks for a `NOTIFY` soon; never waits, never fails.
    pub(crate) fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

async fn notify(inner: &Inner) -> Result<(), String> {
    let timeout = inner.config.call_timeout;
    let attempt = async {
        let pooled = inner.pool.get().await.map_err(|e| e.to_string())?;
        let mut checkout = crate::retry::Checkout {
            pooled,
            clean: false,
        };
        let conn: &mut AsyncPgConnection = &mut checkout.pooled;
        diesel::sql_query(format!("SELECT pg_notify('{CHANNEL}', current_schema())"))
            .execute(conn)
            .await
            .map_err(|e| e.to_string())?;
        checkout.clean = true;
        Ok(())
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// A subscription's wake-up: notifications from its listener task, or the polling interval.
pub(crate) struct Listener {
    woken: mpsc::Receiver<()>,
    poll_interval: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl Listener {
    /// Starts listening on a connection of its own (opened in the background, and again after
    /// every failure).
    pub(crate) fn spawn(connect: Connect, poll_interval: Duration) -> Self {
        let (wake, woken) = mpsc::channel::<()>(1);
        let task = tokio::spawn(listen(connect, wake, poll_interval));
        Self {
            woken,
            poll_interval,
            task,
        }
    }
}

#[async_trait]
impl Wakeup for Listener {
    async fn wait(&mut self) -> Result<(), StoreError> {
        tokio::select! {
            woken = self.woken.recv() => {
                if woken.is_none() {
                    // The listener task is gone: poll only.
                    tokio::time::sleep(self.poll_interval).await;
                }
            }
            () = tokio::time::sleep(self.poll_interval) => {}
        }
        Ok(())
    }
}

/// Listens until the subscription is dropped: connect, `LISTEN`, forward notifications; on
/// failure, wait (doubling from 50 ms up to the polling interval) and start again.
async fn listen(connect: Connect, wake: mpsc::Sender<()>, poll_interval: Duration) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match listen_once(&connect, &wake).await {
            Ok(()) => return,
            Err(error) => tracing::debug!(%error, "subscription listener lost; reconnecting"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = wake.closed() => return,
        }
        backoff = (backoff * 2).min(poll_interval.max(Duration::from_millis(50)));
    }
}

/// One listening session; `Ok` when the subscription went away, `Err` when the connection
/// failed.
async fn listen_once(connect: &Connect, wake: &mpsc::Sender<()>) -> Result<(), String> {
    let (client, mut session) = connect.open().await.map_err(|e| e.to_string())?;
    let schema: Arc<OnceLock<String>> = Arc::default();
    let driver = {
        let schema = Arc::clone(&schema);
        let wake = wake.clone();
        async move {
            let mut messages = futures::stream::poll_fn(|cx| session.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        // Before the schema is known, every notification wakes.
                        if schema.get().is_none_or(|s| s == n.payload()) {
                            let _ = wake.try_send(());
                        }
                    }
                    Ok(_) => {}
                    Err(error) => return error.to_string(),
                }
            }
            "connection closed".to_owned()
        }
    };
    let setup = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| e.to_string())?;
        let row = client
            .query_one("SELECT coalesce(current_schema(), '')", &[])
            .await
            .map_err(|e| e.to_string())?;
        let _ = schema.set(row.get::<_, String>(0));
        // Anything recorded while no listener was connected was announced to nobody.
        let _ = wake.try_send(());
        // Stay connected until the subscription goes away.
        wake.closed().await;
        Ok::<(), String>(())
    };
    tokio::select! {
        failure = driver => Err(failure),
        done = setup => done,
    }
}
