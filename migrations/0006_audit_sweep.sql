-- The audit sealer seals the accounts a replica touched; after a crash, or
-- for rows another replica wrote before it stopped, a periodic sweep seals
-- every account. Account ids are not secret; this returns nothing else.
CREATE FUNCTION deskwoot_account_ids() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT account_id FROM public.account_directory ORDER BY account_id $$;
