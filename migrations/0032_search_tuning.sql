-- Search tuning, measured with deskwoot bench --scale large (issue 23).
--
-- 1. GIN pending lists. With fastupdate, new entries wait in an unsorted
--    pending list (4 MB by default) that every index scan reads whole until
--    a vacuum merges it: after a burst of writes the search functions' GIN
--    look-ups cost tens of milliseconds whatever they found. A 256 kB list
--    keeps writes batched and bounds what a search reads on top of its
--    matches.
-- 2. Triggers. A function with a SET clause pays for saving and restoring
--    the setting on every call: the per-row look-up of the account's
--    language through deskwoot_search_config took about two thirds of a
--    message insert's trigger time. The trigger functions read the account
--    themselves, naming the schema of the tables (they run as the writer,
--    and pg_catalog comes first in any search_path that does not name it,
--    so a pinned search_path protected nothing more).

ALTER INDEX messages_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX conversations_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX contacts_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX articles_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX search_words_trgm_idx SET (gin_pending_list_limit = 256);
SELECT gin_clean_pending_list(i::regclass) FROM unnest(ARRAY['messages_search_idx', 'conversations_search_idx',
    'contacts_search_idx', 'articles_search_idx', 'search_words_trgm_idx']) i;

CREATE OR REPLACE FUNCTION deskwoot_message_search() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lang text;
BEGIN
    SELECT a.search_language INTO lang FROM public.accounts a WHERE a.id = NEW.account_id;
    NEW.search := to_tsvector(coalesce(lang, 'english')::regconfig, NEW.content);
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION deskwoot_subject_search() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lang text;
BEGIN
    SELECT a.search_language INTO lang FROM public.accounts a WHERE a.id = NEW.account_id;
    NEW.search := to_tsvector(coalesce(lang, 'english')::regconfig, NEW.subject);
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION deskwoot_article_search() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lang text;
    cfg regconfig;
BEGIN
    SELECT a.search_language INTO lang FROM public.accounts a WHERE a.id = NEW.account_id;
    cfg := coalesce(lang, 'english')::regconfig;
    NEW.search := setweight(to_tsvector(cfg, NEW.title), 'A')
        || setweight(to_tsvector(cfg, NEW.body), 'B');
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION deskwoot_contact_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        INSERT INTO public.search_words (account_id, word)
        SELECT NEW.account_id, w FROM unnest(tsvector_to_array(NEW.search)) w
        WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    INSERT INTO public.search_words (account_id, word)
    SELECT DISTINCT n.account_id, w FROM written n, unnest(tsvector_to_array(n.search)) w
    WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deskwoot_subject_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        INSERT INTO public.search_words (account_id, word)
        SELECT NEW.account_id, w FROM unnest(tsvector_to_array(to_tsvector('simple', NEW.subject))) w
        WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    INSERT INTO public.search_words (account_id, word)
    SELECT DISTINCT n.account_id, w FROM written n, unnest(tsvector_to_array(to_tsvector('simple', n.subject))) w
    WHERE length(w) BETWEEN 3 AND 40 AND w !~ '[0-9]'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

-- No longer called by anything.
DROP FUNCTION deskwoot_search_words_add(bigint, tsvector);
DROP FUNCTION deskwoot_search_config(bigint);
