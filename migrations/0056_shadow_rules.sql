-- Shadow rules (issue 24, DESIGN §22): a candidate is decided beside the
-- rules in force on every live call of its account for a number of days,
-- after each call was answered, changing nothing; each call it would have
-- decided differently is kept in shadow_flips. One candidate of an account
-- is in shadow at a time: starting another ends the first.

-- shadow_from and shadow_until bound a candidate's shadow (until is moved
-- to the moment it was ended early); shadow_decisions counts the live
-- calls it decided and shadow_skipped those it had no time for (its
-- replica's queue was full), both over all of its shadow time.
ALTER TABLE tenant_rules
    ADD COLUMN shadow_from      timestamptz,
    ADD COLUMN shadow_until     timestamptz,
    ADD COLUMN shadow_decisions bigint NOT NULL DEFAULT 0,
    ADD COLUMN shadow_skipped   bigint NOT NULL DEFAULT 0;
CREATE INDEX tenant_rules_shadow_idx ON tenant_rules (account_id, shadow_until DESC) WHERE shadow_until IS NOT NULL;

-- A live call the candidate in shadow would have decided differently:
-- audit_id is the call's audit row (NULL when it could not be found, a
-- call whose row failed), before what the rules in force decided and
-- after what the candidate would have (allow, draft or deny), reasons the
-- candidate's.
CREATE TABLE shadow_flips (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    id           bigserial NOT NULL,
    candidate_id bigint NOT NULL,
    audit_id     bigint,
    tool         text NOT NULL,
    before       text NOT NULL,
    after        text NOT NULL,
    reasons      text[] NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, candidate_id) REFERENCES tenant_rules (account_id, id)
);
CREATE INDEX shadow_flips_candidate_idx ON shadow_flips (account_id, candidate_id, id DESC);
SELECT deskwoot_fence('shadow_flips');
