-- Sign-in for people who have lost their API token. Login precedes the
-- tenant, and FORCE RLS keeps users and memberships from the owner too, so
-- two lookup tables (no RLS, no grant to deskwoot_app) mirror what login
-- needs, filled by SECURITY DEFINER triggers; deskwoot_login reads them.
CREATE TABLE login_identities (
    email_lower   text PRIMARY KEY,
    user_id       bigint NOT NULL UNIQUE,
    password_hash text NOT NULL
);

CREATE TABLE login_memberships (
    user_id    bigint NOT NULL,
    account_id bigint NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (user_id, account_id)
);

CREATE FUNCTION deskwoot_login_identity_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.email IS NULL OR NEW.password_hash IS NULL THEN
        DELETE FROM public.login_identities WHERE user_id = NEW.id;
        RETURN NULL;
    END IF;
    INSERT INTO public.login_identities (email_lower, user_id, password_hash)
    VALUES (lower(NEW.email), NEW.id, NEW.password_hash)
    ON CONFLICT (user_id) DO UPDATE SET email_lower = excluded.email_lower, password_hash = excluded.password_hash;
    RETURN NULL;
END $$;

CREATE TRIGGER users_login_identity AFTER INSERT OR UPDATE OF email, password_hash ON users
    FOR EACH ROW EXECUTE FUNCTION deskwoot_login_identity_sync();

CREATE FUNCTION deskwoot_login_membership_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM public.login_memberships WHERE user_id = OLD.user_id AND account_id = OLD.account_id;
        RETURN NULL;
    END IF;
    INSERT INTO public.login_memberships (user_id, account_id, role) VALUES (NEW.user_id, NEW.account_id, NEW.role)
    ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role;
    RETURN NULL;
END $$;

CREATE TRIGGER account_users_login_membership AFTER INSERT OR UPDATE OR DELETE ON account_users
    FOR EACH ROW EXECUTE FUNCTION deskwoot_login_membership_sync();

-- deskwoot_login returns, for an email, the user, its password hash and
-- its memberships: what checking a password and choosing an account need.
CREATE FUNCTION deskwoot_login(p_email text)
RETURNS TABLE (user_id bigint, password_hash text, account_id bigint, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT i.user_id, i.password_hash, m.account_id, m.role
      FROM public.login_identities i JOIN public.login_memberships m ON m.user_id = i.user_id
      WHERE i.email_lower = lower(p_email) ORDER BY m.account_id $$;

-- People who exist already: FORCE RLS hides them from the owner too, so
-- lift it for these statements (inside the migration's transaction).
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE account_users NO FORCE ROW LEVEL SECURITY;
INSERT INTO login_identities (email_lower, user_id, password_hash)
SELECT lower(email), id, password_hash FROM users WHERE email IS NOT NULL AND password_hash IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO login_memberships (user_id, account_id, role) SELECT user_id, account_id, role FROM account_users
ON CONFLICT DO NOTHING;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE account_users FORCE ROW LEVEL SECURITY;
