-- grafi 0.0.36's `events` table, exactly as its EventStorePostgres (SQLAlchemy create_all on
-- EventModel) creates it (fixtures/grafi-0.0.36/schema.sql). Run by a store that creates a
-- missing table for grafi 0.0.36 (`.dialect(Dialect::V0_0_36)`), under the migrations'
-- advisory lock and before them; the migrations then add to it what they add to grafi
-- 0.0.24's table.
CREATE TABLE IF NOT EXISTS events (
    id SERIAL NOT NULL,
    event_id VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    assistant_request_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    event_version VARCHAR NOT NULL,
    event_data JSONB NOT NULL,
    "timestamp" TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS ix_events_assistant_request_id ON events (assistant_request_id);
CREATE INDEX IF NOT EXISTS ix_events_conversation_id ON events (conversation_id);
CREATE UNIQUE INDEX IF NOT EXISTS ix_events_event_id ON events (event_id);
CREATE INDEX IF NOT EXISTS ix_events_event_type ON events (event_type);
