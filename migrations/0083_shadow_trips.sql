-- A shadow's flips are written one row per trip of a replica's shadow (up
-- to 32 live calls decided at once; shadow/worker.go) instead of one row
-- per flip: a row's foreign-key checks, index entries and row overhead are
-- then paid once per trip, which on a candidate that flips every call was
-- most of what the shadow cost PostgreSQL (issue 24: a shadow adds at most
-- a tenth to a call's server time, on a busy machine too).
--
-- Flip i (from 0) of a row has the id id + i: the sequence hands out a
-- block of 64 ids a time, and a row holds at most 64 flips, so flip ids
-- stay unique and keep the order in which they were written, and the
-- listing (GET /api/v1/policy/shadow, the Policy page) pages by them as
-- before. audit_ids[i] is the call's audit row (0: none was written),
-- befores[i] and afters[i] what the rules in force and the candidate
-- decided, reasons->i the candidate's reasons (a JSON array of strings).
CREATE TABLE shadow_trips (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    id           bigint NOT NULL,
    candidate_id bigint NOT NULL,
    audit_ids    bigint[] NOT NULL,
    tools        text[] NOT NULL,
    befores      text[] NOT NULL,
    afters       text[] NOT NULL,
    reasons      jsonb NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, candidate_id) REFERENCES tenant_rules (account_id, id),
    CHECK (cardinality(tools) BETWEEN 1 AND 64
        AND cardinality(audit_ids) = cardinality(tools)
        AND cardinality(befores) = cardinality(tools)
        AND cardinality(afters) = cardinality(tools)
        AND jsonb_typeof(reasons) = 'array' AND jsonb_array_length(reasons) = cardinality(tools))
);
CREATE INDEX shadow_trips_candidate_idx ON shadow_trips (account_id, candidate_id);
CREATE SEQUENCE shadow_trips_id_seq INCREMENT BY 64 OWNED BY shadow_trips.id;

-- The flips so far, each a row of its own, keep their ids; new ids start
-- past them. (FORCE RLS hides every account's rows from the owner too:
-- it is lifted from the old table, which goes, and the new one is fenced
-- once they are in, inside the migration's transaction.)
ALTER TABLE shadow_flips NO FORCE ROW LEVEL SECURITY;
INSERT INTO shadow_trips (account_id, id, candidate_id, audit_ids, tools, befores, afters, reasons, at)
SELECT account_id, id, candidate_id, ARRAY[coalesce(audit_id, 0)], ARRAY[tool], ARRAY[before], ARRAY[after], jsonb_build_array(to_jsonb(reasons)), at
FROM shadow_flips;
SELECT setval('shadow_trips_id_seq', coalesce((SELECT max(id) FROM shadow_flips), 0) + 1, false);
DROP TABLE shadow_flips;
SELECT deskwoot_fence('shadow_trips');
