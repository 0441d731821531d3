-- Inbound mail addresses are assigned by Deskwoot, never claimed (issue 14).
--
-- Until now an email inbox named its own settings.inbound_address, first
-- come first served, so one workspace could claim the address another meant
-- to receive on and read that workspace's customers' mail. Now every email
-- inbox gets a random, unguessable local part under the server's inbound
-- domain (DESKWOOT_INBOUND_DOMAIN), generated here in the database: neither
-- a request nor the app can choose it. The tenant's own mailbox forwards to
-- it. Only the local part is stored, so the domain stays configuration and
-- this migration can give existing inboxes an address without knowing it.
--
-- The look-up stays pre-tenant (an SMTP recipient is known before the
-- tenant): no RLS, no grant to deskwoot_app (grants.sql revokes it by name),
-- read and written only by the SECURITY DEFINER functions and trigger below.
-- Rows are never deleted: an address, once issued, can never be issued
-- again, not even to the same workspace.

DROP TRIGGER inboxes_email_inbound ON inboxes;
DROP FUNCTION deskwoot_email_inbox_sync();
DROP FUNCTION deskwoot_email_inbox(text);
-- The claimed addresses go with the old table: any of them may be a
-- squatter's, and mail to them is now refused at RCPT.
DROP TABLE email_inbound_addresses;

CREATE TABLE email_inbound_addresses (
    local_part text PRIMARY KEY CHECK (local_part ~ '^[a-z0-9]{20,64}$'),
    account_id bigint NOT NULL,
    inbox_id   bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL: the inbox's current address. Set: a rotated-out address, still
    -- accepted until then (the rotation grace period), refused after.
    expires_at timestamptz
);
CREATE UNIQUE INDEX email_inbound_addresses_current_idx ON email_inbound_addresses (account_id, inbox_id) WHERE expires_at IS NULL;
CREATE INDEX email_inbound_addresses_inbox_idx ON email_inbound_addresses (account_id, inbox_id, expires_at);

-- deskwoot_inbound_local_part is a fresh unguessable local part: the 122
-- random bits of a version-4 UUID as 32 hex digits.
CREATE FUNCTION deskwoot_inbound_local_part() RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, public
AS $$ SELECT replace(gen_random_uuid()::text, '-', '') $$;

-- deskwoot_inbound_address_sync gives every email inbox a current address
-- and stops routing an inbox's addresses when it is deleted or stops being
-- an email inbox. It runs on rows the app wrote under RLS (WITH CHECK on the
-- tenant), so an address always belongs to the account that wrote the inbox.
CREATE FUNCTION deskwoot_inbound_address_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE public.email_inbound_addresses SET expires_at = now()
         WHERE account_id = OLD.account_id AND inbox_id = OLD.id AND (expires_at IS NULL OR expires_at > now());
        RETURN NULL;
    END IF;
    IF NEW.channel <> 'email' THEN
        UPDATE public.email_inbound_addresses SET expires_at = now()
         WHERE account_id = NEW.account_id AND inbox_id = NEW.id AND (expires_at IS NULL OR expires_at > now());
        RETURN NULL;
    END IF;
    -- An inbox that has a current address keeps it (the partial unique index).
    INSERT INTO public.email_inbound_addresses (local_part, account_id, inbox_id)
    VALUES (public.deskwoot_inbound_local_part(), NEW.account_id, NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER inboxes_inbound_address AFTER INSERT OR UPDATE OF channel OR DELETE ON inboxes
    FOR EACH ROW EXECUTE FUNCTION deskwoot_inbound_address_sync();

-- deskwoot_inbound_mailbox routes a local part to its account and inbox:
-- the one look-up that precedes the tenant when mail arrives. A rotated-out
-- address routes until its expiry; p_now is the caller's clock.
CREATE FUNCTION deskwoot_inbound_mailbox(p_local_part text, p_now timestamptz)
RETURNS TABLE (account_id bigint, inbox_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT e.account_id, e.inbox_id FROM public.email_inbound_addresses e
      WHERE e.local_part = lower(btrim(p_local_part)) AND (e.expires_at IS NULL OR e.expires_at > p_now) $$;

-- deskwoot_inbound_addresses lists the current tenant's live addresses
-- (the one current per email inbox, and rotated-out ones still in grace),
-- for the inbox settings. The tenant is the transaction's, never an argument.
CREATE FUNCTION deskwoot_inbound_addresses(p_now timestamptz)
RETURNS TABLE (inbox_id bigint, local_part text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT e.inbox_id, e.local_part, e.expires_at FROM public.email_inbound_addresses e
      WHERE e.account_id = nullif(current_setting('deskwoot.account_id', true), '')::bigint
        AND (e.expires_at IS NULL OR e.expires_at > p_now)
      ORDER BY e.inbox_id, e.expires_at DESC NULLS FIRST, e.created_at DESC $$;

-- deskwoot_inbound_address_rotate gives an email inbox of the current tenant
-- a new address; the old one keeps routing until p_now + p_grace. It
-- returns the new local part, or NULL when the inbox has no current address
-- (it is not an email inbox of this tenant). The caller locks the inbox row
-- first, so concurrent rotations queue.
CREATE FUNCTION deskwoot_inbound_address_rotate(p_inbox_id bigint, p_now timestamptz, p_grace interval)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_acct bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
    v_new  text;
BEGIN
    IF v_acct IS NULL OR p_grace < interval '0' THEN
        RETURN NULL;
    END IF;
    UPDATE public.email_inbound_addresses SET expires_at = p_now + p_grace
     WHERE account_id = v_acct AND inbox_id = p_inbox_id AND expires_at IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_new := public.deskwoot_inbound_local_part();
    INSERT INTO public.email_inbound_addresses (local_part, account_id, inbox_id) VALUES (v_new, v_acct, p_inbox_id);
    RETURN v_new;
END $$;

-- Existing email inboxes get an address now, and their claimed
-- settings.inbound_address goes. FORCE RLS hides inboxes from the owner
-- too, so lift it for these statements (inside the migration's transaction).
ALTER TABLE inboxes NO FORCE ROW LEVEL SECURITY;
INSERT INTO email_inbound_addresses (local_part, account_id, inbox_id)
SELECT deskwoot_inbound_local_part(), account_id, id FROM inboxes WHERE channel = 'email';
UPDATE inboxes SET settings = settings - 'inbound_address' WHERE settings ? 'inbound_address';
ALTER TABLE inboxes FORCE ROW LEVEL SECURITY;
