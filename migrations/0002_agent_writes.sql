-- Agent writes: delivery state on outgoing messages, drafts awaiting human
-- approval, and idempotency keys for writes that reach a customer or create
-- something.

-- Outgoing messages wait in 'pending' for the outbox to deliver them.
ALTER TABLE messages
    ADD COLUMN delivery_status text CHECK (delivery_status IN ('pending','sent','failed')),
    ADD COLUMN delivery_error  text,
    ADD COLUMN approved_by     bigint;

CREATE TABLE drafts (
    account_id      bigint NOT NULL,
    id              bigserial NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('reply','start')),
    conversation_id bigint,                 -- reply drafts; start drafts get one on approval
    inbox_id        bigint NOT NULL,
    contact_id      bigint,                 -- start drafts
    subject         text NOT NULL DEFAULT '',
    content         text NOT NULL CHECK (length(content) BETWEEN 1 AND 100000),
    rationale       text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','rejected')),
    token_id        bigint NOT NULL,
    created_by      bigint,                 -- the agent service account
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    decided_by      bigint,
    decision_reason text NOT NULL DEFAULT '',
    message_id      bigint,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id),
    CHECK (kind = 'start' OR conversation_id IS NOT NULL),
    CHECK (kind = 'reply' OR contact_id IS NOT NULL)
);
CREATE INDEX drafts_status_idx ON drafts (account_id, status, id DESC);
CREATE INDEX drafts_token_idx ON drafts (account_id, token_id, id DESC);

-- One row per (token, key): the unique key decides which of several
-- concurrent calls performs the effect; the others wait for it and read its
-- result.
CREATE TABLE idempotency_keys (
    account_id  bigint NOT NULL,
    token_id    bigint NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    tool        text NOT NULL,
    fingerprint text NOT NULL,
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, token_id, key)
);

SELECT deskwoot_fence('drafts');
SELECT deskwoot_fence('idempotency_keys');
