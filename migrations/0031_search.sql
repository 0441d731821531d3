-- Search that finds what people mean, at any size (DESIGN §21).
--
-- 1. Words match their forms in the workspace's language: messages,
--    subjects and articles keep a tsvector built with
--    accounts.search_language (English unless changed), filled by triggers
--    because a generated column cannot read the account. Contacts keep
--    their 'simple' vector (names and emails are not stemmed).
--    Typos: search_words holds each workspace's words of contact names,
--    emails and subjects; a query word found nowhere there is widened with
--    the most similar of them (pg_trgm over distinct words, the way the
--    pg_trgm documentation suggests), so "refnd" also looks for "refund".
-- 2. Cost follows the matches. Under row-level security PostgreSQL applies
--    the tenant policy before any operator that is not leakproof, and @@ and
--    pg_trgm's operators are not, so it never used the GIN indexes: a search
--    read every message of the workspace. The search now runs in SECURITY
--    DEFINER functions owned by deskwoot_search, a role that logs in
--    nowhere, owns nothing else and may only SELECT the tables searched. A
--    policy lets that role read those tables without the tenant predicate,
--    so the planner may use the indexes, and every function takes the
--    tenant from the transaction's setting (never from an argument) and
--    filters every table by it. The indexes lead with account_id
--    (btree_gin), so a scan reads the workspace's matches only.
--    tenancy/search_test.go calls every function the role owns as one
--    tenant and proves it never returns another's rows.

-- Contrib extensions (trusted: the schema owner may create them).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The workspace's search language: one of PostgreSQL's text search
-- configurations, from a known list (desk.SearchLanguages says the same).
ALTER TABLE accounts ADD COLUMN search_language text NOT NULL DEFAULT 'english'
    CHECK (search_language IN ('simple', 'arabic', 'danish', 'dutch', 'english', 'finnish', 'french', 'german',
        'hungarian', 'indonesian', 'irish', 'italian', 'lithuanian', 'nepali', 'norwegian', 'portuguese',
        'romanian', 'russian', 'spanish', 'swedish', 'tamil', 'turkish'));

-- deskwoot_search_config is an account's text search configuration
-- (English when the account is not visible; a tenant's own writes see it).
CREATE FUNCTION deskwoot_search_config(acct bigint) RETURNS regconfig
LANGUAGE sql STABLE SET search_path = pg_catalog, public
AS $$ SELECT coalesce((SELECT a.search_language FROM public.accounts a WHERE a.id = acct), 'english')::regconfig $$;

-- Messages: the vector in the account's language, kept by a trigger.
ALTER TABLE messages ALTER COLUMN search DROP EXPRESSION;
DROP INDEX messages_search_idx;
CREATE FUNCTION deskwoot_message_search() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    NEW.search := to_tsvector(deskwoot_search_config(NEW.account_id), NEW.content);
    RETURN NEW;
END $$;
CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF content ON messages
    FOR EACH ROW EXECUTE FUNCTION deskwoot_message_search();
UPDATE messages SET search = to_tsvector(deskwoot_search_config(account_id), content);
CREATE INDEX messages_search_idx ON messages USING gin (account_id, search);

-- Articles: title weighs more than body.
ALTER TABLE articles ALTER COLUMN search DROP EXPRESSION;
DROP INDEX articles_search_idx;
CREATE FUNCTION deskwoot_article_search() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    cfg regconfig := deskwoot_search_config(NEW.account_id);
BEGIN
    NEW.search := setweight(to_tsvector(cfg, NEW.title), 'A') || setweight(to_tsvector(cfg, NEW.body), 'B');
    RETURN NEW;
END $$;
CREATE TRIGGER articles_search BEFORE INSERT OR UPDATE OF title, body ON articles
    FOR EACH ROW EXECUTE FUNCTION deskwoot_article_search();
UPDATE articles SET title = title;
CREATE INDEX articles_search_idx ON articles USING gin (account_id, search);

-- Subjects: a vector of their own.
ALTER TABLE conversations ADD COLUMN search tsvector;
CREATE FUNCTION deskwoot_subject_search() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    NEW.search := to_tsvector(deskwoot_search_config(NEW.account_id), NEW.subject);
    RETURN NEW;
END $$;
CREATE TRIGGER conversations_search BEFORE INSERT OR UPDATE OF subject ON conversations
    FOR EACH ROW EXECUTE FUNCTION deskwoot_subject_search();
UPDATE conversations SET search = to_tsvector(deskwoot_search_config(account_id), subject);
CREATE INDEX conversations_search_idx ON conversations USING gin (account_id, search);

-- Contacts: the 'simple' words of name, email, phone and identifier, and
-- the parts of the email ("example" finds jane@example.com).
DROP INDEX contacts_search_idx;
ALTER TABLE contacts DROP COLUMN search;
ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || translate(coalesce(email, ''), '@.+_-', '     ')
        || ' ' || coalesce(phone, '') || ' ' || coalesce(identifier, ''))) STORED;
CREATE INDEX contacts_search_idx ON contacts USING gin (account_id, search);

-- search_words: each workspace's distinct words of contacts (name, email,
-- phone, identifier) and of subjects (lower case, 3 to 40 characters, no digits: ticket
-- and order numbers are not typed with typos), for typo tolerance. Words
-- are only added; a word whose rows are gone widens a query to nothing.
CREATE TABLE search_words (
    account_id bigint NOT NULL REFERENCES accounts (id),
    word       text NOT NULL,
    PRIMARY KEY (account_id, word)
);
SELECT deskwoot_fence('search_words');
CREATE INDEX search_words_trgm_idx ON search_words USING gin (account_id, word gin_trgm_ops);

-- Inserts add the words once per statement (a bulk insert adds each word
-- once); an update of the columns concerned adds the row's words.
CREATE FUNCTION deskwoot_search_words_add(acct bigint, doc tsvector) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    INSERT INTO public.search_words (account_id, word)
    SELECT acct, w FROM unnest(tsvector_to_array(doc)) w
    WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
    ON CONFLICT DO NOTHING
$$;
CREATE FUNCTION deskwoot_contact_words() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM deskwoot_search_words_add(NEW.account_id, NEW.search);
        RETURN NULL;
    END IF;
    INSERT INTO search_words (account_id, word)
    SELECT DISTINCT n.account_id, w FROM written n, unnest(tsvector_to_array(n.search)) w
    WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_words_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION deskwoot_contact_words();
CREATE TRIGGER contacts_words_update AFTER UPDATE OF name, email, phone, identifier ON contacts
    FOR EACH ROW EXECUTE FUNCTION deskwoot_contact_words();
CREATE FUNCTION deskwoot_subject_words() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM deskwoot_search_words_add(NEW.account_id, to_tsvector('simple', NEW.subject));
        RETURN NULL;
    END IF;
    INSERT INTO search_words (account_id, word)
    SELECT DISTINCT n.account_id, w FROM written n, unnest(tsvector_to_array(to_tsvector('simple', n.subject))) w
    WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_words_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION deskwoot_subject_words();
CREATE TRIGGER conversations_words_update AFTER UPDATE OF subject ON conversations
    FOR EACH ROW EXECUTE FUNCTION deskwoot_subject_words();
INSERT INTO search_words (account_id, word)
SELECT DISTINCT account_id, w FROM (
    SELECT account_id, unnest(tsvector_to_array(search)) w FROM contacts
    UNION ALL
    SELECT account_id, unnest(tsvector_to_array(to_tsvector('simple', subject))) FROM conversations) s
WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]';

-- The definer role. Roles are cluster-wide: another database of the
-- cluster may have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deskwoot_search') THEN
        CREATE ROLE deskwoot_search NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL; -- created meanwhile by the migration of another database
END $$;

GRANT USAGE ON SCHEMA public TO deskwoot_search;
GRANT SELECT ON accounts, messages, conversations, contacts, contact_inboxes, articles, search_words TO deskwoot_search;
CREATE POLICY search_definer ON accounts FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON messages FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON conversations FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON contacts FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON contact_inboxes FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON articles FOR SELECT TO deskwoot_search USING (true);
CREATE POLICY search_definer ON search_words FOR SELECT TO deskwoot_search USING (true);

-- The search functions. Each one
--   * reads the tenant from deskwoot.account_id and returns nothing without it;
--   * filters every table it reads by that tenant;
--   * takes inboxes (NULL = every inbox), which can only narrow further;
--   * returns ids and scores only: the caller reads the rows themselves
--     under row-level security, in the same transaction.
-- hits (at most 1000) bounds the work: the newest matches of each kind are
-- ranked. They are looked for first among the workspace's newest 1,000
-- rows of the kind (a backward scan of the primary key: cheap whatever the
-- word, and a common word is met at once). When those hold fewer than 5
-- matches the word is rare, and the GIN index finds its matches instead;
-- that statement runs with plain index scans off, so that no estimate can
-- send it back to scanning the whole workspace in the hope of meeting a
-- rare word soon. Either way the work follows the matches, not the size of
-- the workspace. No plan needs a sequential scan, so none may use one.

-- The functions set pg_trgm's threshold, which PostgreSQL accepts only
-- once the module is loaded in the session.
SELECT similarity('', '');

-- deskwoot_search_query turns desk's query text (a to_tsquery text with
-- every word quoted) into the queries the searches run: q in the
-- workspace's language (config), qc in 'simple' for contacts. Each word of fuzzy
-- (the query's plain words) that is none of the workspace's words is
-- widened with up to three of them that look like it.
CREATE FUNCTION deskwoot_search_query(terms text, fuzzy text[])
RETURNS TABLE (config regconfig, q tsquery, qc tsquery)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
SET pg_trgm.similarity_threshold = 0.4
SET enable_seqscan = off
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
    w text;
    lexeme text;
    alike text[];
BEGIN
    IF tenant IS NULL THEN
        RETURN;
    END IF;
    config := (SELECT a.search_language FROM accounts a WHERE a.id = tenant)::regconfig;
    q := to_tsquery(config, terms);
    qc := to_tsquery('simple', terms);
    FOREACH w IN ARRAY coalesce(fuzzy[1:5], '{}') LOOP
        w := lower(w);
        CONTINUE WHEN length(w) < 3 OR EXISTS (SELECT 1 FROM search_words s WHERE s.account_id = tenant AND s.word = w);
        alike := ARRAY(SELECT s.word FROM search_words s
                       WHERE s.account_id = tenant AND s.word % w
                       ORDER BY similarity(s.word, w) DESC, s.word LIMIT 3);
        CONTINUE WHEN cardinality(alike) = 0;
        lexeme := '''' || replace(replace(w, '\', '\\'), '''', '''''') || '''';
        q := deskwoot_search_widen(q, to_tsquery(config, lexeme), to_tsquery(config, lexeme || ':*'), config, alike);
        qc := deskwoot_search_widen(qc, to_tsquery('simple', lexeme), to_tsquery('simple', lexeme || ':*'), 'simple', alike);
    END LOOP;
    RETURN NEXT;
END $$;

-- deskwoot_search_widen replaces the word (as typed, or as a prefix) in q
-- with itself or any of alike.
CREATE FUNCTION deskwoot_search_widen(q tsquery, word tsquery, prefix tsquery, cfg regconfig, alike text[])
RETURNS tsquery LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public AS $$
DECLARE
    a text;
    plain tsquery := word;
    typed tsquery := prefix;
BEGIN
    IF numnode(word) <> 1 THEN
        RETURN q; -- a word the parser splits (foo-bar) is left as it is
    END IF;
    FOREACH a IN ARRAY alike LOOP
        plain := plain || to_tsquery(cfg, '''' || replace(replace(a, '\', '\\'), '''', '''''') || '''');
        typed := typed || to_tsquery(cfg, '''' || replace(replace(a, '\', '\\'), '''', '''''') || '''');
    END LOOP;
    RETURN ts_rewrite(ts_rewrite(q, word, plain), prefix, typed);
END $$;

-- deskwoot_search_conversations: conversations whose messages, subject or
-- contact match, with a score (message text 0.5 to 1 by ts_rank, subject 1,
-- contact 0.9) and, for a message match, the best message.
CREATE FUNCTION deskwoot_search_conversations(q tsquery, qc tsquery, inboxes bigint[], hits integer)
RETURNS TABLE (conversation_id bigint, score real, message_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
SET enable_seqscan = off
SET enable_indexscan = on
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
    ids bigint[];
BEGIN
    IF tenant IS NULL OR q IS NULL THEN
        RETURN;
    END IF;
    hits := least(greatest(hits, 1), 1000);

    ids := ARRAY(SELECT w.id FROM (SELECT m.id, m.inbox_id, m.search FROM messages m
                                   WHERE m.account_id = tenant ORDER BY m.id DESC LIMIT 1000) w
                 WHERE w.search @@ q AND (inboxes IS NULL OR w.inbox_id = ANY (inboxes)) LIMIT hits);
    IF cardinality(ids) < 5 THEN
        PERFORM set_config('enable_indexscan', 'off', true);
        EXECUTE 'SELECT ARRAY(SELECT m.id FROM messages m
                 WHERE m.account_id = $1 AND m.search @@ $2 AND ($3::bigint[] IS NULL OR m.inbox_id = ANY ($3))
                 ORDER BY m.id DESC LIMIT $4)' INTO ids USING tenant, q, inboxes, hits;
        PERFORM set_config('enable_indexscan', 'on', true);
    END IF;
    RETURN QUERY SELECT m.conversation_id, (0.5 + 0.5 * ts_rank(m.search, q, 32))::real, m.id
        FROM messages m WHERE m.account_id = tenant AND m.id = ANY (ids);

    ids := ARRAY(SELECT w.id FROM (SELECT c.id, c.inbox_id, c.search FROM conversations c
                                   WHERE c.account_id = tenant ORDER BY c.id DESC LIMIT 1000) w
                 WHERE w.search @@ q AND (inboxes IS NULL OR w.inbox_id = ANY (inboxes)) LIMIT hits);
    IF cardinality(ids) < 5 THEN
        PERFORM set_config('enable_indexscan', 'off', true);
        EXECUTE 'SELECT ARRAY(SELECT c.id FROM conversations c
                 WHERE c.account_id = $1 AND c.search @@ $2 AND ($3::bigint[] IS NULL OR c.inbox_id = ANY ($3))
                 ORDER BY c.id DESC LIMIT $4)' INTO ids USING tenant, q, inboxes, hits;
        PERFORM set_config('enable_indexscan', 'on', true);
    END IF;
    RETURN QUERY SELECT unnest(ids), 1::real, NULL::bigint;

    ids := ARRAY(SELECT deskwoot_search_contact_ids(qc, hits));
    RETURN QUERY SELECT c.id, 0.9::real, NULL::bigint FROM conversations c
        WHERE c.account_id = tenant AND c.contact_id = ANY (ids) AND (inboxes IS NULL OR c.inbox_id = ANY (inboxes));
END $$;

-- deskwoot_search_contact_ids is the contact matching both searches share,
-- newest first. It is no definer: called by the app it runs under the
-- app's row-level security, called by the definers as deskwoot_search.
CREATE FUNCTION deskwoot_search_contact_ids(qc tsquery, hits integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
SET enable_seqscan = off
SET enable_indexscan = on
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
    ids bigint[];
BEGIN
    IF tenant IS NULL OR qc IS NULL THEN
        RETURN;
    END IF;
    hits := least(greatest(hits, 1), 1000);
    ids := ARRAY(SELECT w.id FROM (SELECT ct.id, ct.search FROM contacts ct
                                   WHERE ct.account_id = tenant ORDER BY ct.id DESC LIMIT 1000) w
                 WHERE w.search @@ qc LIMIT hits);
    IF cardinality(ids) < 5 THEN
        PERFORM set_config('enable_indexscan', 'off', true);
        EXECUTE 'SELECT ARRAY(SELECT ct.id FROM contacts ct WHERE ct.account_id = $1 AND ct.search @@ $2
                 ORDER BY ct.id DESC LIMIT $3)' INTO ids USING tenant, qc, hits;
        PERFORM set_config('enable_indexscan', 'on', true);
    END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

-- deskwoot_search_contacts: contacts whose name, email, phone or
-- identifier match. A caller restricted to inboxes sees the contacts of
-- those inboxes and the ones its token created.
CREATE FUNCTION deskwoot_search_contacts(qc tsquery, inboxes bigint[], token bigint, hits integer)
RETURNS TABLE (contact_id bigint, score real)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
BEGIN
    IF tenant IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT ct.id, ts_rank(ct.search, qc)
        FROM deskwoot_search_contact_ids(qc, hits) p
        JOIN contacts ct ON ct.account_id = tenant AND ct.id = p
        WHERE inboxes IS NULL OR ct.created_by_token_id = token
           OR EXISTS (SELECT 1 FROM contact_inboxes ci
                      WHERE ci.account_id = tenant AND ci.contact_id = ct.id AND ci.inbox_id = ANY (inboxes));
END $$;

-- deskwoot_search_articles: published articles that match.
CREATE FUNCTION deskwoot_search_articles(q tsquery, hits integer)
RETURNS TABLE (article_id bigint, score real)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
BEGIN
    IF tenant IS NULL OR q IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT a.id, ts_rank(a.search, q) FROM articles a
        WHERE a.account_id = tenant AND a.status = 'published' AND a.search @@ q
        ORDER BY a.id DESC LIMIT least(greatest(hits, 1), 1000);
END $$;

-- Hand the functions to the definer role. Changing a function's owner
-- takes membership in the new owner, which needs CREATE on the schema; both
-- last only while this migration runs: a member of deskwoot_search would
-- also pass its policies, and the migration owner must stay fenced by row
-- level security like everyone else. (A later migration that changes these
-- functions grants itself the membership the same way and revokes it.)
-- grants.sql leaves functions it cannot manage alone, so the app's right to
-- call them is given here.
GRANT deskwoot_search TO current_user;
GRANT CREATE ON SCHEMA public TO deskwoot_search;
ALTER FUNCTION deskwoot_search_query(text, text[]) OWNER TO deskwoot_search;
ALTER FUNCTION deskwoot_search_widen(tsquery, tsquery, tsquery, regconfig, text[]) OWNER TO deskwoot_search;
ALTER FUNCTION deskwoot_search_conversations(tsquery, tsquery, bigint[], integer) OWNER TO deskwoot_search;
ALTER FUNCTION deskwoot_search_contact_ids(tsquery, integer) OWNER TO deskwoot_search;
ALTER FUNCTION deskwoot_search_contacts(tsquery, bigint[], bigint, integer) OWNER TO deskwoot_search;
ALTER FUNCTION deskwoot_search_articles(tsquery, integer) OWNER TO deskwoot_search;
REVOKE ALL ON FUNCTION deskwoot_search_query(text, text[]), deskwoot_search_widen(tsquery, tsquery, tsquery, regconfig, text[]),
    deskwoot_search_conversations(tsquery, tsquery, bigint[], integer), deskwoot_search_contact_ids(tsquery, integer),
    deskwoot_search_contacts(tsquery, bigint[], bigint, integer), deskwoot_search_articles(tsquery, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deskwoot_search_query(text, text[]), deskwoot_search_widen(tsquery, tsquery, tsquery, regconfig, text[]),
    deskwoot_search_conversations(tsquery, tsquery, bigint[], integer), deskwoot_search_contact_ids(tsquery, integer),
    deskwoot_search_contacts(tsquery, bigint[], bigint, integer), deskwoot_search_articles(tsquery, integer) TO deskwoot_app;
REVOKE CREATE ON SCHEMA public FROM deskwoot_search;
REVOKE deskwoot_search FROM current_user;
