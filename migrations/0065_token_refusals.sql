-- Anomaly suspend (issue 24, DESIGN §22): a token refused again and again
-- (a prompt-injected agent probing other inboxes) is paused until an admin
-- resumes it. The refusals of the last five minutes are counted here, in
-- the database, so that refusals served by different replicas add up.
-- Only refused calls write here; an allowed call never touches the table.
CREATE TABLE mcp_token_refusals (
    account_id bigint NOT NULL REFERENCES accounts (id),
    id         bigserial NOT NULL,
    token_id   bigint NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    -- inbox_id is set when the call named an inbox outside the token's
    -- list (it was answered "not found").
    inbox_id   bigint,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, token_id) REFERENCES mcp_tokens (account_id, id)
);
CREATE INDEX mcp_token_refusals_token_idx ON mcp_token_refusals (account_id, token_id, at);
SELECT deskwoot_fence('mcp_token_refusals');

-- deskwoot_mcp_refused counts a refusal of p_token (p_inbox: an inbox
-- outside its list that the call named, or NULL) and returns why the token
-- must now be suspended, or NULL. It only counts: the suspension itself
-- (pause, audit row, notifications) is one unit of work of its own, run by
-- the server when this returns a reason; until that commits the count
-- stays over the limit, so the next refusal asks again. Nothing is locked:
-- refusals that race (on any replica) may each miss the other's row for
-- one count, so the limit trips at most a refusal or two late, and when
-- two both trip it, the suspension's own UPDATE lets one through. A paused
-- or revoked token counts nothing. Runs as the app role, under the
-- tenant's RLS.
CREATE FUNCTION deskwoot_mcp_refused(p_token bigint, p_inbox bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    max_denials int;
    max_probes  int;
    denials     int;
    probes      int;
BEGIN
    SELECT a.mcp_suspend_after_denials, a.mcp_suspend_after_inbox_probes INTO max_denials, max_probes
    FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE t.id = p_token AND t.paused_at IS NULL AND t.revoked_at IS NULL;
    IF NOT FOUND OR (max_denials = 0 AND max_probes = 0) THEN
        RETURN NULL;
    END IF;
    DELETE FROM mcp_token_refusals WHERE token_id = p_token AND at < now() - interval '5 minutes';
    INSERT INTO mcp_token_refusals (account_id, token_id, inbox_id)
    SELECT account_id, id, p_inbox FROM mcp_tokens WHERE id = p_token;
    -- Each count stops at its limit: an admin's high limit costs no more
    -- than the rows it needs.
    SELECT count(*) INTO denials FROM (
        SELECT 1 FROM mcp_token_refusals WHERE token_id = p_token LIMIT greatest(max_denials, 1)) r;
    SELECT count(*) INTO probes FROM (
        SELECT DISTINCT inbox_id FROM mcp_token_refusals WHERE token_id = p_token AND inbox_id IS NOT NULL LIMIT greatest(max_probes, 1)) r;
    IF max_denials > 0 AND denials >= max_denials THEN
        RETURN format('suspended: refused %s times in 5 minutes', denials);
    ELSIF max_probes > 0 AND probes >= max_probes THEN
        RETURN format('suspended: refused on %s inboxes outside its list in 5 minutes', probes);
    END IF;
    RETURN NULL;
END
$$;

-- A suspended token's admins hear of it in the app (and by mail).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('assigned','escalated','draft_waiting','mentioned','token_paused'));
