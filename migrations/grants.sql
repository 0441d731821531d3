-- Privileges of the run-time role deskwoot_app, applied after every migrate
-- run (idempotent). The app role is not the owner of anything, has no
-- BYPASSRLS, and reaches tenant rows only through the RLS policies.
GRANT USAGE ON SCHEMA public TO deskwoot_app;

GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO deskwoot_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO deskwoot_app;

-- Rows the app may remove: memberships it manages, expired idempotency keys,
-- events past their retention.
GRANT DELETE ON inbox_members, team_members, idempotency_keys, events TO deskwoot_app;
-- What a person may delete (DESIGN §13; desk/humans.go): a conversation with
-- its messages and drafts; a contact with its notes, inbox links and
-- conversations. No MCP tool deletes anything.
GRANT DELETE ON conversations, messages, drafts, contacts, contact_inboxes, contact_notes TO deskwoot_app;

-- The audit trail is append-only for the app.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_chain FROM deskwoot_app;

-- Pre-tenant lookup tables are read only through SECURITY DEFINER functions.
REVOKE ALL ON token_lookup FROM deskwoot_app;
REVOKE ALL ON schema_migrations FROM deskwoot_app;
REVOKE ALL ON server_secrets FROM deskwoot_app;

-- Functions: only the app may call them. Functions of roles the owner
-- cannot act for (the search functions, owned by deskwoot_search, whose
-- migration set their grants) are left alone.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace AND pg_has_role(p.proowner, 'USAGE') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO deskwoot_app', f);
    END LOOP;
END $$;
REVOKE ALL ON billing_customers, account_directory FROM deskwoot_app;

-- Channels: the inbound mail look-up is read only through a SECURITY DEFINER
-- function. River's tables (the outbox) carry job ids, not tenant content:
-- the app inserts, fetches, completes and cleans jobs, and elects a leader
-- among replicas; River's migration bookkeeping stays the owner's.
REVOKE ALL ON email_inbound_addresses FROM deskwoot_app;
DO $$ BEGIN
    IF to_regclass('public.widget_inboxes') IS NOT NULL THEN
        REVOKE ALL ON widget_inboxes FROM deskwoot_app;
    END IF;
    IF to_regclass('public.account_slugs') IS NOT NULL THEN
        REVOKE ALL ON account_slugs FROM deskwoot_app;
    END IF;
END $$;
GRANT DELETE ON river_job, river_leader, river_queue, river_notification TO deskwoot_app;
REVOKE ALL ON river_migration FROM deskwoot_app;
REVOKE ALL ON login_identities, login_memberships FROM deskwoot_app;

-- Console sessions: the hash look-up is read only through SECURITY DEFINER functions.
REVOKE ALL ON session_lookup FROM deskwoot_app;

-- Audit checkpoints (0046): insert-only like the chain; the signing key
-- is the owner's alone.
DO $$ BEGIN
    IF to_regclass('public.audit_checkpoints') IS NOT NULL THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM deskwoot_app;
        REVOKE ALL ON audit_signing_key FROM deskwoot_app;
    END IF;
END $$;

-- OAuth (issue 10): the token hash look-up and the registered clients are
-- read only through SECURITY DEFINER functions; expired OAuth tokens are
-- cleaned up by the app. (Only once 0013 ran: migrations may stop earlier.)
DO $$ BEGIN
    IF to_regclass('public.oauth_tokens') IS NOT NULL THEN
        REVOKE ALL ON oauth_token_lookup, oauth_clients FROM deskwoot_app;
        GRANT DELETE ON oauth_tokens TO deskwoot_app;
    END IF;
END $$;

-- Search (0031): deskwoot_search calls pg_trgm's functions, whose operators
-- check EXECUTE too; when the loop above took it from PUBLIC (an owner that
-- owns them), it gets it back here, as for the search indexes' functions.
DO $$
DECLARE
    f regprocedure;
BEGIN
    IF to_regrole('deskwoot_search') IS NULL THEN
        RETURN;
    END IF;
    FOR f IN SELECT p.oid::regprocedure FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid JOIN pg_proc p ON p.oid = d.objid
             WHERE e.extname = 'pg_trgm' AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' AND pg_has_role(p.proowner, 'USAGE') LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO deskwoot_search', f);
    END LOOP;
    -- The search indexes' word functions (0033), which the searches call.
    IF to_regprocedure('deskwoot_tenant_query(bigint, tsquery)') IS NOT NULL THEN
        GRANT EXECUTE ON FUNCTION deskwoot_tenant_lexemes(bigint, tsvector), deskwoot_tenant_query(bigint, tsquery) TO deskwoot_search;
    END IF;
END $$;

-- People (issue 21): admins delete inboxes, teams and labels (desk/offboarding.go).
GRANT DELETE ON inboxes, teams, labels TO deskwoot_app;

-- Canned responses (0062): admins delete them (desk/canned.go).
DO $$ BEGIN
    IF to_regclass('public.canned_responses') IS NOT NULL THEN
        GRANT DELETE ON canned_responses TO deskwoot_app;
    END IF;
END $$;

-- Refusals older than the anomaly window (0065, issue 24) are pruned as
-- they are counted, and a resumed token's are forgotten.
DO $$ BEGIN
    IF to_regclass('public.mcp_token_refusals') IS NOT NULL THEN
        GRANT DELETE ON mcp_token_refusals TO deskwoot_app;
    END IF;
END $$;

-- Email-confirmed signups (0076) are read and written only through
-- SECURITY DEFINER functions: they hold emails and password hashes of
-- people who are in no workspace yet.
DO $$ BEGIN
    IF to_regclass('public.signup_requests') IS NOT NULL THEN
        REVOKE ALL ON signup_requests FROM deskwoot_app;
        REVOKE ALL ON SEQUENCE signup_requests_id_seq FROM deskwoot_app;
    END IF;
END $$;
