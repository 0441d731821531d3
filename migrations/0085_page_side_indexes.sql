-- What the console pages read beside their data on every page (issue 20):
-- the bell, the Drafts count and the view counts, each from a partial
-- index alone (index-only scans), so that its cost grows with what it
-- counts and never with the rows it does not.

-- The bell counts a person's unread notifications; the read ones, which
-- grow without end, are not in the index.
CREATE INDEX notifications_unread_idx ON notifications (account_id, user_id) WHERE in_app AND read_at IS NULL;

-- The navigation's Drafts count: the pending drafts, by inbox (an agent's
-- scope), without the decided ones.
CREATE INDEX drafts_pending_idx ON drafts (account_id, inbox_id) WHERE status = 'pending';

-- The view counts: Mine, Unassigned and All open count the open
-- conversations by inbox and assignee, Escalated the escalated ones not
-- resolved. With each view's predicate its index's, no row's status is
-- compared (0063's one index of both had every row's status tested, four
-- times: about half the counts' time in a workspace of thousands).
CREATE INDEX conversations_open_assignee_idx ON conversations (account_id, inbox_id, assignee_id) WHERE status = 'open';
CREATE INDEX conversations_escalated_idx ON conversations (account_id, inbox_id) WHERE escalated AND status <> 'resolved';
DROP INDEX conversations_triage_idx;
