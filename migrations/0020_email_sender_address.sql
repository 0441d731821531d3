-- Email threading trusts the sender, not only the references (issue 18,
-- item 6). A stranger's mail whose In-Reply-To or References named one of a
-- conversation's Message-IDs was filed into that conversation. Now a reply
-- continues a conversation only when it comes from the conversation's
-- contact: the contact whose email the From address is, or, when no
-- contact holds that address any more (an agent changed the contact's
-- email), an address the conversation's contact has written from in that
-- conversation. Incoming mail records the address it came from, so that
-- the second case has data (desk/email.go). Earlier mail has none: it was
-- filed by the contact's email of its day, which this cannot recover.
ALTER TABLE messages ADD COLUMN sender_address text;
COMMENT ON COLUMN messages.sender_address IS
    'the From address of an incoming email (normalised by desk.IncomingEmail); NULL for every other message';
