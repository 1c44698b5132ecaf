//! The hand-written statements: chunk insert, one-event insert, lookup by id, topic lookup.
//!
//! Each has a fixed SQL text and a static [`QueryId`], so diesel-async prepares each once per
//! connection and reuses it (diesel's `sql_query` and multi-row `VALUES` are never cached),
//! and rendering its SQL, which diesel-async does on every call, is a few string pushes.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
use diesel::QueryResult;

use crate::layout::{Layout, Shape};
use crate::row::NewRow;

/// One chunk of `record_events`: every column as one array parameter, so the statement has
/// eight parameters whatever the number of rows (no 65,535-parameter limit).
///
/// The arrays (always of equal length) are unnested in the select list (`SELECT unnest($1),
/// unnest($2), …`), which PostgreSQL (10 and later) evaluates in lockstep, row by row, in array
/// order, straight into the insert: ids follow the batch order (recording order; this is how
/// PostgreSQL executes the plan, not an SQL guarantee) with neither a sort nor the tuplestore a
/// `FROM UNNEST(…) WITH ORDINALITY … ORDER BY` plan fills first (that plan cost the server
/// about 15 % more per row; see docs/performance.md). The conformance suite's 10,000-event
/// batch checks the order across chunks. `ON CONFLICT (event_id) DO NOTHING` keeps the first
/// occurrence of an id, stored or in the same statement. The affected-row count is the number
/// recorded.
pub(crate) struct InsertChunk {
    pub event_id: Vec<String>,
    pub conversation_id: Vec<String>,
    pub assistant_request_id: Vec<String>,
    pub event_type: Vec<String>,
    /// The layout's own two columns ([`Shape::own_columns`]), as [`NewRow::own`].
    pub own: [Vec<String>; 2],
    pub timestamp: Vec<chrono::NaiveDateTime>,
    pub extra: Vec<Option<String>>,
    /// Each row's keyed event-id hash, for the erased-id ledger (empty on a table without
    /// one); computed while the encoder runs, so it overlaps the server's work.
    pub id_hash: Vec<Vec<u8>>,
    /// Which grafi's columns the table has.
    pub shape: Shape,
    /// Whether the table has `extra` (otherwise every `extra` is `None` and not sent).
    pub with_extra: bool,
}

/// The insert's column list, for the table's layout; without `extra` on grafi's own table
/// (rows needing one are refused before they get here).
fn insert_columns(shape: Shape, with_extra: bool) -> &'static str {
    match (shape, with_extra) {
        (Shape::Columns, true) => {
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_context, data, \"timestamp\", extra)"
        }
        (Shape::Columns, false) => {
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_context, data, \"timestamp\")"
        }
        (Shape::Document, true) => {
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\", extra)"
        }
        (Shape::Document, false) => {
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_version, event_data, \"timestamp\")"
        }
    }
}

/// The casts from `text` of the layout's own two columns.
fn own_casts(shape: Shape) -> [&'static str; 2] {
    match shape {
        Shape::Columns => ["::jsonb", "::json"],
        Shape::Document => ["", "::jsonb"],
    }
}

const INSERT_SQL_TAIL: &str = " ON CONFLICT (event_id) DO NOTHING";

impl InsertChunk {
    /// The rows as columns; with `ledger_key`, each row's id hash too.
    pub(crate) fn new(
        rows: Vec<NewRow>,
        shape: Shape,
        with_extra: bool,
        ledger_key: Option<&[u8]>,
    ) -> Self {
        let n = rows.len();
        let mut chunk = InsertChunk {
            event_id: Vec::with_capacity(n),
            conversation_id: Vec::with_capacity(n),
            assistant_request_id: Vec::with_capacity(n),
            event_type: Vec::with_capacity(n),
            own: [Vec::with_capacity(n), Vec::with_capacity(n)],
            timestamp: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            id_hash: Vec::new(),
            shape,
            with_extra,
        };
        if let Some(key) = ledger_key {
            chunk.id_hash = rows
                .iter()
                .map(|row| crate::lifecycle::id_hash(key, &row.event_id))
                .collect();
        }
        for row in rows {
            chunk.event_id.push(row.event_id);
            chunk.conversation_id.push(row.conversation_id);
            chunk.assistant_request_id.push(row.assistant_request_id);
            chunk.event_type.push(row.event_type);
            let [first, second] = row.own;
            chunk.own[0].push(first);
            chunk.own[1].push(second);
            chunk.timestamp.push(row.timestamp);
            chunk.extra.push(row.extra);
        }
        chunk
    }
}

impl InsertChunk {
    /// Rows in the chunk.
    pub(crate) fn len(&self) -> usize {
        self.event_id.len()
    }

    /// Bytes of text in the chunk, as [`NewRow::size`] counts them.
    pub(crate) fn size(&self) -> usize {
        let total = |column: &[String]| column.iter().map(String::len).sum::<usize>();
        total(&self.event_id)
            + total(&self.conversation_id)
            + total(&self.assistant_request_id)
            + total(&self.event_type)
            + total(&self.own[0])
            + total(&self.own[1])
            + self.extra.iter().flatten().map(String::len).sum::<usize>()
            + 64 * self.len()
    }

    /// Moves `other`'s rows after this chunk's.
    pub(crate) fn append(&mut self, mut other: InsertChunk) {
        self.event_id.append(&mut other.event_id);
        self.conversation_id.append(&mut other.conversation_id);
        self.assistant_request_id
            .append(&mut other.assistant_request_id);
        self.event_type.append(&mut other.event_type);
        let [first, second] = &mut other.own;
        self.own[0].append(first);
        self.own[1].append(second);
        self.timestamp.append(&mut other.timestamp);
        self.extra.append(&mut other.extra);
        self.id_hash.append(&mut other.id_hash);
    }
}

impl InsertChunk {
    /// The chunk's row as a plain `VALUES` insert, if it holds exactly one.
    pub(crate) fn single_row(&self) -> Option<InsertOne<'_>> {
        if self.len() != 1 {
            return None;
        }
        self.row(0)
    }

    /// Row `at` of the chunk as a plain `VALUES` insert.
    pub(crate) fn row(&self, at: usize) -> Option<InsertOne<'_>> {
        Some(InsertOne {
            event_id: self.event_id.get(at)?,
            conversation_id: self.conversation_id.get(at)?,
            assistant_request_id: self.assistant_request_id.get(at)?,
            event_type: self.event_type.get(at)?,
            own: [self.own[0].get(at)?, self.own[1].get(at)?],
            timestamp: self.timestamp.get(at)?,
            extra: self.extra.get(at)?.as_deref(),
            id_hash: self.id_hash.get(at).map(Vec::as_slice),
            shape: self.shape,
            with_extra: self.with_extra,
        })
    }
}

/// A one-event batch (`record_event`, the latency path): the row as scalar parameters of
/// `INSERT … VALUES`, with the same `ON CONFLICT (event_id) DO NOTHING` as [`InsertChunk`].
///
/// Why not the one-element arrays of [`InsertChunk`]: the server took 27–42 µs longer per
/// call to insert the same row through `unnest` (raw tokio-postgres, blocks of 100 calls of
/// each statement alternating, 2 KB rows, docs/performance.md), most of the store's margin
/// over a raw `INSERT`.
pub(crate) struct InsertOne<'a> {
    event_id: &'a str,
    conversation_id: &'a str,
    assistant_request_id: &'a str,
    event_type: &'a str,
    own: [&'a str; 2],
    timestamp: &'a chrono::NaiveDateTime,
    extra: Option<&'a str>,
    /// On a table with the erased-id ledger: the row is inserted only if this hash is not in
    /// it. The ledger is read in the statement itself, whose `ACCESS SHARE` lock on it is
    /// taken before the statement's snapshot: an erasure (which locks the ledger exclusively)
    /// either finished before and is seen, or waits for this insert and then removes it.
    id_hash: Option<&'a [u8]>,
    shape: Shape,
    with_extra: bool,
}

impl InsertOne<'_> {
    /// The row's event id.
    pub(crate) fn event_id(&self) -> &str {
        self.event_id
    }
}

pub(crate) struct InsertOneId;

impl QueryId for InsertOne<'_> {
    type QueryId = InsertOneId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for InsertOne<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let casts = own_casts(self.shape);
        out.push_sql(insert_columns(self.shape, self.with_extra));
        out.push_sql(if self.id_hash.is_some() {
            " SELECT "
        } else {
            " VALUES ("
        });
        out.push_bind_param::<Text, _>(self.event_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.conversation_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.assistant_request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.own[0])?;
        out.push_sql(casts[0]);
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.own[1])?;
        out.push_sql(casts[1]);
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(self.timestamp)?;
        if self.with_extra {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&self.extra)?;
            out.push_sql("::json");
        }
        match &self.id_hash {
            Some(hash) => {
                out.push_sql(" WHERE NOT EXISTS (SELECT 1 FROM grafi_rs_erased WHERE id_hash = ");
                out.push_bind_param::<diesel::sql_types::Bytea, _>(hash)?;
                out.push_sql(")");
            }
            None => out.push_sql(")"),
        }
        out.push_sql(INSERT_SQL_TAIL);
        Ok(())
    }
}

/// Static query id: one prepared statement per connection.
pub(crate) struct InsertChunkId;

impl QueryId for InsertChunk {
    type QueryId = InsertChunkId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for InsertChunk {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let casts = own_casts(self.shape);
        out.push_sql(insert_columns(self.shape, self.with_extra));
        out.push_sql(" SELECT unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.event_id)?;
        out.push_sql("::text[]), unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.conversation_id)?;
        out.push_sql("::text[]), unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.assistant_request_id)?;
        out.push_sql("::text[]), unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.event_type)?;
        out.push_sql("::text[]), unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.own[0])?;
        out.push_sql("::text[])");
        out.push_sql(casts[0]);
        out.push_sql(", unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.own[1])?;
        out.push_sql("::text[])");
        out.push_sql(casts[1]);
        out.push_sql(", unnest(");
        out.push_bind_param::<Array<Timestamp>, _>(&self.timestamp)?;
        out.push_sql("::timestamp[])");
        if self.with_extra {
            out.push_sql(", unnest(");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.extra)?;
            out.push_sql("::text[])::json");
        }
        out.push_sql(INSERT_SQL_TAIL);
        Ok(())
    }
}

/// The SQL types of [`Layout::select_columns`].
pub(crate) type RowSqlType = (
    BigInt,
    Text,
    Text,
    Text,
    Text,
    Text,
    Timestamp,
    Nullable<Text>,
);

/// `get_event`: the row of one event id, as fixed SQL text.
///
/// Why not diesel's query DSL: diesel-async renders the SQL of every query it runs, cached
/// statement or not, and rendering the DSL's select list (eight quoted, qualified, cast
/// columns) took 11,700 of the 91,000 instructions of a `get_event` (callgrind); fixed
/// strings are pushed as they are. The unique index on `event_id` finds the row; `LIMIT 1`
/// says one row is wanted whatever the indexes.
pub(crate) struct EventByIdQuery<'a> {
    pub layout: Layout,
    pub event_id: &'a str,
}

pub(crate) struct EventByIdQueryId;

impl QueryId for EventByIdQuery<'_> {
    type QueryId = EventByIdQueryId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for EventByIdQuery<'_> {
    type SqlType = RowSqlType;
}

impl QueryFragment<Pg> for EventByIdQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(" FROM events WHERE event_id = ");
        out.push_bind_param::<Text, _>(self.event_id)?;
        out.push_sql(" LIMIT 1");
        Ok(())
    }
}

/// `get_topic_events`: the topic's own records (`PublishToTopic`, `TopicEvent`) at the given
/// offsets, by offset then recording order. The literal `IN` list matches the partial index
/// `ix_events_topic_offset` (a bound parameter could not prove its predicate), and
/// `grafi_event_offset` never fails on a row whose offset is not a 64-bit integer.
pub(crate) struct TopicQuery<'a> {
    pub layout: Layout,
    pub topic_name: &'a str,
    pub offsets: &'a [i64],
}

pub(crate) struct TopicQueryId;

impl QueryId for TopicQuery<'_> {
    type QueryId = TopicQueryId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for TopicQuery<'_> {
    type SqlType = RowSqlType;
}

impl QueryFragment<Pg> for TopicQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let offset = self.layout.offset_expression();
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(" FROM events WHERE event_type IN ('PublishToTopic', 'TopicEvent') AND ");
        out.push_sql(self.layout.topic_name_expression());
        out.push_sql(" = ");
        out.push_bind_param::<Text, _>(self.topic_name)?;
        out.push_sql(" AND ");
        out.push_sql(offset);
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<BigInt>, _>(self.offsets)?;
        out.push_sql(") ORDER BY ");
        out.push_sql(offset);
        out.push_sql(", events.id");
        Ok(())
    }
}

/// The indexed columns a read can select by.
pub(crate) trait ByColumn: 'static {
    /// The column's name.
    const COLUMN: &'static str;
}

/// `get_conversation_events`.
pub(crate) struct ConversationId;
impl ByColumn for ConversationId {
    const COLUMN: &'static str = "conversation_id";
}

/// `get_agent_events`.
pub(crate) struct AssistantRequestId;
impl ByColumn for AssistantRequestId {
    const COLUMN: &'static str = "assistant_request_id";
}

/// The rows whose indexed column `C` equals a value, with no `ORDER BY`: over the column's
/// index it adds a sort that holds every row back until the last is read (and detoasted, and
/// its JSONB printed); without it the server sends rows as it reads them, and the caller
/// sorts by id.
pub(crate) struct ByColumnQuery<'a, C> {
    pub layout: Layout,
    pub value: &'a str,
    pub column: std::marker::PhantomData<C>,
}

/// One prepared statement per column.
pub(crate) struct ByColumnQueryId<C>(std::marker::PhantomData<C>);

impl<C: ByColumn> QueryId for ByColumnQuery<'_, C> {
    type QueryId = ByColumnQueryId<C>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: ByColumn> Query for ByColumnQuery<'_, C> {
    type SqlType = RowSqlType;
}

impl<C: ByColumn> QueryFragment<Pg> for ByColumnQuery<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(" FROM events WHERE ");
        out.push_sql(C::COLUMN);
        out.push_sql(" = ");
        out.push_bind_param::<Text, _>(self.value)?;
        Ok(())
    }
}

/// The rows whose indexed column `C` equals a value, in id order: the streaming reads, which
/// hand rows on as they arrive and so cannot sort them afterwards (the server sorts, and
/// sends the sorted rows only as fast as the reader takes them).
pub(crate) struct OrderedByColumnQuery<'a, C> {
    pub layout: Layout,
    pub value: &'a str,
    pub column: std::marker::PhantomData<C>,
}

/// One prepared statement per column.
pub(crate) struct OrderedByColumnQueryId<C>(std::marker::PhantomData<C>);

impl<C: ByColumn> QueryId for OrderedByColumnQuery<'_, C> {
    type QueryId = OrderedByColumnQueryId<C>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: ByColumn> Query for OrderedByColumnQuery<'_, C> {
    type SqlType = RowSqlType;
}

impl<C: ByColumn> QueryFragment<Pg> for OrderedByColumnQuery<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(" FROM events WHERE ");
        out.push_sql(C::COLUMN);
        out.push_sql(" = ");
        out.push_bind_param::<Text, _>(self.value)?;
        out.push_sql(" ORDER BY events.id");
        Ok(())
    }
}

/// `get_events` (`after: None`, no limit) and `get_events_page`: rows in id order after an
/// id. The bound is a bigint compared with the column whatever its width, so grafi's `int4`
/// ids use the primary key as well.
pub(crate) struct IdRangeQuery {
    pub layout: Layout,
    /// `None`: from the first row, whatever its id (ids may be zero or negative in a table
    /// others write to).
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

pub(crate) struct IdRangeQueryId;

impl QueryId for IdRangeQuery {
    type QueryId = IdRangeQueryId;
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for IdRangeQuery {
    type SqlType = RowSqlType;
}

impl QueryFragment<Pg> for IdRangeQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(" FROM events");
        if let Some(after) = &self.after {
            out.push_sql(" WHERE id > ");
            out.push_bind_param::<BigInt, _>(after)?;
        }
        out.push_sql(" ORDER BY events.id");
        if let Some(limit) = &self.limit {
            out.push_sql(" LIMIT ");
            out.push_bind_param::<BigInt, _>(limit)?;
        }
        Ok(())
    }
}

/// `read_positions`: rows after a position, up to a horizon, in position order.
///
/// `grafi_tx < horizon` keeps to transactions that have all ended (see `position.rs`); the
/// conditions match the index `ix_events_position (grafi_tx, id)`. The filter's conditions
/// narrow on the server; `Filter::matches` decides exactly afterwards (the topic condition
/// here is a superset: every topic record type, by the layout's topic-name expression).
pub(crate) struct PositionQuery<'a> {
    pub layout: Layout,
    /// `(grafi_tx, id)` of the last row seen, as text and bigint; `None`: from the first row.
    pub after: Option<(String, i64)>,
    /// The snapshot's `xmin`, as text.
    pub horizon: String,
    pub filter: &'a grafi_store_core::Filter,
    pub limit: i64,
}

impl QueryId for PositionQuery<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PositionQuery<'_> {
    type SqlType = (RowSqlType, BigInt);
}

impl QueryFragment<Pg> for PositionQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.layout.select_columns());
        out.push_sql(", grafi_tx::text::int8 FROM events WHERE grafi_tx < ");
        out.push_bind_param::<Text, _>(&self.horizon)?;
        out.push_sql("::xid8");
        if let Some((tx, id)) = &self.after {
            out.push_sql(" AND (grafi_tx, id) > (");
            out.push_bind_param::<Text, _>(tx)?;
            out.push_sql("::xid8, ");
            out.push_bind_param::<BigInt, _>(id)?;
            out.push_sql(")");
        }
        if let Some(conversation_id) = &self.filter.conversation_id {
            out.push_sql(" AND conversation_id = ");
            out.push_bind_param::<Text, _>(conversation_id)?;
        }
        if let Some(request_id) = &self.filter.assistant_request_id {
            out.push_sql(" AND assistant_request_id = ");
            out.push_bind_param::<Text, _>(request_id)?;
        }
        if !self.filter.event_types.is_empty() {
            out.push_sql(" AND event_type = ANY(");
            out.push_bind_param::<Array<Text>, _>(&self.filter.event_types)?;
            out.push_sql(")");
        }
        if let Some(topic) = &self.filter.topic {
            out.push_sql(
                " AND event_type IN ('PublishToTopic', 'ConsumeFromTopic', 'OutputTopic', \
                 'TopicEvent') AND ",
            );
            out.push_sql(self.layout.topic_name_expression());
            out.push_sql(" = ");
            out.push_bind_param::<Text, _>(topic)?;
        }
        out.push_sql(" ORDER BY events.grafi_tx, events.id LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        Ok(())
    }
}

// `ORDER BY` names its columns with the table (`events.id`): a bare name there means the
// output column of that name first, and the select list's `id::int8` and
// `grafi_tx::text::int8` are output columns named `id` and `grafi_tx`, casts no index holds, so
// the server sorted every row after a cursor instead of walking the index (on `grafi_tx`
// always; on `id` when it is grafi's `integer`).

// diesel-async's `RunQueryDsl` (`load`, `load_stream`, `execute`) is implemented for the types
// that say they support it.
impl diesel::query_dsl::RunQueryDslSupport for InsertChunk {}
impl diesel::query_dsl::RunQueryDslSupport for &InsertChunk {}
impl diesel::query_dsl::RunQueryDslSupport for InsertOne<'_> {}
impl diesel::query_dsl::RunQueryDslSupport for EventByIdQuery<'_> {}
impl diesel::query_dsl::RunQueryDslSupport for TopicQuery<'_> {}
impl<C: ByColumn> diesel::query_dsl::RunQueryDslSupport for ByColumnQuery<'_, C> {}
impl<C: ByColumn> diesel::query_dsl::RunQueryDslSupport for OrderedByColumnQuery<'_, C> {}
impl diesel::query_dsl::RunQueryDslSupport for IdRangeQuery {}
impl diesel::query_dsl::RunQueryDslSupport for PositionQuery<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;

    fn layouts() -> Vec<Layout> {
        let mut all = Vec::new();
        for shape in [Shape::Columns, Shape::Document] {
            for flag in [false, true] {
                all.push(Layout {
                    shape,
                    bigint_ids: flag,
                    extra: flag,
                    offset_function: flag,
                    positions: true,
                    lifecycle: flag,
                });
            }
        }
        all
    }

    /// Every `ORDER BY` term of every read names the table's column, never an output column.
    #[test]
    fn reads_order_by_table_columns_not_by_their_casts() {
        let filter = grafi_store_core::Filter::all();
        for layout in layouts() {
            let sql = [
                debug_query::<Pg, _>(&PositionQuery {
                    layout,
                    after: Some(("5".into(), 7)),
                    horizon: "9".into(),
                    filter: &filter,
                    limit: 10,
                })
                .to_string(),
                debug_query::<Pg, _>(&IdRangeQuery {
                    layout,
                    after: Some(3),
                    limit: Some(10),
                })
                .to_string(),
                debug_query::<Pg, _>(&OrderedByColumnQuery::<ConversationId> {
                    layout,
                    value: "c",
                    column: std::marker::PhantomData,
                })
                .to_string(),
                debug_query::<Pg, _>(&TopicQuery {
                    layout,
                    topic_name: "t",
                    offsets: &[1],
                })
                .to_string(),
            ];
            for sql in sql {
                let order = sql
                    .split(" ORDER BY ")
                    .nth(1)
                    .and_then(|rest| rest.split(" LIMIT ").next())
                    .and_then(|rest| rest.split(" -- ").next())
                    .unwrap_or_else(|| panic!("no ORDER BY in {sql}"));
                for term in order.split(", ") {
                    let bare_output_name =
                        ["id", "grafi_tx", "event_id", "event_type"].contains(&term.trim());
                    assert!(
                        !bare_output_name,
                        "ORDER BY {term} sorts by an output column: {sql}"
                    );
                }
                assert!(order.contains("events.id"), "{sql}");
            }
        }
    }
}
