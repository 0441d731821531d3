-- Console sessions (DESIGN §13). A browser holds an opaque random id in a
-- cookie; only its SHA-256 is stored. The session row is a tenant row under
-- RLS; the hash -> session look-up that precedes the tenant lives in a
-- lookup table with no grant to the app, read and written only through the
-- SECURITY DEFINER functions below (the same shape as token_lookup).
CREATE TABLE console_sessions (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    id           bigserial NOT NULL,
    user_id      bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);
SELECT deskwoot_fence('console_sessions');

CREATE TABLE session_lookup (
    session_hash bytea PRIMARY KEY,
    account_id   bigint NOT NULL,
    session_id   bigint NOT NULL
);

-- deskwoot_session_owner maps a session hash to its account and session id:
-- the one look-up that precedes the tenant for a signed-in browser.
CREATE FUNCTION deskwoot_session_owner(p_hash bytea)
RETURNS TABLE (account_id bigint, session_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT l.account_id, l.session_id FROM public.session_lookup l WHERE l.session_hash = p_hash $$;

-- deskwoot_session_register records the hash of a session just created in
-- the current tenant; it refuses a session id the tenant does not own.
CREATE FUNCTION deskwoot_session_register(p_hash bytea, p_session_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    acct bigint := public.deskwoot_tenant();
BEGIN
    IF acct IS NULL THEN
        RAISE EXCEPTION 'no tenant set' USING ERRCODE = '42501';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM public.console_sessions WHERE account_id = acct AND id = p_session_id) THEN
        RAISE EXCEPTION 'session % is not in this account', p_session_id USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.session_lookup (session_hash, account_id, session_id) VALUES (p_hash, acct, p_session_id);
END $$;

-- deskwoot_session_forget drops the look-up of a session of the current
-- tenant (at sign-out), so the hash resolves to nothing afterwards.
CREATE FUNCTION deskwoot_session_forget(p_hash bytea)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ DELETE FROM public.session_lookup WHERE session_hash = p_hash AND account_id = public.deskwoot_tenant() $$;
