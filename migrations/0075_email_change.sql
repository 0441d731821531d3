-- Email changes (issue 21): a person who changes their email proves the
-- new address first. The change waits here until the link mailed to the
-- new address is opened (single use, 24 hours; only its token's SHA-256
-- is kept, token_lookup kind 'email'), so that the answer to the change
-- never says whether another login already has that address: only the
-- mailbox's owner learns it, when the link is opened.
CREATE TABLE email_changes (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    user_id    bigint NOT NULL,
    new_email  text NOT NULL CHECK (length(new_email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id) ON DELETE CASCADE
);
CREATE INDEX email_changes_user_idx ON email_changes (account_id, user_id) WHERE used_at IS NULL;
SELECT deskwoot_fence('email_changes');

ALTER TABLE token_lookup DROP CONSTRAINT token_lookup_kind_check;
ALTER TABLE token_lookup ADD CONSTRAINT token_lookup_kind_check CHECK (kind IN ('user','mcp','invite','reset','email'));

-- The kinds as 0067 left them, and email_change.
ALTER TABLE people_mail DROP CONSTRAINT people_mail_kind_check;
ALTER TABLE people_mail ADD CONSTRAINT people_mail_kind_check
    CHECK (kind IN ('invitation','password_reset','notification','widget_reply','email_change'));

-- deskwoot_token_register learns the email kind (as in 0041, one branch
-- more): each kind must name a row of the current tenant.
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
    ELSIF p_kind = 'email' THEN
        SELECT EXISTS (SELECT 1 FROM public.email_changes WHERE account_id = acct AND id = p_token_id) INTO found_it;
    ELSE
        RAISE EXCEPTION 'unknown token kind %', p_kind USING ERRCODE = '22023';
    END IF;
    IF NOT found_it THEN
        RAISE EXCEPTION 'token % is not in this account', p_token_id USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.token_lookup (token_hash, kind, account_id, token_id)
    VALUES (p_hash, p_kind, acct, p_token_id);
END $$;
