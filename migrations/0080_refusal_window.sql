-- Anomaly suspend, counted in one statement (issue 24, DESIGN §22).
-- 0065 kept a row per refusal and counted them in five statements: every
-- refusal inserted a row (two indexes, two foreign-key checks that lock
-- the account's and the token's rows), pruned, and scanned twice; and the
-- rows, living five minutes, left the small table full of dead ones that
-- each scan read again. Here a token's refusals of the last five minutes
-- are one row, updated in place by one statement: no new index entry, no
-- foreign-key check after the first refusal, nothing left to scan.
-- The counts of the last five minutes are lost once, at this migration.
DROP FUNCTION deskwoot_mcp_refused(bigint, bigint);
DROP TABLE mcp_token_refusals;

CREATE TABLE mcp_token_refusals (
    account_id     bigint NOT NULL REFERENCES accounts (id),
    token_id       bigint NOT NULL,
    -- refused_at: when the token was refused in the window, oldest first;
    -- no more of them than the account's suspend_after_denials.
    refused_at     timestamptz[] NOT NULL DEFAULT '{}',
    -- probed_inboxes: the inboxes outside its list that it named in the
    -- window, each once, with (probed_at, same position) when it last did.
    probed_inboxes bigint[] NOT NULL DEFAULT '{}',
    probed_at      timestamptz[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, token_id),
    FOREIGN KEY (account_id, token_id) REFERENCES mcp_tokens (account_id, id)
);
SELECT deskwoot_fence('mcp_token_refusals');

-- deskwoot_mcp_refused counts a refusal of p_token (p_inbox: an inbox
-- outside its list that the call named, or NULL) and returns why the token
-- must now be suspended, or NULL. Its contract is 0065's: it only counts
-- (the suspension, with its audit row and notifications, is the server's
-- next unit of work, and until that commits the count stays over the
-- limit, so the next refusal asks again); a paused or revoked token, or an
-- account with both limits 0, counts nothing; each count stops at its
-- limit. The upsert takes the token's row lock, so refusals served at once
-- by several replicas each count the others'. Runs as the app role, under
-- the tenant's RLS.
CREATE FUNCTION deskwoot_mcp_refused(p_token bigint, p_inbox bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    reason text;
BEGIN
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
            CASE WHEN p_inbox IS NOT NULL AND max_probes > 0 THEN ARRAY[p_inbox] ELSE '{}' END,
            CASE WHEN p_inbox IS NOT NULL AND max_probes > 0 THEN ARRAY[now()] ELSE '{}' END
        FROM token
        ON CONFLICT (account_id, token_id) DO UPDATE SET
            -- The latest refusals (no more than the limit needs) that are
            -- still in the window, and this one.
            refused_at = ARRAY(
                SELECT at FROM unnest(r.refused_at[cardinality(r.refused_at) - (SELECT max_denials FROM token) + 2 :]) at
                WHERE at >= (SELECT since FROM token)) || excluded.refused_at,
            -- The inboxes still in the window, but this one, which is
            -- named again now.
            (probed_inboxes, probed_at) = (
                SELECT coalesce(array_agg(inbox), '{}') || excluded.probed_inboxes, coalesce(array_agg(at), '{}') || excluded.probed_at
                FROM unnest(r.probed_inboxes, r.probed_at) p (inbox, at)
                WHERE at >= (SELECT since FROM token) AND inbox IS DISTINCT FROM p_inbox)
        RETURNING cardinality(refused_at) AS denials, cardinality(probed_inboxes) AS probes
    )
    SELECT CASE
            WHEN max_denials > 0 AND denials >= max_denials THEN format('suspended: refused %s times in 5 minutes', denials)
            WHEN max_probes > 0 AND probes >= max_probes THEN format('suspended: refused on %s inboxes outside its list in 5 minutes', least(probes, max_probes))
        END
    INTO reason
    FROM token, counted;
    RETURN reason;
END
$$;
