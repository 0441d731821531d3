-- Security teams (DESIGN §17): explanations of decisions, and an account's
-- own restrict-only policy rules.

-- What a tool decision was made from and what it gave, stored with the
-- audit row at decision time: the input with the arguments redacted to
-- their keys, types and sizes, the result, the branch of the policy and the
-- version of the account's rules (policy.Explanation). NULL for rows that
-- record no policy decision (a person's action, a rate limit).
ALTER TABLE audit_log ADD COLUMN explanation jsonb;

-- An account's rules: candidates as submitted (with their test results),
-- and, once activated, numbered versions. A version never changes, so a
-- replica may keep it compiled by (account, version).
CREATE TABLE tenant_rules (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    id           bigserial NOT NULL,
    version      int,                       -- NULL while a candidate
    rego         text NOT NULL,
    tests        text NOT NULL,
    tests_passed int NOT NULL,
    tests_failed int NOT NULL,
    test_results jsonb NOT NULL DEFAULT '[]',
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    activated_by bigint,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, version)
);
SELECT deskwoot_fence('tenant_rules');

-- The version in force for the account (NULL: none). Read with the token
-- at every MCP request, so an activation or a roll-back takes effect on
-- the next call on every replica.
ALTER TABLE accounts ADD COLUMN tenant_rules_version int;
ALTER TABLE accounts ADD CONSTRAINT accounts_tenant_rules_fk
    FOREIGN KEY (id, tenant_rules_version) REFERENCES tenant_rules (account_id, version);
