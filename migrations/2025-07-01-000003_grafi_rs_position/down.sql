DROP INDEX IF EXISTS ix_events_position;
ALTER TABLE events DROP COLUMN IF EXISTS grafi_tx;
