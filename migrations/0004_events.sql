-- The events feed. Each event records the inserting transaction (xid): a
-- poller reads only events below the oldest running transaction, ordered by
-- (xid, id), so an event whose id was drawn earlier but committed later can
-- never be skipped by a cursor that already moved past its id.
CREATE TABLE events (
    account_id      bigint NOT NULL REFERENCES accounts (id),
    id              bigserial NOT NULL,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at              timestamptz NOT NULL DEFAULT now(),
    type            text NOT NULL CHECK (type IN ('conversation.created','conversation.updated','message.created',
                        'draft.created','draft.approved','draft.rejected','contact.created','contact.updated')),
    inbox_id        bigint,
    conversation_id bigint,
    contact_id      bigint,
    data            jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, id)
);
CREATE INDEX events_order_idx ON events (account_id, xid, id);
CREATE INDEX events_at_idx ON events (account_id, at);
SELECT deskwoot_fence('events');

-- Server-wide secrets (the key that signs event cursors), made once at
-- migration and read only through a SECURITY DEFINER function.
CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO server_secrets (name, value)
VALUES ('event_cursor', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE FUNCTION deskwoot_server_secret(p_name text) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT value FROM public.server_secrets WHERE name = p_name $$;
