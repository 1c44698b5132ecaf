-- What grafi-rs adds on top of grafi's table (0.0.24's or 0.0.36's layout). grafi keeps working on the result: it
-- never names `extra`, reads `id` as a Python int whatever its width, and does not see indexes.

-- 1. 64-bit ids: billions of events are realistic. (Rewrites the table under an exclusive lock:
--    on a big existing grafi table, plan a maintenance window; see docs/operations.md.)
ALTER TABLE events ALTER COLUMN id TYPE BIGINT;
ALTER SEQUENCE IF EXISTS events_id_seq AS BIGINT;

-- 2. What grafi's columns cannot keep, for events grafi-rs writes: an `event_version` other than
--    "1.0", a timestamp whose text is not the canonical UTC isoformat, top-level fields grafi does
--    not know, and (for raw documents) absent keys and key order. NULL for the usual event and
--    for every row grafi writes. `json`, not `jsonb`: kept verbatim (NUL escapes, number text).
ALTER TABLE events ADD COLUMN IF NOT EXISTS extra JSON;

-- 3. get_topic_events: topic name + offset. grafi casts the offset to `integer`, which fails
--    beyond 2^31 and on any non-integer offset; this function never fails (NULL when the offset
--    is not an integer that fits in bigint), so no row can make inserts or index builds fail.
CREATE OR REPLACE FUNCTION grafi_event_offset(ctx JSONB) RETURNS BIGINT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- Nested CASEs: PostgreSQL evaluates CASE branches in order (AND operands it may reorder).
    SELECT CASE WHEN jsonb_typeof(ctx -> 'offset') = 'number' THEN
        CASE WHEN (ctx -> 'offset')::numeric = trunc((ctx -> 'offset')::numeric)
                  AND (ctx -> 'offset')::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
             THEN (ctx -> 'offset')::numeric::bigint
        END
    END
$$;

-- The index is on the expressions the store's topic reads use, which depend on the layout:
-- grafi 0.0.24's `event_context` column, or the `event_context` inside grafi 0.0.36's
-- `event_data` (where the topic is `name`).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'events'
                 AND column_name = 'event_data') THEN
        CREATE INDEX IF NOT EXISTS ix_events_topic_offset
            ON events ((event_data -> 'event_context' ->> 'name'),
                       grafi_event_offset(event_data -> 'event_context'), id)
            WHERE event_type IN ('PublishToTopic', 'TopicEvent');
    ELSE
        CREATE INDEX IF NOT EXISTS ix_events_topic_offset
            ON events ((event_context ->> 'topic_name'), grafi_event_offset(event_context), id)
            WHERE event_type IN ('PublishToTopic', 'TopicEvent');
    END IF;
END
$$;
