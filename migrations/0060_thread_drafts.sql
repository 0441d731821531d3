-- A conversation's thread shows its drafts (pending ones to decide, decided
-- ones as a line each: issue 20), so they are read by conversation.
CREATE INDEX drafts_conversation_idx ON drafts (account_id, conversation_id, id);
