-- grafi 0.0.24's `events` table, exactly as its EventStorePostgres (SQLAlchemy create_all)
-- creates it (fixtures/grafi-0.0.24/schema.sql). IF NOT EXISTS everywhere: on a database where
-- grafi already created the table (in 0.0.24's layout or 0.0.36's, whose indexes have the same
-- names), this migration changes nothing and is simply recorded.
CREATE TABLE IF NOT EXISTS events (
    id SERIAL NOT NULL,
    event_id VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    assistant_request_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    event_context JSONB NOT NULL,
    data JSON NOT NULL,
    "timestamp" TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS ix_events_assistant_request_id ON events (assistant_request_id);
CREATE INDEX IF NOT EXISTS ix_events_conversation_id ON events (conversation_id);
CREATE UNIQUE INDEX IF NOT EXISTS ix_events_event_id ON events (event_id);
