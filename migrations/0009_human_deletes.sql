-- Deleting conversations and contacts (what humans alone may do, DESIGN
-- §13) is a change the events feed reports like any other, so a poller that
-- follows a conversation or contact learns it is gone. (The DELETE grants
-- are in grants.sql with the others.)
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'conversation.created','conversation.updated','conversation.deleted','message.created',
    'draft.created','draft.approved','draft.rejected','contact.created','contact.updated','contact.deleted'));
