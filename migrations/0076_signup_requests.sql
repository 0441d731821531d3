-- Email-confirmed signup (DESKWOOT_SIGNUP=confirm; issues 18 and 21): a
-- signup waits here until whoever reads the mailbox opens the link mailed
-- to it, so that the answer to the signup never says whether the email
-- already has a login. The request comes before any tenant, so the table
-- has no account_id and no grant to the app role: only the SECURITY
-- DEFINER functions below touch it. The link's token is random and only
-- its SHA-256 is kept; the link works once, until expires_at. A request's
-- password hash is wiped when the request is used.
CREATE TABLE signup_requests (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    account_name  text NOT NULL CHECK (length(account_name) BETWEEN 1 AND 200),
    name          text NOT NULL DEFAULT '',
    password_hash text,
    token_hash    bytea UNIQUE,
    -- message_token is the mail's random Message-ID part, the same on
    -- every try to send it.
    message_token text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX signup_requests_expires_idx ON signup_requests (expires_at);

-- deskwoot_signup_request_add writes a request (and drops requests that
-- expired a day ago or more, so password hashes do not pile up).
CREATE FUNCTION deskwoot_signup_request_add(p_email text, p_account_name text, p_name text, p_password_hash text,
    p_message_token text, p_now timestamptz, p_expires timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    new_id bigint;
BEGIN
    DELETE FROM public.signup_requests WHERE expires_at < p_now - interval '1 day';
    INSERT INTO public.signup_requests (email, account_name, name, password_hash, message_token, created_at, expires_at)
    VALUES (p_email, p_account_name, p_name, p_password_hash, p_message_token, p_now, p_expires)
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- deskwoot_signup_request_link gives a live request its link's token hash
-- (a new one replaces the last: only the newest mailed link works) and
-- returns what its mail says; no row for a used or expired request.
CREATE FUNCTION deskwoot_signup_request_link(p_id bigint, p_token_hash bytea, p_now timestamptz)
RETURNS TABLE (email text, account_name text, message_token text, expires_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    UPDATE public.signup_requests r SET token_hash = p_token_hash
    WHERE r.id = p_id AND r.used_at IS NULL AND r.expires_at > p_now
    RETURNING r.email, r.account_name, r.message_token, r.expires_at
$$;

-- deskwoot_signup_request_open resolves a link's token hash to its live
-- request.
CREATE FUNCTION deskwoot_signup_request_open(p_token_hash bytea, p_now timestamptz)
RETURNS TABLE (id bigint, email text, account_name text, name text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT r.id, r.email, r.account_name, r.name, r.password_hash FROM public.signup_requests r
    WHERE r.token_hash = p_token_hash AND r.used_at IS NULL AND r.expires_at > p_now
$$;

-- deskwoot_signup_request_use spends a live request once (in the
-- transaction that creates its workspace) and wipes its password hash;
-- false when it was used already or expired.
CREATE FUNCTION deskwoot_signup_request_use(p_id bigint, p_now timestamptz)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    WITH used AS (
        UPDATE public.signup_requests SET used_at = p_now, password_hash = NULL
        WHERE id = p_id AND used_at IS NULL AND expires_at > p_now RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM used)
$$;
