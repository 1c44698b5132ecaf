-- Erasure and retention (docs/privacy.md). Three new tables; `events` itself is not touched,
-- so this takes no lock on it.

-- The erased-id ledger: a keyed hash (16 bytes of SHA-256 over the key below, a domain tag
-- and the event id) of every event an erasure removed. A write of one of these ids stores
-- nothing, so replaying an old batch cannot bring an erased event back. No personal data:
-- without the key, an entry cannot be tested against a guessed id.
CREATE TABLE IF NOT EXISTS grafi_rs_erased (
    id_hash BYTEA PRIMARY KEY,
    erased_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per erasure or purge: what, how many events, when, by which role and client. The
-- subject (a user, conversation or request id) only as a keyed hash; never a payload.
CREATE TABLE IF NOT EXISTS grafi_rs_audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    action TEXT NOT NULL,
    subject_hash BYTEA,
    before TIMESTAMPTZ,
    events BIGINT NOT NULL,
    role TEXT NOT NULL DEFAULT current_user,
    application_name TEXT NOT NULL DEFAULT current_setting('application_name')
);

-- The store's hash key: 32 random bytes (pg_strong_random, through gen_random_uuid), made once.
CREATE TABLE IF NOT EXISTS grafi_rs_key (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    key BYTEA NOT NULL CHECK (length(key) = 32)
);
INSERT INTO grafi_rs_key (key)
SELECT sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
ON CONFLICT (singleton) DO NOTHING;

-- Only the owner writes these three tables: default privileges (`grafi-store roles`) give a
-- writer role INSERT on every new table, and a writer that could insert here could forge the
-- audit trail or block ids. Reading them stays granted: a writer needs the ledger and the key
-- to keep erased ids out, and either role already reads the events themselves.
DO $$
DECLARE
    grantee_name text;
BEGIN
    FOR grantee_name IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema()
          AND table_name IN ('grafi_rs_erased', 'grafi_rs_audit', 'grafi_rs_key')
          AND privilege_type <> 'SELECT' AND grantee <> current_user
    LOOP
        EXECUTE format(
            'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON grafi_rs_erased, grafi_rs_audit, grafi_rs_key FROM %s',
            CASE WHEN grantee_name = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(grantee_name) END);
    END LOOP;
END
$$;
