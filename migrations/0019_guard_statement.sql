-- The guard of a cached principal becomes one SQL statement
-- (tenancy.guardSQL) instead of a PL/pgSQL function and two statements
-- beside it: each statement of a batch costs the server about as much as a
-- small read. What stays in PL/pgSQL is the raising.
DROP FUNCTION deskwoot_mcp_guard(bigint, text, timestamptz, bytea);
DROP FUNCTION deskwoot_rate_exceeded(boolean, float8);

-- deskwoot_guard_refuse fails the guard's transaction: DW401 when the
-- cached principal is no longer current, else DW429 with the seconds to
-- wait as its message (the calls would exceed the rate limit). VOLATILE, so
-- that it runs only when the guard's CASE reaches it.
CREATE FUNCTION deskwoot_guard_refuse(principal_current boolean, retry_seconds float8) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT principal_current THEN
        RAISE EXCEPTION 'the MCP token or its account changed' USING ERRCODE = 'DW401';
    END IF;
    RAISE EXCEPTION '%', retry_seconds USING ERRCODE = 'DW429';
END
$$;
