-- Billing: the account's Stripe link and subscription state, Stripe event
-- bookkeeping (each event applied once, never older over newer), the
-- pre-tenant customer look-up for webhooks, and the account directory that
-- operator commands enumerate accounts from.

-- The account's Stripe state. billing_event_at is the Stripe `created` time
-- of the newest event applied to the subscription state: an older event
-- never overwrites it. past_due_since records when the subscription first
-- turned past_due (grace_ends_at is set from it once); both are cleared when
-- the subscription is active again.
ALTER TABLE accounts
    ADD COLUMN stripe_customer_id     text,
    ADD COLUMN stripe_subscription_id text,
    ADD COLUMN current_period_end     timestamptz,
    ADD COLUMN past_due_since         timestamptz,
    ADD COLUMN billing_event_at       timestamptz,
    ADD COLUMN billing_updated_at     timestamptz;

-- stripe_events: every Stripe event applied to (or deliberately ignored by)
-- an account, keyed by Stripe's event id. A replay finds its row and changes
-- nothing. Tenant-owned and fenced like every tenant table: an event is
-- recorded in the account it maps to, in the same transaction as its effect.
CREATE TABLE stripe_events (
    account_id  bigint NOT NULL REFERENCES accounts (id),
    event_id    text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    type        text NOT NULL,
    created     timestamptz NOT NULL,        -- Stripe's `created`
    outcome     text NOT NULL,               -- applied, or why it was ignored
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, event_id)
);
SELECT deskwoot_fence('stripe_events');

-- billing_customers: Stripe customer id -> account, the look-up a webhook
-- needs before the tenant is known. Like token_lookup: no RLS, no grant to
-- deskwoot_app; only the SECURITY DEFINER functions below touch it.
CREATE TABLE billing_customers (
    stripe_customer_id text PRIMARY KEY CHECK (length(stripe_customer_id) BETWEEN 1 AND 255),
    account_id         bigint NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_customers_account_idx ON billing_customers (account_id);

-- deskwoot_billing_customer_owner maps a Stripe customer to its account.
CREATE FUNCTION deskwoot_billing_customer_owner(p_customer text)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT b.account_id FROM public.billing_customers b WHERE b.stripe_customer_id = p_customer $$;

-- deskwoot_billing_customer_register links a Stripe customer to the current
-- tenant. The account row (read under RLS) must already name the customer,
-- so the app cannot point a customer at an account it is not in; a customer
-- already linked to another account is refused.
CREATE FUNCTION deskwoot_billing_customer_register(p_customer text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    acct  bigint := public.deskwoot_tenant();
    owner bigint;
BEGIN
    IF acct IS NULL THEN
        RAISE EXCEPTION 'no tenant set' USING ERRCODE = '42501';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM public.accounts WHERE id = acct AND stripe_customer_id = p_customer) THEN
        RAISE EXCEPTION 'account % does not name Stripe customer %', acct, p_customer USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.billing_customers (stripe_customer_id, account_id) VALUES (p_customer, acct)
    ON CONFLICT (stripe_customer_id) DO NOTHING;
    SELECT b.account_id INTO owner FROM public.billing_customers b WHERE b.stripe_customer_id = p_customer;
    IF owner <> acct THEN
        RAISE EXCEPTION 'Stripe customer % belongs to another account', p_customer USING ERRCODE = '23505';
    END IF;
END $$;

-- account_directory: the ids of all accounts, for operator commands. The
-- owner is bound by FORCE RLS on accounts and so cannot enumerate them;
-- it reads this table (no RLS, no grant to deskwoot_app) and then opens
-- each account as its tenant. A trigger fills it at signup.
CREATE TABLE account_directory (
    account_id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE FUNCTION deskwoot_account_directory_add()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.account_directory (account_id, created_at) VALUES (NEW.id, NEW.created_at)
    ON CONFLICT (account_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER account_directory_add AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION deskwoot_account_directory_add();

-- Accounts that exist already: FORCE RLS hides them from the owner too, so
-- lift it for this one statement (inside the migration's transaction).
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
INSERT INTO account_directory (account_id, created_at) SELECT id, created_at FROM accounts
ON CONFLICT (account_id) DO NOTHING;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
