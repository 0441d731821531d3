-- People (issue 21, DESIGN §19): invitations, profiles, recovery and
-- offboarding.

-- A person's time zone, and the epochs their sessions and personal API
-- tokens were issued in. A password change moves session_epoch on (every
-- other session ends); a reset moves both (every session and token ends).
-- users is global, so one UPDATE ends them in every workspace at once, and
-- the session and token look-ups compare epochs in the database on every
-- request, so every replica sees it on the next request.
ALTER TABLE users
    ADD COLUMN time_zone     text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64),
    ADD COLUMN session_epoch integer NOT NULL DEFAULT 0,
    ADD COLUMN token_epoch   integer NOT NULL DEFAULT 0;
ALTER TABLE console_sessions ADD COLUMN user_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE user_api_tokens ADD COLUMN user_epoch integer NOT NULL DEFAULT 0;

-- A membership is active, deactivated (an admin can undo it) or removed.
-- A removed membership stays as a row: what the person did keeps its
-- foreign keys, and the audit log keeps their name. Only active members
-- sign in, hold sessions and tokens, and are offered for assignment.
-- notify holds the person's notification choices in this workspace
-- ({"kind": {"in_app": bool, "email": bool}}; a missing kind is on).
ALTER TABLE account_users
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','deactivated','removed')),
    ADD COLUMN notify jsonb NOT NULL DEFAULT '{}';

-- Sign-in sees active memberships only.
CREATE OR REPLACE FUNCTION deskwoot_login_membership_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.status <> 'active' THEN
        DELETE FROM public.login_memberships
        WHERE user_id = coalesce(NEW.user_id, OLD.user_id) AND account_id = coalesce(NEW.account_id, OLD.account_id);
        RETURN NULL;
    END IF;
    INSERT INTO public.login_memberships (user_id, account_id, role) VALUES (NEW.user_id, NEW.account_id, NEW.role)
    ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role;
    RETURN NULL;
END $$;

-- deskwoot_memberships lists a signed-in person's active workspaces (the
-- workspace chooser; switching workspace).
CREATE FUNCTION deskwoot_memberships(p_user_id bigint)
RETURNS TABLE (account_id bigint, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT m.account_id, m.role FROM public.login_memberships m WHERE m.user_id = p_user_id ORDER BY m.account_id $$;

-- deskwoot_login_user says whether an email has a sign-in (an identity
-- with a password), and whose: an invitation to it asks to sign in
-- rather than to choose a password.
CREATE FUNCTION deskwoot_login_user(p_email text)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT i.user_id FROM public.login_identities i WHERE i.email_lower = lower(p_email) $$;

-- Invitations: an admin invites an email with a role and inboxes; the
-- link's token is random and only its SHA-256 is kept (token_lookup, kind
-- 'invite'). Single use (accepted_at), 7 days, revocable.
CREATE TABLE invitations (
    account_id  bigint NOT NULL REFERENCES accounts (id),
    id          bigserial NOT NULL,
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role        text NOT NULL CHECK (role IN ('admin','agent')),
    inbox_ids   bigint[] NOT NULL DEFAULT '{}',
    invited_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by bigint,
    revoked_at  timestamptz,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX invitations_email_idx ON invitations (account_id, lower(email));
SELECT deskwoot_fence('invitations');

-- Password resets: a single-use link (30 minutes) for a person, kept in
-- the first workspace they belong to; only its token's SHA-256 is kept
-- (token_lookup, kind 'reset').
CREATE TABLE password_resets (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    user_id    bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);
SELECT deskwoot_fence('password_resets');

ALTER TABLE token_lookup DROP CONSTRAINT token_lookup_kind_check;
ALTER TABLE token_lookup ADD CONSTRAINT token_lookup_kind_check CHECK (kind IN ('user','mcp','invite','reset'));

-- deskwoot_token_register learns the link kinds: each must name a row of
-- the current tenant.
CREATE OR REPLACE FUNCTION deskwoot_token_register(p_hash bytea, p_kind text, p_token_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    acct bigint := public.deskwoot_tenant();
    found_it boolean;
BEGIN
    IF acct IS NULL THEN
        RAISE EXCEPTION 'no tenant set' USING ERRCODE = '42501';
    END IF;
    IF p_kind = 'mcp' THEN
        SELECT EXISTS (SELECT 1 FROM public.mcp_tokens WHERE account_id = acct AND id = p_token_id) INTO found_it;
    ELSIF p_kind = 'user' THEN
        SELECT EXISTS (SELECT 1 FROM public.user_api_tokens WHERE account_id = acct AND id = p_token_id) INTO found_it;
    ELSIF p_kind = 'invite' THEN
        SELECT EXISTS (SELECT 1 FROM public.invitations WHERE account_id = acct AND id = p_token_id) INTO found_it;
    ELSIF p_kind = 'reset' THEN
        SELECT EXISTS (SELECT 1 FROM public.password_resets WHERE account_id = acct AND id = p_token_id) INTO found_it;
    ELSE
        RAISE EXCEPTION 'unknown token kind %', p_kind USING ERRCODE = '22023';
    END IF;
    IF NOT found_it THEN
        RAISE EXCEPTION 'token % is not in this account', p_token_id USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.token_lookup (token_hash, kind, account_id, token_id)
    VALUES (p_hash, p_kind, acct, p_token_id);
END $$;
