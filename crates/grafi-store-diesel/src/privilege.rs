//! Why a statement was refused: the privilege the role lacks, asked of the server.

use std::time::Duration;

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use grafi_store_core::{DeniedKind, StoreError};

use crate::store::DieselEventStore;

impl DieselEventStore {
    /// `result`, or when it failed with a permanent error or a permission error, that error
    /// explained: which privilege on `events` (or its sequence) the role lacks, asked of the
    /// server on this failure path only. An error no missing privilege explains is returned
    /// as it is.
    pub(crate) async fn explain_denied<T>(
        &self,
        result: Result<T, StoreError>,
        privilege: &'static str,
    ) -> Result<T, StoreError> {
        let error = match result {
            Err(
                error @ (StoreError::Backend {
                    retryable: false, ..
                }
                | StoreError::Denied {
                    kind: DeniedKind::Permission,
                    ..
                }),
            ) => error,
            other => return other,
        };
        #[derive(QueryableByName)]
        struct Granted {
            #[diesel(sql_type = Bool)]
            table: bool,
            #[diesel(sql_type = Bool)]
            sequence: bool,
        }
        let check = async {
            let mut conn = self.inner.pool.get().await.ok()?;
            let sql = format!(
                "SELECT has_table_privilege('events', '{privilege}') AS table, \
                 coalesce(has_sequence_privilege(pg_get_serial_sequence('events', 'id'), 'USAGE'), true) AS sequence"
            );
            diesel::sql_query(sql)
                .get_result::<Granted>(&mut *conn)
                .await
                .ok()
        };
        let granted = tokio::time::timeout(Duration::from_secs(2), check)
            .await
            .ok()
            .flatten();
        let user = self.inner.connect.settings().user().to_owned();
        match granted {
            Some(g) if !g.table => Err(StoreError::Denied {
                kind: DeniedKind::Permission,
                message: format!(
                    "role {user} lacks {privilege} on table events; grant it, or use a role \
                     made for this (see `grafi-store roles --print-sql`)"
                ),
                source: Some(Box::new(error)),
            }),
            Some(g) if privilege == "INSERT" && !g.sequence => Err(StoreError::Denied {
                kind: DeniedKind::Permission,
                message: format!(
                    "role {user} lacks USAGE on the sequence of events.id; grant it (see \
                     `grafi-store roles --print-sql`)"
                ),
                source: Some(Box::new(error)),
            }),
            _ => Err(error),
        }
    }
}
