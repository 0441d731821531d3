-- The triage list (issue 20, DESIGN §18).
--
-- waiting_since is when the customer started waiting for an answer: the
-- time of the first customer message after the last reply the customer
-- saw, NULL when the last such message is ours. Private notes and activity
-- lines change nothing. It is kept by the statements that already touch
-- the conversation when a message is written (desk/messages.go, email.go),
-- so sorting by "longest waiting" reads one column instead of every
-- conversation's messages.
ALTER TABLE conversations ADD COLUMN waiting_since timestamptz;

UPDATE conversations c SET waiting_since = w.since
FROM (
    SELECT m.account_id, m.conversation_id, min(m.created_at) AS since
    FROM messages m
    WHERE m.type = 'incoming' AND NOT m.private
      AND m.id > coalesce((SELECT max(o.id) FROM messages o
                           WHERE o.account_id = m.account_id AND o.conversation_id = m.conversation_id
                             AND o.type = 'outgoing' AND NOT o.private), 0)
    GROUP BY m.account_id, m.conversation_id
) w
WHERE c.account_id = w.account_id AND c.id = w.conversation_id;

-- The default view is the open conversations, newest activity first; in a
-- workspace whose conversations are mostly resolved, the plain activity
-- index would be read past thousands of resolved rows to fill a page.
CREATE INDEX conversations_open_activity_idx ON conversations (account_id, last_activity_at DESC, id DESC) WHERE status = 'open';

-- The view counts (Mine, Unassigned, All open, Escalated, per inbox) read
-- only this index: the open and escalated conversations, with what the
-- counts ask of them.
CREATE INDEX conversations_triage_idx ON conversations (account_id, inbox_id) INCLUDE (status, assignee_id, escalated)
    WHERE status = 'open' OR escalated;
