-- Channels: the pre-tenant look-up that routes inbound mail to its email
-- inbox. An SMTP recipient is known before the tenant is, so, like
-- token_lookup, this table has no RLS and no grant to deskwoot_app; only the
-- SECURITY DEFINER functions below read and write it. (River's own tables
-- for the outbox are created by River's migrations, run by `deskwoot
-- migrate` after these files.)
CREATE TABLE email_inbound_addresses (
    address    text PRIMARY KEY CHECK (address = lower(address) AND length(address) BETWEEN 3 AND 320),
    account_id bigint NOT NULL,
    inbox_id   bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX email_inbound_addresses_inbox_idx ON email_inbound_addresses (account_id, inbox_id);

-- deskwoot_email_inbox maps an inbound address to its account and inbox:
-- the one look-up that precedes the tenant when mail arrives.
CREATE FUNCTION deskwoot_email_inbox(p_address text)
RETURNS TABLE (account_id bigint, inbox_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT e.account_id, e.inbox_id FROM public.email_inbound_addresses e WHERE e.address = lower(btrim(p_address)) $$;

-- deskwoot_email_inbox_sync keeps the look-up in step with the email
-- inboxes' settings.inbound_address. It runs on rows the app wrote under RLS
-- (WITH CHECK on the tenant), so the app cannot route an address into
-- another account; an address already taken by another inbox is refused.
CREATE FUNCTION deskwoot_email_inbox_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    addr text := lower(nullif(btrim(NEW.settings->>'inbound_address'), ''));
BEGIN
    DELETE FROM public.email_inbound_addresses WHERE account_id = NEW.account_id AND inbox_id = NEW.id;
    IF NEW.channel = 'email' AND addr IS NOT NULL THEN
        INSERT INTO public.email_inbound_addresses (address, account_id, inbox_id)
        VALUES (addr, NEW.account_id, NEW.id) ON CONFLICT (address) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'inbound address % is already used by another inbox', addr
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'email_inbound_address_in_use';
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER inboxes_email_inbound AFTER INSERT OR UPDATE OF channel, settings ON inboxes
    FOR EACH ROW EXECUTE FUNCTION deskwoot_email_inbox_sync();
