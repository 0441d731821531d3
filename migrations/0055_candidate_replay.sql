-- A candidate's replay (issue 18): a replay that does not finish within
-- its inline budget goes on in the background, and its progress and result
-- live with the candidate, so that any replica answers GET of it. replay is
-- tenantpolicy.Replay as JSON (status, done, total, flips); replay_at is
-- its last progress, a heartbeat while it runs.
ALTER TABLE tenant_rules ADD COLUMN replay jsonb;
ALTER TABLE tenant_rules ADD COLUMN replay_at timestamptz;
