-- The position streams and subscriptions resume from: the id of the transaction that inserted
-- the row (`xid8`, never wraps), read with `id`. A reader delivers only rows whose transaction
-- id is below the oldest transaction still running (`pg_snapshot_xmin`): every such
-- transaction has ended, so no row can later appear before what was delivered, whatever order
-- concurrent writers commit in (docs/subscriptions.md).
--
-- The column default sets it, so rows that writers knowing nothing of it insert (a Python
-- grafi service, plain SQL) get it too. Catalog only, no rewrite: the column is added with the
-- constant default '0' (which rows already in the table read as: they come first, in id order)
-- and, in the same statement, its default becomes the inserting transaction's id. NOT NULL:
-- a row without a position could not be ordered.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS grafi_tx xid8 NOT NULL DEFAULT '0',
    ALTER COLUMN grafi_tx SET DEFAULT pg_current_xact_id();

-- Streams read in (grafi_tx, id) order from a cursor. Built under a SHARE lock: writes wait
-- while it builds (about a second per million rows), reads do not.
CREATE INDEX IF NOT EXISTS ix_events_position ON events (grafi_tx, id);
