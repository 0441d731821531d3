-- The guard of a cached MCP principal (issue 12). A replica keeps a token's
-- principal (scopes, inboxes, account state) in memory after its first
-- request, and re-checks it inside the first tenant transaction of every
-- later request instead of in a round trip of its own:
-- deskwoot_mcp_guard runs first in that transaction and raises unless the
-- token is still unrevoked, unexpired, and its row and its account's row
-- still have the stamp the replica cached. When it raises nothing in the
-- transaction commits and the replica authenticates the request afresh, so
-- a revocation committed before the request's transaction began is always
-- seen, on every replica, with no notification to wait for.

-- deskwoot_mcp_stamp digests every column a principal is built from.
CREATE FUNCTION deskwoot_mcp_stamp(t mcp_tokens, a accounts) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(row(t.account_id, t.id, t.name, t.scopes, t.inbox_ids, t.require_approval, t.rate_limit_per_minute,
        t.expires_at, t.revoked_at, t.client_id, a.service_user_id, a.plan, a.subscription_status,
        a.trial_ends_at, a.grace_ends_at, a.mcp_enabled, a.tenant_rules_version)::text)
$$;

-- deskwoot_mcp_guard raises DW401 unless the token is good at p_now and
-- its stamp is p_stamp. It runs as the app role, under the tenant's RLS.
CREATE FUNCTION deskwoot_mcp_guard(p_token bigint, p_stamp text, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    current_stamp text;
BEGIN
    SELECT deskwoot_mcp_stamp(t, a) INTO current_stamp
    FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE t.id = p_token AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR p_now < t.expires_at);
    IF current_stamp IS DISTINCT FROM p_stamp THEN
        RAISE EXCEPTION 'the MCP token or its account changed' USING ERRCODE = 'DW401';
    END IF;
END
$$;

-- deskwoot_rate_exceeded raises DW429 with the seconds to wait as its
-- message: a guarded transaction that would exceed the token's rate limit
-- spends nothing and does nothing. When the token is gone from the rate
-- statement's own snapshot (revoked since the guard's statement ran, in
-- READ COMMITTED) it raises DW401 like the guard.
CREATE FUNCTION deskwoot_rate_exceeded(token_found boolean, retry_seconds float8) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT token_found THEN
        RAISE EXCEPTION 'the MCP token changed' USING ERRCODE = 'DW401';
    END IF;
    RAISE EXCEPTION '%', retry_seconds USING ERRCODE = 'DW429';
END
$$;
