-- Anomaly suspend (issue 24): the refusal that names no inbox, nearly
-- every one, counts without going through the window's inboxes. 0080's
-- statement filtered both arrays on every refusal (two subqueries over
-- unnest); here such a refusal only appends its time to refused_at, which
-- keeps the latest suspend_after_denials times: the limit is reached when
-- there are that many and the oldest of them is less than five minutes
-- old. A probe (p_inbox set) still renews its inbox among those of the
-- window, as before.

-- deskwoot_mcp_refused counts a refusal of p_token (p_inbox: an inbox
-- outside its list that the call named, or NULL) and returns why the token
-- must now be suspended, or NULL. Its contract is 0065's: it only counts
-- (the suspension, with its audit row and notifications, is the server's
-- next unit of work, and until that commits the count stays over the
-- limit, so the next refusal of the same kind asks again); a paused or
-- revoked token, or an account with both limits 0, counts nothing; each
-- count stops at its limit. Each call runs one statement: the common
-- refusal, which named no inbox, only adds a time to refused_at; a probe
-- also renews its inbox among those of the window. The upsert takes the
-- token's row lock, so refusals served at once by several replicas each
-- count the others'. Runs as the app role, under the tenant's RLS.
CREATE OR REPLACE FUNCTION deskwoot_mcp_refused(p_token bigint, p_inbox bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    reason text;
BEGIN
    IF p_inbox IS NULL THEN
        WITH token AS (
            SELECT t.account_id, t.id, a.mcp_suspend_after_denials AS max_denials
            FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
            WHERE t.id = p_token AND t.paused_at IS NULL AND t.revoked_at IS NULL
                AND (a.mcp_suspend_after_denials > 0 OR a.mcp_suspend_after_inbox_probes > 0)
        ), counted AS (
            INSERT INTO mcp_token_refusals AS r (account_id, token_id, refused_at, probed_inboxes, probed_at)
            SELECT account_id, id, ARRAY[now()], '{}', '{}' FROM token
            ON CONFLICT (account_id, token_id) DO UPDATE SET
                -- The latest refusals, as many as the limit needs, and this one.
                refused_at = r.refused_at[cardinality(r.refused_at) - (SELECT max_denials FROM token) + 2 :] || excluded.refused_at
            RETURNING refused_at
        )
        SELECT CASE WHEN max_denials > 0 AND cardinality(refused_at) >= max_denials AND refused_at[1] >= now() - interval '5 minutes'
                THEN format('suspended: refused %s times in 5 minutes', max_denials)
            END
        INTO reason
        FROM token, counted;
    ELSE
        WITH token AS (
            SELECT t.account_id, t.id,
                a.mcp_suspend_after_denials AS max_denials, a.mcp_suspend_after_inbox_probes AS max_probes,
                now() - interval '5 minutes' AS since
            FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
            WHERE t.id = p_token AND t.paused_at IS NULL AND t.revoked_at IS NULL
                AND (a.mcp_suspend_after_denials > 0 OR a.mcp_suspend_after_inbox_probes > 0)
        ), counted AS (
            INSERT INTO mcp_token_refusals AS r (account_id, token_id, refused_at, probed_inboxes, probed_at)
            SELECT account_id, id, ARRAY[now()],
                CASE WHEN max_probes > 0 THEN ARRAY[p_inbox] ELSE '{}' END,
                CASE WHEN max_probes > 0 THEN ARRAY[now()] ELSE '{}' END
            FROM token
            ON CONFLICT (account_id, token_id) DO UPDATE SET
                refused_at = r.refused_at[cardinality(r.refused_at) - (SELECT max_denials FROM token) + 2 :] || excluded.refused_at,
                -- The inboxes still in the window, but this one, which is
                -- named again now.
                (probed_inboxes, probed_at) = (
                    SELECT coalesce(array_agg(inbox), '{}') || excluded.probed_inboxes, coalesce(array_agg(at), '{}') || excluded.probed_at
                    FROM unnest(r.probed_inboxes, r.probed_at) p (inbox, at)
                    WHERE at >= (SELECT since FROM token) AND inbox <> p_inbox)
            RETURNING refused_at, cardinality(probed_inboxes) AS probes
        )
        SELECT CASE
                WHEN max_denials > 0 AND cardinality(refused_at) >= max_denials AND refused_at[1] >= since
                    THEN format('suspended: refused %s times in 5 minutes', max_denials)
                WHEN max_probes > 0 AND probes >= max_probes
                    THEN format('suspended: refused on %s inboxes outside its list in 5 minutes', least(probes, max_probes))
            END
        INTO reason
        FROM token, counted;
    END IF;
    RETURN reason;
END
$$;
