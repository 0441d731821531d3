-- Per-token rate limits shared by every replica (issue 11). One row per
-- token holds its GCRA "theoretical arrival time": a call of cost c is
-- allowed when max(tat, now) + c * (60 s / limit) is at most a minute ahead
-- of now, and then moves tat there. Authentication updates it in the same
-- round trip that reads the token, so the count costs no extra trip.
--
-- UNLOGGED: the counters write no WAL and their commits wait for no flush;
-- a crash only forgets them (every token starts with a full minute again).
CREATE UNLOGGED TABLE mcp_token_rates (
    account_id bigint NOT NULL,
    token_id   bigint NOT NULL,
    tat        timestamptz NOT NULL,
    PRIMARY KEY (account_id, token_id),
    FOREIGN KEY (account_id, token_id) REFERENCES mcp_tokens (account_id, id) ON DELETE CASCADE
);

SELECT deskwoot_fence('mcp_token_rates');
