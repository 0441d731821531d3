-- The public help center (issue 22) lives at /hc/{slug}. A reader's
-- request names only the slug, before any tenant is known, so the slug
-- routes through a pre-tenant look-up table: no RLS, no grant to the app,
-- read and written only by the SECURITY DEFINER functions below. Every
-- workspace gets a slug from its name at signup (a trigger on accounts);
-- admins change it through deskwoot_account_slug_set, which takes the
-- tenant from the transaction, never from an argument.

CREATE TABLE account_slugs (
    slug       text PRIMARY KEY CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$'),
    account_id bigint NOT NULL UNIQUE
);

-- deskwoot_slug_from is a slug made of a workspace name: lowercase ASCII
-- letters and digits, runs of anything else as one hyphen, at most 40.
CREATE FUNCTION deskwoot_slug_from(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public
AS $$ SELECT coalesce(nullif(btrim(left(btrim(regexp_replace(lower(p_name), '[^a-z0-9]+', '-', 'g'), '-'), 40), '-'), ''), 'workspace') $$;

-- deskwoot_account_slug_add gives a new workspace the slug of its name, or,
-- when another workspace has it, that slug and its account id.
CREATE FUNCTION deskwoot_account_slug_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_slug text := public.deskwoot_slug_from(NEW.name);
BEGIN
    INSERT INTO public.account_slugs (slug, account_id) VALUES (v_slug, NEW.id) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        INSERT INTO public.account_slugs (slug, account_id) VALUES (v_slug || '-' || NEW.id, NEW.id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_slug AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION deskwoot_account_slug_add();

-- deskwoot_help_center_account routes a slug to its workspace.
CREATE FUNCTION deskwoot_help_center_account(p_slug text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT s.account_id FROM public.account_slugs s WHERE s.slug = p_slug $$;

-- deskwoot_account_slug is the current tenant's slug.
CREATE FUNCTION deskwoot_account_slug() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT s.slug FROM public.account_slugs s
      WHERE s.account_id = nullif(current_setting('deskwoot.account_id', true), '')::bigint $$;

-- deskwoot_account_slug_set gives the current tenant a new slug; one that
-- another workspace has is refused (unique violation, account_slug_in_use).
CREATE FUNCTION deskwoot_account_slug_set(p_slug text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_acct bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
BEGIN
    IF v_acct IS NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM public.account_slugs WHERE slug = p_slug AND account_id <> v_acct) THEN
        RAISE EXCEPTION 'slug % is taken', p_slug USING ERRCODE = 'unique_violation', CONSTRAINT = 'account_slug_in_use';
    END IF;
    INSERT INTO public.account_slugs (slug, account_id) VALUES (p_slug, v_acct)
    ON CONFLICT (account_id) DO UPDATE SET slug = EXCLUDED.slug;
    RETURN p_slug;
END $$;

-- Workspaces that exist already (FORCE RLS hides them from the owner too,
-- so lift it for this statement, inside the migration's transaction).
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
INSERT INTO account_slugs (slug, account_id)
SELECT CASE WHEN row_number() OVER (PARTITION BY deskwoot_slug_from(name) ORDER BY id) = 1
            THEN deskwoot_slug_from(name) ELSE deskwoot_slug_from(name) || '-' || id END, id
FROM accounts ORDER BY id
ON CONFLICT DO NOTHING;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
