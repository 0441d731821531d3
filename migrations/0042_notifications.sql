-- Notifications (issue 21, DESIGN §18): what reaches a person in the app
-- (the bell) and by mail, each kind switchable per person
-- (account_users.notify). A notification names what happened and links
-- to the conversation; it holds at most 200 characters of customer text.
CREATE TABLE notifications (
    account_id      bigint NOT NULL REFERENCES accounts (id),
    id              bigserial NOT NULL,
    user_id         bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('assigned','escalated','draft_waiting','mentioned')),
    conversation_id bigint,
    inbox_id        bigint,
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 600),
    in_app          boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    -- draft_waiting mail is batched: emailed_at is set once a digest
    -- carried it (NULL while it waits, or when no mail is wanted).
    email_wanted    boolean NOT NULL DEFAULT false,
    emailed_at      timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);
CREATE INDEX notifications_user_idx ON notifications (account_id, user_id, id DESC);
SELECT deskwoot_fence('notifications');

-- One draft digest per person at a time: due_at is when the pending one
-- goes out (NULL when none waits), last_sent_at when the last one did, so
-- that a person gets at most one such mail per 10 minutes.
CREATE TABLE notification_digests (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    user_id      bigint NOT NULL,
    due_at       timestamptz,
    last_sent_at timestamptz,
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, user_id) REFERENCES account_users (account_id, user_id)
);
SELECT deskwoot_fence('notification_digests');

-- A conversation escalate_to_human flagged stays escalated until a person
-- assigns it or answers it.
ALTER TABLE conversations ADD COLUMN escalated boolean NOT NULL DEFAULT false;
