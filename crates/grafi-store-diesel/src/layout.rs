//! What the `events` table looks like, and what connecting may do about it.
//!
//! The store serves the table as it finds it: grafi 0.0.24's or grafi 0.0.36's layout
//! ([`Shape`], found from the columns, never assumed), each as grafi made it (an `int4` id, no
//! `extra`, no offset function) or with what `migrations/` adds. Connecting never changes a table that
//! exists: the only DDL it runs creates a missing table, and altering an existing one (which
//! takes, or queues for, an `ACCESS EXCLUSIVE` lock, and rewrites it to widen `id`) is left to
//! `grafi-store migrate run`.
//!
//! Invariant: one store (one pool) uses one [`Layout`], so each statement's SQL text is fixed
//! per connection, as the statement cache (keyed by query type) needs.

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use grafi_events::Dialect;
use grafi_store_core::{DeniedKind, StoreError};

use crate::copy::copy_column_types;
use crate::error::{from_diesel, Access};

/// Which grafi's columns the table has: the two layouts share the table name `events`, the
/// id, the copies of the envelope and the `timestamp` column, and differ in where the
/// document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// grafi 0.0.24: `event_context` (jsonb) and `data` (json), the rest of the document
    /// rebuilt from the other columns (`row.rs`).
    Columns,
    /// grafi 0.0.36: `event_version` and `event_data` (jsonb), which holds the whole document
    /// (`document.rs`); the other columns are copies for indexes.
    Document,
}

impl Shape {
    /// The layout grafi of `dialect` gives its table. A dialect this crate has no layout for
    /// is a configuration error, never a guess.
    pub(crate) fn of(dialect: Dialect) -> Result<Shape, StoreError> {
        match dialect {
            Dialect::V0_0_24 => Ok(Shape::Columns),
            Dialect::V0_0_36 => Ok(Shape::Document),
            other => Err(StoreError::Config(format!(
                "this version has no table layout for grafi {other}"
            ))),
        }
    }

    /// The dialect of the documents such a table holds.
    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Shape::Columns => Dialect::V0_0_24,
            Shape::Document => Dialect::V0_0_36,
        }
    }

    /// The two columns only this layout has, in insert order after `event_type`.
    pub(crate) fn own_columns(self) -> [&'static str; 2] {
        match self {
            Shape::Columns => ["event_context", "data"],
            Shape::Document => ["event_version", "event_data"],
        }
    }
}

/// The topic offset expression, inline, over a JSONB `event_context` expression: the same as
/// the migrations' `grafi_event_offset` (NULL for an offset that is not a 64-bit integer).
macro_rules! inline_offset {
    ($ctx:literal) => {
        concat!(
            "(CASE WHEN jsonb_typeof(",
            $ctx,
            " -> 'offset') = 'number' THEN \
             CASE WHEN (",
            $ctx,
            " -> 'offset')::numeric = trunc((",
            $ctx,
            " -> 'offset')::numeric) \
             AND (",
            $ctx,
            " -> 'offset')::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 \
             THEN (",
            $ctx,
            " -> 'offset')::numeric::bigint END END)"
        )
    };
}

/// What the table is: grafi's layout, and which of grafi-rs's additions it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Which grafi's columns.
    pub shape: Shape,
    /// `id` is `bigint` (grafi's is `integer`).
    pub bigint_ids: bool,
    /// The nullable `extra` column exists.
    pub extra: bool,
    /// `grafi_event_offset(jsonb)` exists (and with it, the topic index).
    pub offset_function: bool,
    /// The position column `grafi_tx` (`xid8`, set by its default) exists: streams and
    /// subscriptions need it.
    pub positions: bool,
    /// The erased-id ledger, the audit trail and the hash key exist (migration 4): erasure,
    /// purges and the no-resurrection check need them.
    pub lifecycle: bool,
}

impl Layout {
    /// What every read selects, JSON columns as text (parsed by us, so a value serde_json
    /// cannot parse never fails the whole query). `id::int8` costs nothing on a `bigint` id.
    /// Both layouts give the same eight columns (`row::RowTuple`): the 5th and 6th are the
    /// layout's own columns.
    pub(crate) fn select_columns(self) -> &'static str {
        match (self.shape, self.extra) {
            (Shape::Columns, true) => {
                "id::int8, event_id, assistant_request_id, event_type, event_context::text, \
                 data::text, \"timestamp\", extra::text"
            }
            (Shape::Columns, false) => {
                "id::int8, event_id, assistant_request_id, event_type, event_context::text, \
                 data::text, \"timestamp\", NULL::text"
            }
            (Shape::Document, true) => {
                "id::int8, event_id, assistant_request_id, event_type, event_version::text, \
                 event_data::text, \"timestamp\", extra::text"
            }
            (Shape::Document, false) => {
                "id::int8, event_id, assistant_request_id, event_type, event_version::text, \
                 event_data::text, \"timestamp\", NULL::text"
            }
        }
    }

    /// The topic offset of a row as `bigint`: the migrations' function (which the topic index
    /// is built on, with the same argument), or the same expression inline on grafi's own table.
    pub(crate) fn offset_expression(self) -> &'static str {
        match (self.shape, self.offset_function) {
            (Shape::Columns, true) => "grafi_event_offset(event_context)",
            (Shape::Columns, false) => inline_offset!("event_context"),
            (Shape::Document, true) => "grafi_event_offset(event_data -> 'event_context')",
            (Shape::Document, false) => inline_offset!("(event_data -> 'event_context')"),
        }
    }

    /// A row's topic name, as grafi's topic reads (and the topic index) compute it.
    pub(crate) fn topic_name_expression(self) -> &'static str {
        match self.shape {
            Shape::Columns => "(event_context ->> 'topic_name')",
            Shape::Document => "(event_data -> 'event_context' ->> 'name')",
        }
    }

    /// Whether everything the migrations add is there.
    pub(crate) fn is_complete(self) -> bool {
        self.bigint_ids && self.extra && self.offset_function && self.positions && self.lifecycle
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
        if !self.positions {
            missing.push("the position column `grafi_tx`");
        }
        if !self.lifecycle {
            missing.push("the erased-id ledger and audit tables");
        }
        missing
    }
}

/// The table as found: its layout, and whether binary `COPY` can write its column types.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub layout: Layout,
    pub copy: Result<(), String>,
    /// The ledger's hash key, when the table has a ledger and this role may read the key.
    pub ledger_key: Option<[u8; 32]>,
}

/// The columns both grafi layouts have.
const SHARED_COLUMNS: [&str; 6] = [
    "id",
    "event_id",
    "conversation_id",
    "assistant_request_id",
    "event_type",
    "timestamp",
];

/// The layout whose own columns `has` shows, or why none: a table with neither layout's
/// columns, or with both, is not one this store can serve without guessing.
fn shape_of(has: impl Fn(&str) -> bool, found: &[&str]) -> Result<Shape, StoreError> {
    let expected = || {
        format!(
            "grafi 0.0.24's {:?} or grafi 0.0.36's {:?} (besides {SHARED_COLUMNS:?})",
            Shape::Columns.own_columns(),
            Shape::Document.own_columns()
        )
    };
    let shared_missing: Vec<&str> = SHARED_COLUMNS.into_iter().filter(|c| !has(c)).collect();
    let shapes: Vec<Shape> = [Shape::Columns, Shape::Document]
        .into_iter()
        .filter(|shape| shape.own_columns().iter().any(|c| has(c)))
        .collect();
    let shape = match shapes.as_slice() {
        [shape] => *shape,
        [] => {
            return Err(StoreError::Config(format!(
                "table `events` has the columns {found:?}, neither grafi layout: expected {} \
                 (or this role may not read them)",
                expected()
            )))
        }
        _ => {
            return Err(StoreError::Config(format!(
                "table `events` has the columns {found:?}, which mix both grafi layouts: \
                 expected {}, not both",
                expected()
            )))
        }
    };
    let missing: Vec<&str> = shared_missing
        .into_iter()
        .chain(shape.own_columns().into_iter().filter(|c| !has(c)))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Config(format!(
            "table `events` has the columns {found:?} and lacks grafi {}'s {missing:?} (or this \
             role may not read them): it is not grafi's events table",
            shape.dialect()
        )));
    }
    Ok(shape)
}

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
        #[diesel(sql_type = Bool)]
        lifecycle: bool,
        #[diesel(sql_type = Bool)]
        can_read_key: bool,
    }
    // One round trip: the columns (none when the table is missing, or the role may not see
    // it), whether the table exists at all, and whether the offset function does.
    let rows: Vec<Column> = diesel::sql_query(
        "SELECT c.column_name::text AS column_name, c.data_type::text AS data_type, \
                to_regclass('events') IS NOT NULL AS table_exists, \
                to_regprocedure('grafi_event_offset(jsonb)') IS NOT NULL AS offset_function, \
                CASE WHEN to_regclass('events') IS NULL THEN false \
                     ELSE has_table_privilege('events', 'SELECT') END AS can_select, \
                to_regclass('grafi_rs_erased') IS NOT NULL \
                  AND to_regclass('grafi_rs_audit') IS NOT NULL \
                  AND to_regclass('grafi_rs_key') IS NOT NULL AS lifecycle, \
                CASE WHEN to_regclass('grafi_rs_key') IS NULL THEN false \
                     ELSE has_table_privilege('grafi_rs_key', 'SELECT') END AS can_read_key \
         FROM (SELECT 1) AS one \
         LEFT JOIN information_schema.columns c \
           ON c.table_schema = current_schema() AND c.table_name = 'events' \
         ORDER BY c.ordinal_position",
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
    let found: Vec<&str> = rows
        .iter()
        .filter_map(|c| c.column_name.as_deref())
        .collect();
    let shape = shape_of(|name| type_of(name).is_some(), &found)?;
    let layout = Layout {
        shape,
        bigint_ids: type_of("id") == Some("bigint"),
        extra: type_of("extra").is_some(),
        offset_function: first.offset_function,
        positions: type_of("grafi_tx") == Some("xid8"),
        lifecycle: first.lifecycle,
    };
    let mut copy = Ok(());
    for (name, allowed) in copy_column_types(shape) {
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
    let ledger_key = match layout.lifecycle && first.can_read_key {
        true => Some(crate::lifecycle::load_key(conn).await?),
        false => None,
    };
    Ok(Some(Found {
        layout,
        copy,
        ledger_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(columns: &[&str]) -> Result<Shape, String> {
        shape_of(|c| columns.contains(&c), columns).map_err(|e| e.to_string())
    }

    const V24: [&str; 8] = [
        "id",
        "event_id",
        "conversation_id",
        "assistant_request_id",
        "event_type",
        "event_context",
        "data",
        "timestamp",
    ];
    const V36: [&str; 8] = [
        "id",
        "event_id",
        "conversation_id",
        "assistant_request_id",
        "event_type",
        "event_version",
        "event_data",
        "timestamp",
    ];

    #[test]
    fn each_grafi_layout_is_found_with_or_without_extra() {
        assert_eq!(shape(&V24), Ok(Shape::Columns));
        assert_eq!(shape(&V36), Ok(Shape::Document));
        let with_extra: Vec<&str> = V36.iter().copied().chain(["extra"]).collect();
        assert_eq!(shape(&with_extra), Ok(Shape::Document));
    }

    #[test]
    fn neither_both_or_half_a_layout_is_a_config_error_naming_the_columns() {
        let neither = shape(&["id", "event_id", "payload"]).unwrap_err();
        assert!(neither.contains("neither grafi layout"), "{neither}");
        assert!(neither.contains("\"payload\""), "{neither}");
        assert!(neither.contains("event_data") && neither.contains("event_context"));
        let both: Vec<&str> = V24.iter().copied().chain(["event_data"]).collect();
        let both = shape(&both).unwrap_err();
        assert!(both.contains("mix both"), "{both}");
        let half: Vec<&str> = V36
            .iter()
            .copied()
            .filter(|c| *c != "event_version")
            .collect();
        let half = shape(&half).unwrap_err();
        assert!(
            half.contains("0.0.36") && half.contains("[\"event_version\"]"),
            "{half}"
        );
    }
}
