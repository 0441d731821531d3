-- Core schema: accounts, people, inboxes, contacts, conversations, messages.
--
-- The fence (DESIGN §3): every tenant-owned table carries account_id, leads its
-- primary key with it, carries it in every foreign key and unique index, and has
-- ENABLE + FORCE ROW LEVEL SECURITY with the policy below. The tenant comes
-- from the transaction-local setting deskwoot.account_id; nullif() makes an
-- unset or empty setting match no row instead of erroring on some connections.

CREATE FUNCTION deskwoot_tenant() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('deskwoot.account_id', true), '')::bigint $$;

-- accounts: the tenant itself; fenced on its own id.
CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan            text NOT NULL DEFAULT 'enterprise' CHECK (plan IN ('starter','business','enterprise')),
    subscription_status text NOT NULL DEFAULT 'trialing'
                    CHECK (subscription_status IN ('trialing','active','past_due','canceled','expired')),
    trial_ends_at   timestamptz,
    grace_ends_at   timestamptz,
    mcp_enabled     boolean NOT NULL DEFAULT false,
    service_user_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON accounts USING (id = deskwoot_tenant()) WITH CHECK (id = deskwoot_tenant());

-- users: global login identities (emails unique across accounts). Visible to
-- a tenant only through its memberships; see account_users.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('human','service')),
    email         text,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'service' OR email IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE account_users (
    account_id bigint NOT NULL REFERENCES accounts (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    role       text NOT NULL CHECK (role IN ('admin','agent')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id)
);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
-- A tenant reads the users who are its members (account_users is itself fenced).
CREATE POLICY members_read ON users FOR SELECT
    USING (EXISTS (SELECT 1 FROM account_users au WHERE au.user_id = users.id));
-- New identities are created at signup and when an admin invites an agent; the
-- row becomes readable only once a membership links it to the tenant.
CREATE POLICY create_identity ON users FOR INSERT WITH CHECK (deskwoot_tenant() IS NOT NULL);
CREATE POLICY members_update ON users FOR UPDATE
    USING (EXISTS (SELECT 1 FROM account_users au WHERE au.user_id = users.id)) WITH CHECK (true);

CREATE TABLE user_api_tokens (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    id           bigserial NOT NULL,
    user_id      bigint NOT NULL,
    name         text NOT NULL DEFAULT 'api',
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);

CREATE TABLE inboxes (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel    text NOT NULL CHECK (channel IN ('api','email')),
    settings   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);

CREATE TABLE inbox_members (
    account_id bigint NOT NULL,
    inbox_id   bigint NOT NULL,
    user_id    bigint NOT NULL,
    PRIMARY KEY (account_id, inbox_id, user_id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);

CREATE TABLE teams (
    account_id  bigint NOT NULL REFERENCES accounts (id),
    id          bigserial NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX teams_name_key ON teams (account_id, lower(name));

CREATE TABLE team_members (
    account_id bigint NOT NULL,
    team_id    bigint NOT NULL,
    user_id    bigint NOT NULL,
    PRIMARY KEY (account_id, team_id, user_id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);

CREATE TABLE contacts (
    account_id        bigint NOT NULL REFERENCES accounts (id),
    id                bigserial NOT NULL,
    name              text NOT NULL DEFAULT '',
    email             text,
    phone             text,
    identifier        text,
    custom_attributes jsonb NOT NULL DEFAULT '{}',
    created_by_token_id bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    search            tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', coalesce(name,'') || ' ' || coalesce(email,'') || ' ' ||
                              coalesce(phone,'') || ' ' || coalesce(identifier,''))) STORED,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (account_id, lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_identifier_key ON contacts (account_id, identifier) WHERE identifier IS NOT NULL;
CREATE INDEX contacts_search_idx ON contacts USING gin (search);

CREATE TABLE contact_inboxes (
    account_id bigint NOT NULL,
    contact_id bigint NOT NULL,
    inbox_id   bigint NOT NULL,
    source_id  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, contact_id, inbox_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id)
);
CREATE INDEX contact_inboxes_inbox_idx ON contact_inboxes (account_id, inbox_id);

CREATE TABLE contact_notes (
    account_id bigint NOT NULL,
    id         bigserial NOT NULL,
    contact_id bigint NOT NULL,
    content    text NOT NULL,
    author_id  bigint,
    token_id   bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id)
);
CREATE INDEX contact_notes_contact_idx ON contact_notes (account_id, contact_id, id);

CREATE TABLE labels (
    account_id  bigint NOT NULL REFERENCES accounts (id),
    id          bigserial NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    description text NOT NULL DEFAULT '',
    color       text NOT NULL DEFAULT '#1f93ff',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name)
);

CREATE TABLE conversations (
    account_id        bigint NOT NULL,
    id                bigserial NOT NULL,
    inbox_id          bigint NOT NULL,
    contact_id        bigint NOT NULL,
    subject           text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open','pending','resolved','snoozed')),
    priority          text NOT NULL DEFAULT 'none' CHECK (priority IN ('none','low','medium','high','urgent')),
    assignee_id       bigint,
    team_id           bigint,
    labels            text[] NOT NULL DEFAULT '{}',
    custom_attributes jsonb NOT NULL DEFAULT '{}',
    snoozed_until     timestamptz,
    last_activity_at  timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id),
    FOREIGN KEY (account_id, assignee_id) REFERENCES account_users (account_id, user_id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id)
);
CREATE INDEX conversations_activity_idx ON conversations (account_id, last_activity_at DESC, id DESC);
CREATE INDEX conversations_inbox_idx ON conversations (account_id, inbox_id, last_activity_at DESC, id DESC);
CREATE INDEX conversations_contact_idx ON conversations (account_id, contact_id);
CREATE INDEX conversations_labels_idx ON conversations USING gin (labels);

CREATE TABLE messages (
    account_id      bigint NOT NULL,
    id              bigserial NOT NULL,
    conversation_id bigint NOT NULL,
    inbox_id        bigint NOT NULL,
    type            text NOT NULL CHECK (type IN ('incoming','outgoing','note','activity')),
    content         text NOT NULL CHECK (length(content) <= 100000),
    private         boolean NOT NULL DEFAULT false,
    sender_kind     text NOT NULL CHECK (sender_kind IN ('contact','user','agent','system')),
    sender_id       bigint,
    sender_name     text NOT NULL DEFAULT '',
    token_id        bigint,
    source_id       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
);
CREATE INDEX messages_conversation_idx ON messages (account_id, conversation_id, id);
CREATE INDEX messages_search_idx ON messages USING gin (search);
-- One incoming message per source id and inbox: a repeated delivery is the same message.
CREATE UNIQUE INDEX messages_source_key ON messages (account_id, inbox_id, source_id) WHERE source_id IS NOT NULL;

-- Pre-tenant lookup tables: no RLS and no grant to deskwoot_app. Only the
-- SECURITY DEFINER functions below read them, and return only what the caller
-- needs.
CREATE TABLE token_lookup (
    token_hash bytea PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('user','mcp')),
    account_id bigint NOT NULL,
    token_id   bigint NOT NULL
);

-- MCP tokens: only a SHA-256 of the raw token is kept, in token_lookup.
CREATE TABLE mcp_tokens (
    account_id            bigint NOT NULL REFERENCES accounts (id),
    id                    bigserial NOT NULL,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix                text NOT NULL,
    scopes                text[] NOT NULL,
    inbox_ids             bigint[],              -- NULL = every inbox
    require_approval      boolean NOT NULL DEFAULT false,
    rate_limit_per_minute integer NOT NULL DEFAULT 600 CHECK (rate_limit_per_minute BETWEEN 1 AND 60000),
    expires_at            timestamptz,
    created_by            bigint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_used_at          timestamptz,
    revoked_at            timestamptz,
    PRIMARY KEY (account_id, id)
);

-- Help center articles an agent answers routine questions from.
CREATE TABLE articles (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body       text NOT NULL CHECK (length(body) <= 200000),
    status     text NOT NULL DEFAULT 'published' CHECK (status IN ('published','draft')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    search     tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')) STORED,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX articles_search_idx ON articles USING gin (search);

-- The audit log: insert-only for the app role (no UPDATE/DELETE grant). Each
-- row records the inserting transaction (xid) so that the chain sealer can
-- take rows in commit-safe order; see audit_chain.
CREATE TABLE audit_log (
    account_id  bigint NOT NULL REFERENCES accounts (id),
    id          bigserial NOT NULL,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('user','agent','system','operator')),
    actor_id    bigint,
    token_id    bigint,
    action      text NOT NULL,                 -- tool name, or a REST/operator action
    decision    text NOT NULL CHECK (decision IN ('allow','deny','error')),
    reasons     text[] NOT NULL DEFAULT '{}',
    target      jsonb NOT NULL DEFAULT '{}',
    args_digest text NOT NULL DEFAULT '',
    policy_rev  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, id)
);
CREATE INDEX audit_log_at_idx ON audit_log (account_id, id DESC);
CREATE INDEX audit_log_xid_idx ON audit_log (account_id, xid, id);

-- The hash chain over audit_log, per account, in its own insert-only table.
-- seq is gap-free per account; hash = sha256(prev_hash || canonical row).
CREATE TABLE audit_chain (
    account_id bigint NOT NULL REFERENCES accounts (id),
    seq        bigint NOT NULL,
    audit_id   bigint NOT NULL,
    hash       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, seq),
    UNIQUE (account_id, audit_id),
    FOREIGN KEY (account_id, audit_id) REFERENCES audit_log (account_id, id)
);

-- deskwoot_fence puts a table behind the tenant policy: RLS enabled and
-- forced (binding the table owner too), USING and WITH CHECK on the tenant.
CREATE FUNCTION deskwoot_fence(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %s USING (account_id = deskwoot_tenant()) WITH CHECK (account_id = deskwoot_tenant())', t);
END $$;

SELECT deskwoot_fence('account_users');
SELECT deskwoot_fence('user_api_tokens');
SELECT deskwoot_fence('inboxes');
SELECT deskwoot_fence('inbox_members');
SELECT deskwoot_fence('teams');
SELECT deskwoot_fence('team_members');
SELECT deskwoot_fence('contacts');
SELECT deskwoot_fence('contact_inboxes');
SELECT deskwoot_fence('contact_notes');
SELECT deskwoot_fence('labels');
SELECT deskwoot_fence('conversations');
SELECT deskwoot_fence('messages');
SELECT deskwoot_fence('mcp_tokens');
SELECT deskwoot_fence('articles');
SELECT deskwoot_fence('audit_log');
SELECT deskwoot_fence('audit_chain');

-- deskwoot_token_owner maps a token hash to its account and token id: the one
-- look-up that precedes the tenant at authentication.
CREATE FUNCTION deskwoot_token_owner(p_hash bytea, p_kind text)
RETURNS TABLE (account_id bigint, token_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT l.account_id, l.token_id FROM public.token_lookup l
      WHERE l.token_hash = p_hash AND l.kind = p_kind $$;

-- deskwoot_token_register records the hash of a token just minted in the
-- current tenant. It refuses a token id the current tenant does not own, so
-- the app cannot point a hash at another account.
CREATE FUNCTION deskwoot_token_register(p_hash bytea, p_kind text, p_token_id bigint)
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
    ELSE
        RAISE EXCEPTION 'unknown token kind %', p_kind USING ERRCODE = '22023';
    END IF;
    IF NOT found_it THEN
        RAISE EXCEPTION 'token % is not in this account', p_token_id USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.token_lookup (token_hash, kind, account_id, token_id)
    VALUES (p_hash, p_kind, acct, p_token_id);
END $$;
