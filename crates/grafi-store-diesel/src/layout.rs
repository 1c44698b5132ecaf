//! What the `events` table looks like, and what connecting may do about it.
//!
//! The store serves the table as it finds it: grafi 0.0.24's own (an `int4` id, no `extra`,
//! no offset function) or with what `migrations/` adds. Connecting never changes a table that
//! exists: the only DDL it runs creates a missing table, and altering an existing one (which
//! takes, or queues for, an `ACCESS EXCLUSIVE` lock, and rewrites it to widen `id`) is left to
//! `grafi-store migrate run`.
//!
//! Invariant: one store (one pool) uses one [`Layout`], so each statement's SQL text is fixed
//! per connection, as the statement cache (keyed by query type) needs.

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use grafi_store_core::{DeniedKind, StoreError};

use crate::copy::COPY_COLUMN_TYPES;
use crate::error::{from_diesel, Access};

/// Which of grafi-rs's additions the table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `id` is `bigint` (grafi's is `integer`).
    pub bigint_ids: bool,
    /// The nullable `extra` column exists.
    pub extra: bool,
    /// `grafi_event_offset(jsonb)` exists (and with it, the topic index).
    pub offset_function: bool,
}

impl Layout {
    /// What every read selects, JSON columns as text (parsed by us, so a value serde_json
    /// cannot parse never fails the whole query). `id::int8` costs nothing on a `bigint` id.
    pub(crate) fn select_columns(self) -> &'static str {
        if self.extra {
            "id::int8, event_id, assistant_request_id, event_type, event_context::text, \
             data::text, \"timestamp\", extra::text"
        } else {
            "id::int8, event_id, assistant_request_id, event_type, event_context::text, \
             data::text, \"timestamp\", NULL::text"
        }
    }

    /// The topic offset of a row as `bigint`: the migrations' function (which the topic index
    /// is built on), or the same expression inline on grafi's own table.
    pub(crate) fn offset_expression(self) -> &'static str {
        if self.offset_function {
            "grafi_event_offset(event_context)"
        } else {
            "(CASE WHEN jsonb_typeof(event_context -> 'offset') = 'number' THEN \
             CASE WHEN (event_context -> 'offset')::numeric = trunc((event_context -> 'offset')::numeric) \
             AND (event_context -> 'offset')::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 \
             THEN (event_context -> 'offset')::numeric::bigint END END)"
        }
    }

    /// Whether everything the migrations add is there.
    pub(crate) fn is_complete(self) -> bool {
        self.bigint_ids && self.extra && self.offset_function
    }

    /// What `grafi-store migrate run` would add, for messages.
    pub(crate) fn missing(self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.bigint_ids {
            missing.push("64-bit ids");
        }
        if !self.extra {
            missing.push("the `extra` column");
        }
        if !self.offset_function {
            missing.push("the topic offset index");
        }
        missing
    }
}

/// The table as found: its layout, and whether binary `COPY` can write its column types.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub layout: Layout,
    pub copy: Result<(), String>,
}

/// grafi's columns, which every layout has.
const GRAFI_COLUMNS: [&str; 8] = [
    "id",
    "event_id",
    "conversation_id",
    "assistant_request_id",
    "event_type",
    "event_context",
    "data",
    "timestamp",
];

/// Looks at `events` in the current schema; `None` when there is no such table.
///
/// Reads only the catalog (what any role with a privilege on the table may see).
pub(crate) async fn inspect(conn: &mut AsyncPgConnection) -> Result<Option<Found>, StoreError> {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Nullable<Text>)]
        column_name: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        data_type: Option<String>,
        #[diesel(sql_type = Bool)]
        table_exists: bool,
        #[diesel(sql_type = Bool)]
        offset_function: bool,
        #[diesel(sql_type = Bool)]
        can_select: bool,
    }
    // One round trip: the columns (none when the table is missing, or the role may not see
    // it), whether the table exists at all, and whether the offset function does.
    let rows: Vec<Column> = diesel::sql_query(
        "SELECT c.column_name::text AS column_name, c.data_type::text AS data_type, \
                to_regclass('events') IS NOT NULL AS table_exists, \
                to_regprocedure('grafi_event_offset(jsonb)') IS NOT NULL AS offset_function, \
                CASE WHEN to_regclass('events') IS NULL THEN false \
                     ELSE has_table_privilege('events', 'SELECT') END AS can_select \
         FROM (SELECT 1) AS one \
         LEFT JOIN information_schema.columns c \
           ON c.table_schema = current_schema() AND c.table_name = 'events'",
    )
    .load(conn)
    .await
    .map_err(|e| from_diesel(e, Access::Read))?;
    let Some(first) = rows.as_slice().first() else {
        return Ok(None);
    };
    if !first.table_exists {
        return Ok(None);
    }
    if !first.can_select {
        // The server's own refusal, as the source.
        let refusal = diesel::sql_query("SELECT 1 FROM events LIMIT 0")
            .execute(conn)
            .await
            .err()
            .map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
        return Err(StoreError::Denied {
            kind: DeniedKind::Permission,
            message: "this role lacks SELECT on table events, which every use of the store \
                      needs: grant it (see `grafi-store roles --print-sql`)"
                .into(),
            source: refusal,
        });
    }
    let type_of = |name: &str| {
        rows.iter()
            .find(|c| c.column_name.as_deref() == Some(name))
            .and_then(|c| c.data_type.as_deref())
    };
    let missing: Vec<&str> = GRAFI_COLUMNS
        .iter()
        .copied()
        .filter(|name| type_of(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Config(format!(
            "table `events` lacks grafi's column(s) {missing:?} (or this role may not read \
             them): it is not grafi's events table"
        )));
    }
    let layout = Layout {
        bigint_ids: type_of("id") == Some("bigint"),
        extra: type_of("extra").is_some(),
        offset_function: first.offset_function,
    };
    let mut copy = Ok(());
    for (name, allowed) in COPY_COLUMN_TYPES {
        if name == "extra" && !layout.extra {
            continue;
        }
        let found = type_of(name).unwrap_or_default();
        if !allowed.contains(&found) {
            copy = Err(format!(
                "column `{name}` is `{found}`, COPY is encoded for {allowed:?}"
            ));
            break;
        }
    }
    Ok(Some(Found { layout, copy }))
}
