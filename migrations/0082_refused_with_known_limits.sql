-- Anomaly suspend (issue 24): the refusal no longer looks its token and
-- account up. The server passes what its request already read and
-- verified: the guard checked the token (not revoked, not expired) at the
-- start of this same request, a paused token's calls are all refused for
-- the pause, which does not count (mcp.countsAsRefusal), and the account's
-- limits come with the principal (policy.Account). A token paused or
-- revoked between that check and this count adds one refusal to a row
-- its suspension ignores (MCPTokenSuspendTx pauses only a live token) and
-- its resume forgets. 0081's deskwoot_mcp_refused(p_token, p_inbox) stays
-- for callers that know only the token.

-- deskwoot_mcp_refused counts a refusal of p_token of p_account, whose
-- limits are p_max_denials and p_max_probes (p_inbox: an inbox outside its
-- list that the call named, or NULL), and returns why the token must now
-- be suspended, or NULL: 0081's contract, but for the lookup. Both limits
-- 0 count nothing. Runs as the app role, under the tenant's RLS (a row of
-- another account is refused by it).
CREATE OR REPLACE FUNCTION deskwoot_mcp_refused(p_account bigint, p_token bigint, p_inbox bigint, p_max_denials int, p_max_probes int)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    reason text;
    since timestamptz := now() - interval '5 minutes';
BEGIN
    IF p_max_denials <= 0 AND p_max_probes <= 0 THEN
        RETURN NULL;
    END IF;
    IF p_inbox IS NULL THEN
        WITH counted AS (
            INSERT INTO mcp_token_refusals AS r (account_id, token_id, refused_at, probed_inboxes, probed_at)
            VALUES (p_account, p_token, ARRAY[now()], '{}', '{}')
            ON CONFLICT (account_id, token_id) DO UPDATE SET
                -- The latest refusals, as many as the limit needs, and this one.
                refused_at = r.refused_at[cardinality(r.refused_at) - p_max_denials + 2 :] || excluded.refused_at
            RETURNING refused_at
        )
        SELECT CASE WHEN p_max_denials > 0 AND cardinality(refused_at) >= p_max_denials AND refused_at[1] >= since
                THEN format('suspended: refused %s times in 5 minutes', p_max_denials)
            END
        INTO reason
        FROM counted;
    ELSE
        WITH counted AS (
            INSERT INTO mcp_token_refusals AS r (account_id, token_id, refused_at, probed_inboxes, probed_at)
            VALUES (p_account, p_token, ARRAY[now()],
                CASE WHEN p_max_probes > 0 THEN ARRAY[p_inbox] ELSE '{}' END,
                CASE WHEN p_max_probes > 0 THEN ARRAY[now()] ELSE '{}' END)
            ON CONFLICT (account_id, token_id) DO UPDATE SET
                refused_at = r.refused_at[cardinality(r.refused_at) - p_max_denials + 2 :] || excluded.refused_at,
                -- The inboxes still in the window, but this one, which is
                -- named again now.
                (probed_inboxes, probed_at) = (
                    SELECT coalesce(array_agg(inbox), '{}') || excluded.probed_inboxes, coalesce(array_agg(at), '{}') || excluded.probed_at
                    FROM unnest(r.probed_inboxes, r.probed_at) p (inbox, at)
                    WHERE at >= since AND inbox <> p_inbox)
            RETURNING refused_at, cardinality(probed_inboxes) AS probes
        )
        SELECT CASE
                WHEN p_max_denials > 0 AND cardinality(refused_at) >= p_max_denials AND refused_at[1] >= since
                    THEN format('suspended: refused %s times in 5 minutes', p_max_denials)
                WHEN p_max_probes > 0 AND probes >= p_max_probes
                    THEN format('suspended: refused on %s inboxes outside its list in 5 minutes', least(probes, p_max_probes))
            END
        INTO reason
        FROM counted;
    END IF;
    RETURN reason;
END
$$;
