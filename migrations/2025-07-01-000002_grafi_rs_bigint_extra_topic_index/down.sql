DROP INDEX IF EXISTS ix_events_topic_offset;
DROP FUNCTION IF EXISTS grafi_event_offset(JSONB);
ALTER TABLE events DROP COLUMN IF EXISTS extra;
-- Fails if an id or the sequence is already beyond 2^31 - 1; then the table cannot go back.
ALTER SEQUENCE IF EXISTS events_id_seq AS INTEGER;
ALTER TABLE events ALTER COLUMN id TYPE INTEGER;
