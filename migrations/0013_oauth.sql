-- OAuth 2.1 for MCP clients that cannot send a bearer header (DESIGN §14).
--
-- An OAuth grant is an MCP token: a row in mcp_tokens of kind 'oauth' that
-- carries its client, so that scopes, inboxes, the Rego decision, the audit
-- and revocation all work unchanged. The protocol's short-lived artefacts
-- (authorization codes, their PKCE challenges, access and refresh tokens)
-- live in oauth_tokens under RLS; only SHA-256 hashes of the tokens are kept.
ALTER TABLE mcp_tokens
    ADD COLUMN kind        text NOT NULL DEFAULT 'static' CHECK (kind IN ('static','oauth')),
    ADD COLUMN client_id   text,
    ADD COLUMN client_name text,
    ADD CONSTRAINT mcp_tokens_oauth_client CHECK ((kind = 'oauth') = (client_id IS NOT NULL));

CREATE TABLE oauth_tokens (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('code','pkce','access','refresh')),
    signature  bytea NOT NULL,             -- sha256 of the token (of the code for 'pkce')
    request_id text NOT NULL,              -- one per authorization, kept across refreshes
    client_id  text NOT NULL,
    grant_id   bigint,                     -- the mcp_tokens row, once the code is redeemed
    active     boolean NOT NULL DEFAULT true,
    expires_at timestamptz NOT NULL,
    resource   text NOT NULL,
    request    jsonb NOT NULL,             -- fosite's request: scopes, form, session
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, kind, signature),
    FOREIGN KEY (account_id, grant_id) REFERENCES mcp_tokens (account_id, id),
    CHECK (kind IN ('code','pkce') OR grant_id IS NOT NULL)
);
CREATE INDEX oauth_tokens_request_idx ON oauth_tokens (account_id, request_id);
CREATE INDEX oauth_tokens_grant_idx ON oauth_tokens (account_id, grant_id);
SELECT deskwoot_fence('oauth_tokens');

-- Pre-tenant look-up: a token's hash -> its account. No RLS, no grant to the
-- app; filled by a SECURITY DEFINER trigger, read by deskwoot_oauth_owner.
CREATE TABLE oauth_token_lookup (
    signature  bytea NOT NULL,
    kind       text NOT NULL,
    account_id bigint NOT NULL,
    PRIMARY KEY (signature, kind)
);

CREATE FUNCTION deskwoot_oauth_lookup_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM public.oauth_token_lookup WHERE signature = OLD.signature AND kind = OLD.kind;
        RETURN NULL;
    END IF;
    -- RLS's WITH CHECK already tied NEW.account_id to the current tenant.
    INSERT INTO public.oauth_token_lookup (signature, kind, account_id) VALUES (NEW.signature, NEW.kind, NEW.account_id);
    RETURN NULL;
END $$;

CREATE TRIGGER oauth_tokens_lookup AFTER INSERT OR DELETE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION deskwoot_oauth_lookup_sync();

-- deskwoot_oauth_owner maps a token hash to its account: the one look-up
-- that precedes the tenant at the token endpoint and at /api/mcp.
CREATE FUNCTION deskwoot_oauth_owner(p_signature bytea, p_kind text)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT l.account_id FROM public.oauth_token_lookup l WHERE l.signature = p_signature AND l.kind = p_kind $$;

-- Dynamically registered clients (RFC 7591). A client registers before any
-- tenant is involved, so the table is global; the app reads and writes it
-- only through the two functions below.
CREATE TABLE oauth_clients (
    client_id     text PRIMARY KEY,
    client_name   text NOT NULL CHECK (length(client_name) BETWEEN 1 AND 200),
    redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
    auth_method   text NOT NULL CHECK (auth_method IN ('none','client_secret_post','client_secret_basic')),
    secret_hash   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION deskwoot_oauth_client_register(p_id text, p_name text, p_uris text[], p_method text, p_secret_hash text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ INSERT INTO public.oauth_clients (client_id, client_name, redirect_uris, auth_method, secret_hash)
      VALUES (p_id, p_name, p_uris, p_method, p_secret_hash) $$;

CREATE FUNCTION deskwoot_oauth_client(p_id text)
RETURNS TABLE (client_name text, redirect_uris text[], auth_method text, secret_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT c.client_name, c.redirect_uris, c.auth_method, c.secret_hash FROM public.oauth_clients c WHERE c.client_id = p_id $$;

-- The audit names the OAuth client of a grant's calls. The chain hashes the
-- column only when it is set, so chains sealed before it verify unchanged.
ALTER TABLE audit_log ADD COLUMN client_id text NOT NULL DEFAULT '';
