-- Three roles for a grafi events table, least privilege first. Run as a superuser or a role
-- with CREATEROLE, in the database that holds (or will hold) `events`. Idempotent.
--
--   {prefix}_owner   owns the table: runs `grafi-store migrate` (DDL). Not for services.
--   {prefix}_writer  records and reads events: SELECT, INSERT on events, USAGE on its sequence,
--                    SELECT on the erased-id ledger and its key (grafi_rs_erased, grafi_rs_key).
--                    Cannot UPDATE, DELETE or TRUNCATE: `clear_events` fails with 42501.
--                    Erasures and purges (`grafi-store erase`, `purge`) run as the owner.
--   {prefix}_reader  reads events (export, stats, dashboards): SELECT only.
--
-- They are NOLOGIN group roles; give them to login roles, e.g.
--   CREATE ROLE billing_agent LOGIN PASSWORD '…' IN ROLE {prefix}_writer;
--   CREATE ROLE deployer LOGIN PASSWORD '…' IN ROLE {prefix}_owner;
-- The owner's login must act AS the owner role when it migrates, so that what it creates
-- belongs to {prefix}_owner and gets the grants below: connect with
--   options=-c role={prefix}_owner      (URL: ?options=-c%20role%3D{prefix}_owner)

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{prefix}_owner') THEN
        CREATE ROLE {prefix}_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{prefix}_writer') THEN
        CREATE ROLE {prefix}_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{prefix}_reader') THEN
        CREATE ROLE {prefix}_reader NOLOGIN;
    END IF;
END
$roles$;

-- The owner creates the table (and diesel's bookkeeping) in this schema.
GRANT USAGE, CREATE ON SCHEMA public TO {prefix}_owner;
GRANT USAGE ON SCHEMA public TO {prefix}_writer, {prefix}_reader;

-- Tables and sequences the owner creates later get the grants at once.
ALTER DEFAULT PRIVILEGES FOR ROLE {prefix}_owner IN SCHEMA public
    GRANT SELECT, INSERT ON TABLES TO {prefix}_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE {prefix}_owner IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO {prefix}_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE {prefix}_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO {prefix}_reader;

-- A table that already exists (made by grafi or an earlier grafi-store) changes owner and
-- gets the grants now. Changing the owner takes a brief ACCESS EXCLUSIVE lock on it.
DO $grants$
BEGIN
    IF to_regclass('public.events') IS NOT NULL THEN
        ALTER TABLE public.events OWNER TO {prefix}_owner;
        GRANT SELECT, INSERT ON public.events TO {prefix}_writer;
        GRANT SELECT ON public.events TO {prefix}_reader;
        IF pg_get_serial_sequence('public.events', 'id') IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {prefix}_writer',
                           pg_get_serial_sequence('public.events', 'id'));
        END IF;
    END IF;
    -- Migration 4's tables: writers read the erased-id ledger and its key (their writes keep
    -- erased ids out), readers the audit trail; only the owner writes them.
    IF to_regclass('public.grafi_rs_erased') IS NOT NULL THEN
        ALTER TABLE public.grafi_rs_erased OWNER TO {prefix}_owner;
        ALTER TABLE public.grafi_rs_audit OWNER TO {prefix}_owner;
        ALTER TABLE public.grafi_rs_key OWNER TO {prefix}_owner;
        GRANT SELECT ON public.grafi_rs_erased, public.grafi_rs_key TO {prefix}_writer;
        GRANT SELECT ON public.grafi_rs_audit TO {prefix}_writer, {prefix}_reader;
    END IF;
    IF to_regclass('public.__diesel_schema_migrations') IS NOT NULL THEN
        ALTER TABLE public.__diesel_schema_migrations OWNER TO {prefix}_owner;
        GRANT SELECT ON public.__diesel_schema_migrations TO {prefix}_writer, {prefix}_reader;
    END IF;
END
$grants$;
