-- A person's write holds their membership (issue 21: "removing a person
-- while they have a REST call in flight loses no data"). The door
-- authenticates a person when the request arrives; the unit of work that
-- does their change begins later, perhaps after waiting on a lock. Without
-- a hold, an admin's removal could commit in between and the person's
-- change commit after it, written by someone no longer there.
--
-- deskwoot_member_hold takes a KEY SHARE lock on the person's active
-- membership at the start of their unit of work: offboarding (which locks
-- the membership FOR UPDATE) then waits for the change to commit, or the
-- change waits for the offboarding and, finding the membership no longer
-- active, fails with DW401 before it has written anything. Runs as the
-- caller, under the tenant's fence.
CREATE FUNCTION deskwoot_member_hold(p_user_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM public.account_users WHERE user_id = p_user_id AND status = 'active' FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the person is no longer an active member of this workspace' USING ERRCODE = 'DW401';
    END IF;
END
$$;
