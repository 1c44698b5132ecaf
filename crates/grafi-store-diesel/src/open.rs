//! Opening a [`DieselEventStore`]: the first connection, the table (created only when
//! missing), the pool and the `COPY` pool, all through one [`Connect`].

use std::sync::Arc;
use std::time::Duration;

use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures::FutureExt;
use grafi_store_core::StoreError;
use tracing::Instrument;

use crate::config::{DieselStoreBuilder, DieselStoreConfig};
use crate::connect::{Connect, LogErrorSink};
use crate::conninfo::ConnectionSettings;
use crate::copy::CopyWriter;
use crate::layout::{Found, Shape};
use crate::store::{DieselEventStore, Inner};

impl DieselStoreBuilder {
    /// Opens the pool and looks at the table. A missing table is created (all migrations, on
    /// a table nobody uses yet) unless [`run_migrations`](Self::run_migrations) is off; a
    /// table that exists is never altered: it is served as it is (grafi's own layout
    /// included), and what the migrations would add waits for `grafi-store migrate run`.
    pub async fn connect(self) -> Result<DieselEventStore, StoreError> {
        DieselEventStore::open(self.into_config()).await
    }
}

impl DieselEventStore {
    async fn open(mut config: DieselStoreConfig) -> Result<Self, StoreError> {
        config.check()?;
        let settings = ConnectionSettings::parse(&config.database_url)?;
        config.dialect = named_dialect(config.dialect, settings.dialect())?;
        let database: Arc<str> = settings.to_string().into();
        let span = tracing::info_span!("grafi_store_connect", database = %database);
        async move {
            let connect = Connect::new(settings, config.statement_timeout)?;
            let conn = tokio::time::timeout(config.connection_timeout, connect.diesel())
                .await
                .map_err(|_| StoreError::Unavailable {
                    message: format!(
                        "could not connect to {database} within {:?}",
                        config.connection_timeout
                    ),
                    outcome_unknown: false,
                    source: None,
                })??;
            let found = prepare_table(conn, &config, &connect).await?;
            if !found.layout.is_complete() {
                tracing::warn!(
                    missing = ?found.layout.missing(),
                    "table `events` is served as it is; `grafi-store migrate run` adds what is missing"
                );
            }
            let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
            let pooled = connect.clone();
            manager_config.custom_setup = Box::new(move |_url: &str| {
                let pooled = pooled.clone();
                async move { pooled.pooled().await }.boxed()
            });
            // Used by bb8's reaper and by `Pool::dedicated_connection`, not on every checkout:
            // connections whose call was abandoned are discarded by `Checkout` instead.
            let check_timeout = config.connection_timeout.min(Duration::from_secs(2));
            manager_config.recycling_method =
                RecyclingMethod::CustomFunction(Box::new(move |conn: &mut AsyncPgConnection| {
                    async move {
                        match tokio::time::timeout(check_timeout, conn.batch_execute("SELECT 1"))
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => Err(diesel::result::Error::BrokenTransactionManager),
                        }
                    }
                    .boxed()
                }));
            // The URL argument is unused: `custom_setup` connects with the parsed settings.
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                String::new(),
                manager_config,
            );
            let sink = LogErrorSink {
                database: database.clone(),
            };
            let pool = Pool::builder()
                .max_size(config.pool_size)
                .min_idle(config.min_idle)
                .connection_timeout(config.connection_timeout)
                .test_on_check_out(false)
                .error_sink(Box::new(sink.clone()))
                .build_unchecked(manager);
            let copy = match (config.copy_min_events, &found.copy) {
                (None, _) => None,
                (Some(_), _) if config.copy_pool_size == 0 => None,
                (Some(_), Err(why)) => {
                    tracing::info!(%why, "large batches will be written with INSERT, not COPY");
                    None
                }
                (Some(_), Ok(())) => Some(CopyWriter::new(
                    connect.clone(),
                    found.layout.shape,
                    found.layout.extra,
                    found.ledger_key.is_some(),
                    config.copy_pool_size,
                    config.connection_timeout,
                    sink,
                )),
            };
            let store = Self {
                inner: Arc::new(Inner {
                    pool,
                    copy,
                    config,
                    connect,
                    layout: found.layout,
                    ledger_key: found.ledger_key.map(Arc::new),
                    closed: std::sync::atomic::AtomicBool::new(false),
                    notifier: std::sync::OnceLock::new(),
                }),
            };
            tracing::info!(copy = store.inner.copy.is_some(), "event store ready");
            Ok(store)
        }
        .instrument(span)
        .await
    }
}

/// The dialect named on the builder or in the connection string (`grafi_dialect=`); naming
/// two different ones is a mistake, not a choice to make silently.
fn named_dialect(
    builder: Option<grafi_events::Dialect>,
    url: Option<grafi_events::Dialect>,
) -> Result<Option<grafi_events::Dialect>, StoreError> {
    match (builder, url) {
        (Some(b), Some(u)) if b != u => Err(StoreError::Config(format!(
            "the store was configured for grafi {b}, but the connection string says \
             grafi_dialect={u}: name one"
        ))),
        (b, u) => Ok(b.or(u)),
    }
}

/// Finds the table, creating it first when it is missing (and allowed to), in the layout of
/// the dialect the caller named (grafi 0.0.24's when none). A table of another layout than the
/// named one is refused, whoever created it.
async fn prepare_table(
    conn: AsyncPgConnection,
    config: &DieselStoreConfig,
    connect: &Connect,
) -> Result<Found, StoreError> {
    let found = find_or_create_table(conn, config, connect).await?;
    match config.dialect {
        Some(named) if named != found.layout.shape.dialect() => Err(StoreError::Config(format!(
            "table `events` has grafi {}'s layout, but this store was configured for grafi \
             {named}: connect to a table of grafi {named}'s layout, or leave the dialect unset \
             to serve the table as it is",
            found.layout.shape.dialect(),
        ))),
        _ => Ok(found),
    }
}

async fn find_or_create_table(
    mut conn: AsyncPgConnection,
    config: &DieselStoreConfig,
    connect: &Connect,
) -> Result<Found, StoreError> {
    if let Some(found) = crate::layout::inspect(&mut conn).await? {
        return Ok(found);
    }
    if !config.run_migrations {
        return Err(StoreError::Config(
            "table `events` is missing: create it with `grafi-store migrate run` (or connect \
             with run_migrations enabled)"
                .into(),
        ));
    }
    let shape = Shape::of(
        config
            .dialect
            .or(config.new_table_dialect)
            .unwrap_or_default(),
    )?;
    let (mut conn, applied) = crate::migrate::create_missing_table(conn, connect, shape).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "created table `events`");
    }
    crate::layout::inspect(&mut conn).await?.ok_or_else(|| {
        StoreError::Config(
            "table `events` is still missing after the migrations ran (dropped by hand while \
             they were recorded as applied?): see `grafi-store migrate status`"
                .into(),
        )
    })
}
