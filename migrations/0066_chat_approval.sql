-- Approval in the chat (issue 24, DESIGN §22, MCP Apps): an OAuth grant
-- whose consenting person ticked "Allow approving drafts in the chat" may
-- approve or reject its own drafts from the draft card the host renders.
-- chat_approval is part of the principal (and its stamp), and Rego input.
ALTER TABLE mcp_tokens ADD COLUMN chat_approval boolean NOT NULL DEFAULT false;

-- A draft offered to the card carries a single-use nonce: only its hash is
-- kept (chat_nonce), with the hash of the draft's text when it was issued
-- (chat_nonce_text), so that a nonce is good once, for this draft, its
-- token and this very text; deciding the draft clears it.
ALTER TABLE drafts
    ADD COLUMN chat_nonce bytea,
    ADD COLUMN chat_nonce_text bytea;

CREATE OR REPLACE FUNCTION deskwoot_mcp_stamp(t mcp_tokens, a accounts) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(row(t.account_id, t.id, t.name, t.scopes, t.inbox_ids, t.require_approval, t.rate_limit_per_minute,
        t.expires_at, t.revoked_at, t.client_id, a.service_user_id, a.plan, a.subscription_status,
        a.trial_ends_at, a.grace_ends_at, a.mcp_enabled, a.tenant_rules_version,
        t.paused_at, t.pause_reason, a.mcp_agents_paused, a.mcp_disabled_tools,
        a.mcp_suspend_after_denials, a.mcp_suspend_after_inbox_probes, t.chat_approval)::text)
$$;
