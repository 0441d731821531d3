-- Switches over the AI agents (issue 24, DESIGN §22): the workspace's
-- "Pause AI agents" (every write tool refused, reads go on), tools switched
-- off for every token, and a pause per token that, unlike revocation, can
-- be lifted. All of them are Rego input, read with the principal.
--
-- The anomaly limits live beside them: a token refused
-- mcp_suspend_after_denials times in five minutes, or on
-- mcp_suspend_after_inbox_probes distinct inboxes outside its list in five
-- minutes, is paused (0 turns either off).
ALTER TABLE accounts
    ADD COLUMN mcp_agents_paused boolean NOT NULL DEFAULT false,
    ADD COLUMN mcp_disabled_tools text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(mcp_disabled_tools) <= 100),
    ADD COLUMN mcp_suspend_after_denials int NOT NULL DEFAULT 20
        CHECK (mcp_suspend_after_denials BETWEEN 0 AND 10000),
    ADD COLUMN mcp_suspend_after_inbox_probes int NOT NULL DEFAULT 5
        CHECK (mcp_suspend_after_inbox_probes BETWEEN 0 AND 1000);

-- paused_at is set while the token is paused; pause_reason says by whom or
-- what ("paused by an admin", or the anomaly that tripped).
ALTER TABLE mcp_tokens
    ADD COLUMN paused_at timestamptz,
    ADD COLUMN pause_reason text CHECK (length(pause_reason) <= 300);

-- The stamp (0015) digests every column a principal is built from, so a
-- switch or a pause flipped on any replica makes every replica's kept
-- principal stale at its next call (the guard), with no cache to wait for.
CREATE OR REPLACE FUNCTION deskwoot_mcp_stamp(t mcp_tokens, a accounts) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(row(t.account_id, t.id, t.name, t.scopes, t.inbox_ids, t.require_approval, t.rate_limit_per_minute,
        t.expires_at, t.revoked_at, t.client_id, a.service_user_id, a.plan, a.subscription_status,
        a.trial_ends_at, a.grace_ends_at, a.mcp_enabled, a.tenant_rules_version,
        t.paused_at, t.pause_reason, a.mcp_agents_paused, a.mcp_disabled_tools,
        a.mcp_suspend_after_denials, a.mcp_suspend_after_inbox_probes)::text)
$$;
