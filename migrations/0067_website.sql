-- The website channel (issue 22): a chat widget on the workspace's own site.
--
-- A website inbox has a public id that the embed snippet carries
-- (data-deskwoot-inbox). A visitor's browser names only that id, before any
-- tenant is known, so, like the inbound mail addresses, the id routes
-- through a pre-tenant look-up table that has no RLS and no grant to the
-- app, written by a SECURITY DEFINER trigger on inboxes (so an id always
-- belongs to the account that wrote the inbox under RLS) and read by a
-- SECURITY DEFINER function.

ALTER TABLE inboxes DROP CONSTRAINT inboxes_channel_check;
ALTER TABLE inboxes ADD CONSTRAINT inboxes_channel_check CHECK (channel IN ('api','email','website'));

-- public_id is what the snippet names; identity_secret is the inbox's
-- identity-verification secret (user_hash = HMAC-SHA256(secret, user_id)),
-- encrypted with the server's widget key (AES-GCM, desk/website.go): HMAC
-- verification needs the secret itself, so a hash would not do, and the
-- rows (backups, exports, a read of the table) never carry it in clear.
ALTER TABLE inboxes
    ADD COLUMN public_id text CHECK (public_id ~ '^wi_[A-Za-z0-9]{20,40}$'),
    ADD COLUMN identity_secret bytea,
    ADD CONSTRAINT inboxes_website_check CHECK (channel <> 'website' OR public_id IS NOT NULL);

CREATE TABLE widget_inboxes (
    public_id  text PRIMARY KEY,
    account_id bigint NOT NULL,
    inbox_id   bigint NOT NULL
);
CREATE UNIQUE INDEX widget_inboxes_inbox_idx ON widget_inboxes (account_id, inbox_id);

-- deskwoot_widget_inbox_sync keeps the look-up in step with the website
-- inboxes: a deleted inbox, or one that stops being a website inbox, stops
-- routing at once. A public id already routed elsewhere is refused.
CREATE FUNCTION deskwoot_widget_inbox_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM public.widget_inboxes WHERE account_id = OLD.account_id AND inbox_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.channel = 'website' AND NEW.public_id IS NOT NULL THEN
        INSERT INTO public.widget_inboxes (public_id, account_id, inbox_id) VALUES (NEW.public_id, NEW.account_id, NEW.id)
        ON CONFLICT (public_id) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'widget public id is already in use' USING ERRCODE = 'unique_violation', CONSTRAINT = 'widget_public_id_in_use';
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER inboxes_widget AFTER INSERT OR UPDATE OF channel, public_id OR DELETE ON inboxes
    FOR EACH ROW EXECUTE FUNCTION deskwoot_widget_inbox_sync();

-- deskwoot_widget_inbox routes a snippet's public id to its account and
-- inbox: the one look-up that precedes the tenant for a widget request.
CREATE FUNCTION deskwoot_widget_inbox(p_public_id text)
RETURNS TABLE (account_id bigint, inbox_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT w.account_id, w.inbox_id FROM public.widget_inboxes w WHERE w.public_id = p_public_id $$;

-- The key that signs visitor tokens and encrypts identity secrets, made
-- once here like the event cursor key.
INSERT INTO server_secrets (name, value)
VALUES ('widget', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
ON CONFLICT (name) DO NOTHING;

-- The address a widget visitor asked to be emailed at about replies they
-- have not seen, per inbox. It is the visitor's word, never verified, so
-- it does not become the contact's email (which would merge the visitor
-- into whichever contact owns that address).
ALTER TABLE contact_inboxes ADD COLUMN notify_email text CHECK (length(notify_email) <= 254);

-- Delivery in the widget: sent (stored for the widget), delivered (the
-- widget showed it), emailed (unseen for 10 minutes, mailed to the visitor).
ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_delivery_status_check
    CHECK (delivery_status IN ('pending','sent','failed','delivered','emailed'));

-- A reply the visitor did not see goes out as mail to people (package
-- mailout) of its own kind.
ALTER TABLE people_mail DROP CONSTRAINT people_mail_kind_check;
ALTER TABLE people_mail ADD CONSTRAINT people_mail_kind_check
    CHECK (kind IN ('invitation','password_reset','notification','widget_reply'));
