-- Mail to people (issue 21): invitations, password resets, notifications.
-- A row is written in the transaction that causes the mail, with its River
-- job (package mailout); the worker sends it through the operator's relay
-- and records the outcome. The body may carry a single-use link, so it is
-- wiped once the mail is sent or given up on: the raw token lives in the
-- database only while its mail waits. message_token is drawn at enqueue, so
-- a retry after a crash repeats the same Message-ID.
CREATE TABLE people_mail (
    account_id    bigint NOT NULL REFERENCES accounts (id),
    id            bigserial NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('invitation','password_reset','notification')),
    to_address    text NOT NULL CHECK (length(to_address) BETWEEN 3 AND 254),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    body          text CHECK (length(body) <= 20000),
    message_token text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed')),
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    PRIMARY KEY (account_id, id)
);
SELECT deskwoot_fence('people_mail');
