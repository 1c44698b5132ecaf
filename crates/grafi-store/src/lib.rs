//! # grafi-store
//!
//! The one crate a Rust user of grafi-rs depends on: it opens an event store from a URL or
//! from the environment, and re-exports the event model ([`grafi_events`]) and the store
//! interface ([`grafi_store_core`]).
//!
//! | URL | store | needs |
//! |-----|-------|-------|
//! | `memory:` | [`MemoryEventStore`]: in-process, nothing persists | — |
//! | `postgres://user@host:5432/db` (or `postgresql://`, or `host=… dbname=…`; libpq's `PG*` variables fill the rest) | PostgreSQL (`grafi-store-diesel`) | cargo feature `postgres` |
//!
//! Memory-only users depend on this crate without features and never compile diesel:
//!
//! ```toml
//! grafi-store = "0.1"                                        # memory only
//! grafi-store = { version = "0.1", features = ["postgres"] } # + PostgreSQL
//! ```
//!
//! [`from_env`] opens the store the environment names (`GRAFI_STORE_URL`, then
//! `DATABASE_URL`) and fails when neither is set: a service that forgot its configuration
//! must not keep its events in memory and lose them. [`from_env_or_memory`] is the explicit
//! fallback for tools and tests.
//!
//! With the cargo feature `metrics`, every store opened here counts its calls and times them
//! through the [`metrics`](https://docs.rs/metrics) facade (see [`Metered`]); the service
//! exports them with the recorder it already uses (Prometheus, StatsD, …).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), grafi_store::StoreError> {
//! use grafi_store::grafi_events::{ComponentInfo, Event, InvokeContext, Message};
//!
//! let store = grafi_store::open("memory:").await?;
//! let ctx = InvokeContext::new("conv-1", "req-1");
//! let assistant = ComponentInfo::new("TravelConcierge", "ReActAssistant");
//! let question = [Message::user("Weather in Tokyo?")];
//! store
//!     .record_events(vec![
//!         Event::assistant_invoke(ctx.clone(), assistant.clone(), &question),
//!         Event::assistant_respond(ctx, assistant, &question, &[Message::assistant("Sunny.")]),
//!     ])
//!     .await?;
//! assert_eq!(store.get_agent_events("req-1").await?.len(), 2);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod url;

use std::sync::Arc;

pub use grafi_events;
pub use grafi_events::{Dialect, Event};
pub use grafi_store_core;
pub use grafi_store_core::{
    EventPage, EventStore, InvalidReason, Limits, PoolStatus, RecordOutcome, StoreError,
};
#[cfg(feature = "postgres")]
pub use grafi_store_diesel;
pub use grafi_store_memory::MemoryEventStore;
pub use url::{Backend, StoreUrl};

/// The environment variable read first by [`from_env`].
pub const GRAFI_STORE_URL: &str = "GRAFI_STORE_URL";
/// The environment variable read when [`GRAFI_STORE_URL`] is unset.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// The URL [`from_env_or_memory`] uses when neither variable is set.
pub const DEFAULT_URL: &str = "memory:";

/// Opens the store a URL names: `memory:` or `postgres://…` / `postgresql://…`.
///
/// A PostgreSQL URL needs the cargo feature `postgres`; without it the error says so.
/// Errors never contain the URL's password.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = grafi_store::open("memory:").await.unwrap();
/// assert!(store.get_events().await.unwrap().is_empty());
///
/// let err = grafi_store::open("redis://localhost").await.err().unwrap();
/// assert!(err.to_string().contains("unsupported store URL scheme"));
/// # }
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    open_url(&StoreUrl::parse(url)?).await
}

/// Opens the store of an already parsed URL.
pub async fn open_url(url: &StoreUrl) -> Result<Arc<dyn EventStore>, StoreError> {
    open_url_with(url, OpenOptions::default()).await
}

/// How to open a store.
///
/// ```
/// let read_only = grafi_store::OpenOptions::default().run_migrations(false);
/// assert!(!read_only.migrates());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    run_migrations: bool,
    dialect: Option<Dialect>,
    new_table_dialect: Option<Dialect>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            run_migrations: true,
            dialect: None,
            new_table_dialect: None,
        }
    }
}

impl OpenOptions {
    /// Whether opening a database store may create a missing table (default: yes, as grafi
    /// does). An existing table is never altered when a store opens: that is
    /// `grafi-store migrate run`'s job. Readers may say no, so that a typo in a database name
    /// does not leave an empty table behind.
    pub fn run_migrations(mut self, run: bool) -> Self {
        self.run_migrations = run;
        self
    }

    /// Whether these options migrate.
    pub fn migrates(&self) -> bool {
        self.run_migrations
    }

    /// The grafi dialect of a database store's table: the layout of a table opening creates,
    /// and the one an existing table must have (an error otherwise). The in-memory store holds
    /// both dialects and ignores it. A URL may name it too (`?grafi_dialect=0.0.36`).
    pub fn dialect(mut self, dialect: Option<Dialect>) -> Self {
        self.dialect = dialect;
        self
    }

    /// The layout of a table opening creates, required of no existing table (see
    /// `DieselStoreBuilder::new_table_dialect`).
    pub fn new_table_dialect(mut self, dialect: Option<Dialect>) -> Self {
        self.new_table_dialect = dialect;
        self
    }

    /// The dialects named: `(required, for a new table)`.
    pub fn dialects(&self) -> (Option<Dialect>, Option<Dialect>) {
        (self.dialect, self.new_table_dialect)
    }
}

/// Opens the store of an already parsed URL, with options.
pub async fn open_url_with(
    url: &StoreUrl,
    options: OpenOptions,
) -> Result<Arc<dyn EventStore>, StoreError> {
    let store: Arc<dyn EventStore> = match url.backend() {
        Backend::Memory => Arc::new(MemoryEventStore::new()),
        Backend::Postgres => open_postgres(url, options).await?,
    };
    #[cfg(feature = "metrics")]
    let store: Arc<dyn EventStore> = Arc::new(Metered::new(store, url.backend().name()));
    Ok(store)
}

#[cfg(feature = "metrics")]
mod metered;
#[cfg(feature = "metrics")]
pub use metered::Metered;

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    url: &StoreUrl,
    _options: OpenOptions,
) -> Result<Arc<dyn EventStore>, StoreError> {
    Err(StoreError::Config(format!(
        "{url} selects the PostgreSQL store, which this build does not include: enable the \
         cargo feature `postgres` of the `grafi-store` crate \
         (grafi-store = {{ version = \"0.1\", features = [\"postgres\"] }})"
    )))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &StoreUrl,
    options: OpenOptions,
) -> Result<Arc<dyn EventStore>, StoreError> {
    postgres::open(url, options).await
}

#[cfg(feature = "postgres")]
mod postgres;

/// Where [`select_from_env`] found the store URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    /// Given explicitly (e.g. a `--store` flag).
    Explicit,
    /// The `GRAFI_STORE_URL` environment variable.
    GrafiStoreUrl,
    /// The `DATABASE_URL` environment variable.
    DatabaseUrl,
    /// Neither variable was set: the in-memory store.
    Default,
}

impl UrlSource {
    /// How to name the source in a message.
    pub fn describe(self) -> &'static str {
        match self {
            UrlSource::Explicit => "given explicitly",
            UrlSource::GrafiStoreUrl => "from GRAFI_STORE_URL",
            UrlSource::DatabaseUrl => "from DATABASE_URL",
            UrlSource::Default => "default",
        }
    }
}

/// The store URL chosen, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The URL.
    pub url: StoreUrl,
    /// Where it came from.
    pub source: UrlSource,
}

impl Selection {
    /// Whether no URL was configured and the in-memory store was chosen by default: nothing
    /// recorded will outlive the process.
    pub fn fell_back_to_memory(&self) -> bool {
        self.source == UrlSource::Default
    }
}

/// Chooses the store URL: `explicit` if given, else `GRAFI_STORE_URL`, else `DATABASE_URL`,
/// else `memory:`; `lookup` reads a variable (empty values count as unset).
///
/// ```
/// use grafi_store::{select, Backend, UrlSource};
/// let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://app@db/app".to_owned());
/// let s = select(None, env).unwrap();
/// assert_eq!((s.url.backend(), s.source), (Backend::Postgres, UrlSource::DatabaseUrl));
///
/// let s = select(None, |_| None).unwrap();
/// assert!(s.fell_back_to_memory());
/// assert_eq!(select(Some("memory:"), env).unwrap().source, UrlSource::Explicit);
/// ```
pub fn select(
    explicit: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Selection, StoreError> {
    let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let (text, source) = if let Some(url) = explicit {
        (url.to_owned(), UrlSource::Explicit)
    } else if let Some(url) = non_empty(lookup(GRAFI_STORE_URL)) {
        (url, UrlSource::GrafiStoreUrl)
    } else if let Some(url) = non_empty(lookup(DATABASE_URL)) {
        (url, UrlSource::DatabaseUrl)
    } else {
        (DEFAULT_URL.to_owned(), UrlSource::Default)
    };
    let url = StoreUrl::parse(&text).map_err(|e| match (e, source) {
        (StoreError::Config(msg), UrlSource::GrafiStoreUrl | UrlSource::DatabaseUrl) => {
            let var = if source == UrlSource::GrafiStoreUrl {
                GRAFI_STORE_URL
            } else {
                DATABASE_URL
            };
            StoreError::Config(format!("{var}: {msg}"))
        }
        (e, _) => e,
    })?;
    Ok(Selection { url, source })
}

/// [`select`] from the process environment. A variable that is not valid UTF-8 is an error.
pub fn select_from_env() -> Result<Selection, StoreError> {
    for var in [GRAFI_STORE_URL, DATABASE_URL] {
        if let Some(value) = std::env::var_os(var) {
            if value.to_str().is_none() {
                return Err(StoreError::Config(format!("{var} is not valid UTF-8")));
            }
        }
    }
    select(None, |k| std::env::var(k).ok())
}

/// Opens the store the environment names: `GRAFI_STORE_URL`, else `DATABASE_URL`. Fails with
/// [`StoreError::Config`] when neither is set (use `memory:` or [`from_env_or_memory`] to ask
/// for the in-memory store).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # std::env::remove_var("GRAFI_STORE_URL"); std::env::remove_var("DATABASE_URL");
/// let err = grafi_store::from_env().await.err().unwrap();
/// assert!(err.to_string().contains("GRAFI_STORE_URL"));
/// # }
/// ```
pub async fn from_env() -> Result<Arc<dyn EventStore>, StoreError> {
    let selection = select_from_env()?;
    if selection.fell_back_to_memory() {
        return Err(StoreError::Config(format!(
            "no store configured: set {GRAFI_STORE_URL} (or {DATABASE_URL}) to a store URL \
             such as postgres://user@host/db, or `memory:` for an in-memory store"
        )));
    }
    open_url(&selection.url).await
}

/// Opens the store the environment names, or, when neither variable is set, the in-memory
/// store (nothing persists), returning the [`Selection`] so the caller can say which.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), grafi_store::StoreError> {
/// let (store, selection) = grafi_store::from_env_or_memory().await?;
/// if selection.fell_back_to_memory() {
///     eprintln!("no GRAFI_STORE_URL or DATABASE_URL: events are kept in memory only");
/// }
/// # let _ = store;
/// # Ok(()) }
/// ```
pub async fn from_env_or_memory() -> Result<(Arc<dyn EventStore>, Selection), StoreError> {
    let selection = select_from_env()?;
    let store = open_url(&selection.url).await?;
    Ok((store, selection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_opens_and_works() {
        let store = open("memory:").await.unwrap();
        let events = grafi_events::Event::tool_invoke(
            grafi_events::InvokeContext::new("c", "r"),
            grafi_events::ComponentInfo::new("t", "T"),
            &[],
        );
        assert_eq!(store.record_event(events).await.unwrap().recorded, 1);
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn postgres_without_feature_names_the_feature_not_the_password() {
        let err = open("postgres://u:topsecret@db:5432/x")
            .await
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Config(_)));
        assert!(msg.contains("feature `postgres`"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn unreachable_postgres_names_host_and_port_not_the_password() {
        let err = open("postgres://grafi:topsecret@127.0.0.1:1/x")
            .await
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(err.is_retryable(), "{msg}");
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        assert!(msg.contains("postgres://grafi:***@127.0.0.1:1/x"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
        assert!(!format!("{err:?}").contains("topsecret"), "{err:?}");
    }

    /// A refusal keeps its kind and its source through the facade: the SQLSTATE is there for
    /// a caller to read, and it is not retried.
    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "multi_thread")]
    async fn unknown_database_keeps_kind_and_sqlstate() {
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let url = grafi_store_diesel::ConnectionSettings::parse(&admin)
            .unwrap()
            .with_dbname("grafi_no_such_database_for_this_test")
            .expose_url();
        let err = open(&url).await.err().unwrap();
        assert!(
            matches!(
                err,
                StoreError::Denied {
                    kind: grafi_store_core::DeniedKind::UnknownDatabase,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        let mut source = std::error::Error::source(&err);
        let mut code = None;
        while let Some(cause) = source {
            if let Some(pg) = cause.downcast_ref::<tokio_postgres::Error>() {
                code = pg.code().cloned();
            }
            source = cause.source();
        }
        assert_eq!(
            code,
            Some(tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
        );
    }

    #[test]
    fn env_order_and_empty_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = select(
            None,
            env(&[
                ("GRAFI_STORE_URL", "memory:"),
                ("DATABASE_URL", "postgres://h/d"),
            ]),
        )
        .unwrap();
        assert_eq!(s.source, UrlSource::GrafiStoreUrl);
        let s = select(
            None,
            env(&[("GRAFI_STORE_URL", ""), ("DATABASE_URL", "postgres://h/d")]),
        )
        .unwrap();
        assert_eq!(s.source, UrlSource::DatabaseUrl);
        let e = select(None, env(&[("DATABASE_URL", "sqlite://x:pw@h")])).unwrap_err();
        assert!(e.to_string().contains("DATABASE_URL"), "{e}");
    }
}
