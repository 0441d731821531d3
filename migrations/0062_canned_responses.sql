-- Canned responses (issue 20, DESIGN §18): workspace-wide snippets a person
-- inserts in the composer by typing / and the short code. Any person of
-- the workspace reads them; admins write them (the doors check the role).
CREATE TABLE canned_responses (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    short_code text NOT NULL CHECK (short_code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$'),
    content    text NOT NULL CHECK (length(content) BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
-- Unique per workspace regardless of case: /Refund and /refund would offer
-- the same match in the composer.
CREATE UNIQUE INDEX canned_responses_short_code_key ON canned_responses (account_id, lower(short_code));
SELECT deskwoot_fence('canned_responses');
