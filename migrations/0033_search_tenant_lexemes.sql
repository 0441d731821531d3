-- Search indexes whose words belong to one workspace (issue 23).
--
-- The last word of a query matches as a prefix ('warrant':*). A GIN index
-- answers a prefix by gathering every posting of every word it begins, and
-- only then intersects them with the workspace (the account_id column of
-- 0031's indexes): at bench scale a rare prefix in a small workspace read
-- the postings of all workspaces, 40 ms and growing with the database. The
-- search indexes now hold each word prefixed with its account
-- ('42:warranti'), and a query's words get the same prefix, so that any
-- look-up, prefix or not, reads the workspace's postings only. The words
-- carry no positions there; the searches recheck the row's own vector (for
-- phrases), and keep their filter on account_id.

-- deskwoot_tenant_lexemes is a vector's words, each prefixed with acct.
-- (Words near the 2 kB limit of a lexeme are left out of the index.)
CREATE FUNCTION deskwoot_tenant_lexemes(acct bigint, doc tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT array_to_tsvector(ARRAY(SELECT acct::text || ':' || w FROM unnest(tsvector_to_array(doc)) w WHERE octet_length(w) < 2000)) $$;

-- deskwoot_tenant_query is a query for those words: each word prefixed
-- with acct, and phrases made plain ANDs (the indexed words have no
-- positions; the searches recheck phrases against the row's own vector).
-- In a tsquery's text every word is quoted (a quote inside doubled, a
-- backslash escaped), so the text splits into quoted words, which get the
-- prefix, and the operators between them.
CREATE FUNCTION deskwoot_tenant_query(acct bigint, q tsquery) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(string_agg(CASE WHEN t[1] LIKE '''%' THEN '''' || acct::text || ':' || substr(t[1], 2)
                                    ELSE regexp_replace(t[1], '<(-|[0-9]+)>', '&', 'g') END, '' ORDER BY n), '')::tsquery
    FROM regexp_matches(q::text, '(''(?:[^''\\]|''''|\\.)*''|[^'']+)', 'g') WITH ORDINALITY AS m(t, n)
$$;

DROP INDEX messages_search_idx;
CREATE INDEX messages_search_idx ON messages USING gin (deskwoot_tenant_lexemes(account_id, search)) WITH (gin_pending_list_limit = 256);
DROP INDEX conversations_search_idx;
CREATE INDEX conversations_search_idx ON conversations USING gin (deskwoot_tenant_lexemes(account_id, search)) WITH (gin_pending_list_limit = 256);
DROP INDEX contacts_search_idx;
CREATE INDEX contacts_search_idx ON contacts USING gin (deskwoot_tenant_lexemes(account_id, search)) WITH (gin_pending_list_limit = 256);
DROP INDEX articles_search_idx;
CREATE INDEX articles_search_idx ON articles USING gin (deskwoot_tenant_lexemes(account_id, search)) WITH (gin_pending_list_limit = 256);

-- The functions as in 0031 but for their GIN look-ups (and messages are
-- ranked as they are read, not read again), which now take
-- their candidates from the index alone (a materialized CTE whose only
-- condition is the index's): filtered by account_id in the same statement,
-- a look-up could be planned as a scan of the whole workspace through the
-- primary key, which at bench scale took hundreds of milliseconds. The
-- candidates are then filtered by the tenant and rechecked against the
-- row's own vector. Replacing the functions takes membership in their
-- owner, for this migration only (see 0031).
GRANT deskwoot_search TO current_user;

CREATE OR REPLACE FUNCTION deskwoot_search_conversations(q tsquery, qc tsquery, inboxes bigint[], hits integer)
RETURNS TABLE (conversation_id bigint, score real, message_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 300
SET search_path = pg_catalog, public
SET enable_seqscan = off
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
    ids bigint[];
    convs bigint[];
    ranks real[];
BEGIN
    IF tenant IS NULL OR q IS NULL THEN
        RETURN;
    END IF;
    hits := least(greatest(hits, 1), 1000);

    -- Messages: the newest matches, ranked as they are read.
    SELECT array_agg(w.id), array_agg(w.conversation_id), array_agg(ts_rank(w.search, q, 32))
      INTO ids, convs, ranks
      FROM (SELECT w.id, w.conversation_id, w.search
              FROM (SELECT m.id, m.conversation_id, m.inbox_id, m.search FROM messages m
                    WHERE m.account_id = tenant ORDER BY m.id DESC LIMIT 1000) w
             WHERE w.search @@ q AND (inboxes IS NULL OR w.inbox_id = ANY (inboxes)) LIMIT hits) w;
    IF coalesce(cardinality(ids), 0) < 5 THEN
        WITH found AS MATERIALIZED (
            SELECT m.id, m.account_id, m.conversation_id, m.inbox_id, m.search FROM messages m
            WHERE deskwoot_tenant_lexemes(m.account_id, m.search) @@ deskwoot_tenant_query(tenant, q)
        ), newest AS (
            SELECT f.id, f.conversation_id, f.search FROM found f
            WHERE f.account_id = tenant AND f.search @@ q AND (inboxes IS NULL OR f.inbox_id = ANY (inboxes))
            ORDER BY f.id DESC LIMIT hits
        )
        SELECT array_agg(n.id), array_agg(n.conversation_id), array_agg(ts_rank(n.search, q, 32))
          INTO ids, convs, ranks FROM newest n;
    END IF;
    RETURN QUERY SELECT h.conversation_id, (0.5 + 0.5 * h.rank)::real, h.id
        FROM unnest(convs, ranks, ids) AS h(conversation_id, rank, id);

    -- Subjects.
    ids := ARRAY(SELECT w.id FROM (SELECT c.id, c.inbox_id, c.search FROM conversations c
                                   WHERE c.account_id = tenant ORDER BY c.id DESC LIMIT 1000) w
                 WHERE w.search @@ q AND (inboxes IS NULL OR w.inbox_id = ANY (inboxes)) LIMIT hits);
    IF cardinality(ids) < 5 THEN
        ids := ARRAY(WITH found AS MATERIALIZED (
                         SELECT c.id, c.account_id, c.inbox_id, c.search FROM conversations c
                         WHERE deskwoot_tenant_lexemes(c.account_id, c.search) @@ deskwoot_tenant_query(tenant, q))
                     SELECT f.id FROM found f
                     WHERE f.account_id = tenant AND f.search @@ q AND (inboxes IS NULL OR f.inbox_id = ANY (inboxes))
                     ORDER BY f.id DESC LIMIT hits);
    END IF;
    RETURN QUERY SELECT unnest(ids), 1::real, NULL::bigint;

    -- Contacts.
    ids := ARRAY(SELECT deskwoot_search_contact_ids(qc, hits));
    RETURN QUERY SELECT c.id, 0.9::real, NULL::bigint FROM conversations c
        WHERE c.account_id = tenant AND c.contact_id = ANY (ids) AND (inboxes IS NULL OR c.inbox_id = ANY (inboxes));
END $$;

CREATE OR REPLACE FUNCTION deskwoot_search_contact_ids(qc tsquery, hits integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE ROWS 200
SET search_path = pg_catalog, public
SET enable_seqscan = off
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
        ids := ARRAY(WITH found AS MATERIALIZED (
                         SELECT ct.id, ct.account_id, ct.search FROM contacts ct
                         WHERE deskwoot_tenant_lexemes(ct.account_id, ct.search) @@ deskwoot_tenant_query(tenant, qc))
                     SELECT f.id FROM found f
                     WHERE f.account_id = tenant AND f.search @@ qc
                     ORDER BY f.id DESC LIMIT hits);
    END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

CREATE OR REPLACE FUNCTION deskwoot_search_articles(q tsquery, hits integer)
RETURNS TABLE (article_id bigint, score real)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, public
SET enable_seqscan = off
AS $$
DECLARE
    tenant bigint := nullif(current_setting('deskwoot.account_id', true), '')::bigint;
BEGIN
    IF tenant IS NULL OR q IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY WITH found AS MATERIALIZED (
            SELECT a.id, a.account_id, a.status, a.search FROM articles a
            WHERE deskwoot_tenant_lexemes(a.account_id, a.search) @@ deskwoot_tenant_query(tenant, q))
        SELECT f.id, ts_rank(f.search, q) FROM found f
        WHERE f.account_id = tenant AND f.status = 'published' AND f.search @@ q
        ORDER BY f.id DESC LIMIT least(greatest(hits, 1), 1000);
END $$;

-- What the functions return, for the planner of the statements that join
-- their rows (1000 by default, which made a join read all of a workspace's
-- conversations instead of looking each one up).
ALTER FUNCTION deskwoot_search_query(text, text[]) ROWS 1;
ALTER FUNCTION deskwoot_search_contacts(tsquery, bigint[], bigint, integer) ROWS 200;

REVOKE deskwoot_search FROM current_user;
