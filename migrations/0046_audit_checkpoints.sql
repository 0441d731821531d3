-- Verified checkpoints (DESIGN §22): the link (seq, audit row, hash) up to
-- which an account's chain was verified, signed with the server's Ed25519
-- key, so that the audit page verifies only the links after the last
-- checkpoint and an export can be verified offline with the public key.
-- Insert-only for the app (grants.sql), fenced like every tenant table.
-- A checkpoint signed by another key than the server's is kept but never
-- trusted; the primary key lets each key have its own at any link.
CREATE TABLE audit_checkpoints (
    account_id bigint NOT NULL REFERENCES accounts (id),
    public_key bytea NOT NULL CHECK (length(public_key) = 32),
    seq        bigint NOT NULL,
    audit_id   bigint NOT NULL,
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    signed_at  timestamptz NOT NULL,
    signature  bytea NOT NULL CHECK (length(signature) = 64),
    PRIMARY KEY (account_id, public_key, seq),
    FOREIGN KEY (account_id, seq) REFERENCES audit_chain (account_id, seq)
);
CREATE INDEX audit_checkpoints_seq_idx ON audit_checkpoints (account_id, seq DESC);
SELECT deskwoot_fence('audit_checkpoints');

-- The signing key migrate generates when none exists (one row), for
-- servers given no DESKWOOT_AUDIT_SIGNING_KEY: the 32-byte Ed25519 seed.
-- Readable by the owner only (grants.sql revokes everything from the app,
-- and no function hands it out): `deskwoot dev` and `deskwoot audit key`
-- read it over the owner's connection. README: "Audit checkpoints".
CREATE TABLE audit_signing_key (
    only_one   boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    seed       bytea NOT NULL CHECK (length(seed) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
