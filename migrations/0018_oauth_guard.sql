-- The guard of a cached principal (0015) for OAuth access tokens too: with
-- p_access (the access token's signature) it also requires that access
-- token to be active, unexpired at p_now, and of this grant. An OAuth
-- token's resource binding never changes, so the full authentication
-- checks it once.
DROP FUNCTION deskwoot_mcp_guard(bigint, text, timestamptz);

CREATE FUNCTION deskwoot_mcp_guard(p_token bigint, p_stamp text, p_now timestamptz, p_access bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    current_stamp text;
BEGIN
    SELECT deskwoot_mcp_stamp(t, a) INTO current_stamp
    FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE t.id = p_token AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR p_now < t.expires_at);
    IF current_stamp IS DISTINCT FROM p_stamp OR (p_access IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM oauth_tokens o
        WHERE o.kind = 'access' AND o.signature = p_access AND o.grant_id = p_token AND o.active AND p_now < o.expires_at)) THEN
        RAISE EXCEPTION 'the MCP token or its account changed' USING ERRCODE = 'DW401';
    END IF;
END
$$;
