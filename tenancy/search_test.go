package tenancy_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// The search functions (migration 0031) run as deskwoot_search, which a
// policy lets read every tenant's rows so that the GIN indexes serve: the
// fence there is the functions' own filter on the tenant setting. These
// tests hold every function that role owns to it, from the catalog, so a
// new one cannot slip through unchecked.

// searchFixture is what a tenant holds for the checks, besides fillTenant's
// rows: a contact with a word no other tenant has.
type searchFixture struct {
	acct int64
	word string
}

// quokkas finds the fixture's words in a query's text.
var quokkas = regexp.MustCompile(`quokka[bcdfghjkmn]+\b`)

// letters spells n in letters: vocabulary words carry no digits.
//
// The letters are consonants that no English stemming rule strips, so
// that a word's lexeme is the word itself: with a to j, an account whose
// number ends in 4 got a word ending in "e", which the stemmer cut off in
// the query's text, so that the test took its own word for another's.
func letters(n int64) string {
	return strings.Map(func(r rune) rune { return rune("bcdfghjkmn"[r-'0']) }, fmt.Sprint(n))
}

// searchChecks says, for each function deskwoot_search owns, how to call it
// (named fn, so that a broken copy can take its place) inside tenant me so
// that it would find rows of both tenants, and fails if anything of other
// comes back. Functions that only help the others are called through them.
var searchChecks = map[string]func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error{
	"deskwoot_search_conversations": func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error {
		rows, _ := tx.Query(ctx, `SELECT conversation_id FROM `+fn+`(to_tsquery('english', 'hello'), to_tsquery('simple', 'jane'), NULL, 100)`)
		return onlyOwn(ctx, tx, "conversations", rows)
	},
	"deskwoot_search_contacts": func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error {
		rows, _ := tx.Query(ctx, `SELECT contact_id FROM `+fn+`(to_tsquery('simple', 'jane'), NULL, 0, 100)`)
		return onlyOwn(ctx, tx, "contacts", rows)
	},
	"deskwoot_search_contact_ids": func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error {
		rows, _ := tx.Query(ctx, `SELECT `+fn+`(to_tsquery('simple', 'jane'), 100)`)
		return onlyOwn(ctx, tx, "contacts", rows)
	},
	"deskwoot_search_articles": func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error {
		rows, _ := tx.Query(ctx, `SELECT article_id FROM `+fn+`(to_tsquery('english', 'refund'), 100)`)
		return onlyOwn(ctx, tx, "articles", rows)
	},
	// The query is widened with look-alikes of the tenant's own words only:
	// a typo of the other tenant's word must not bring that word in.
	"deskwoot_search_query": func(ctx context.Context, tx pgx.Tx, fn string, me, other searchFixture) error {
		widened := func(typo string) ([]string, error) {
			var q, qc string
			err := tx.QueryRow(ctx, `SELECT q::text, qc::text FROM `+fn+`($1, ARRAY[$2])`, "'"+typo+"'", typo).Scan(&q, &qc)
			return quokkas.FindAllString(q+" "+qc, -1), err
		}
		words, err := widened(other.word[:len(other.word)-1] + "z")
		if err != nil {
			return err
		}
		for _, w := range words {
			if w != me.word {
				return fmt.Errorf("the query was widened with another tenant's word %q", w)
			}
		}
		// The tenant's own word is found from its typo: the check can fail.
		if words, err = widened(me.word[:len(me.word)-1] + "z"); err != nil {
			return err
		}
		if !slices.Contains(words, me.word) {
			return fmt.Errorf("a typo of the tenant's own word %q was not widened: %v", me.word, words)
		}
		return nil
	},
	"deskwoot_search_widen": nil, // pure: no table, no tenant (deskwoot_search_query's check covers it)
}

// onlyOwn reads ids a search function returned and fails unless the
// tenant's own row-level security shows every one of them, and there is at
// least one (the fixture matches in both tenants, so the check can fail).
func onlyOwn(ctx context.Context, tx pgx.Tx, table string, rows pgx.Rows) error {
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // a conversation may match by a message and by its contact
	if len(ids) == 0 {
		return fmt.Errorf("found none of the tenant's own %s: the fixture must match", table)
	}
	var visible int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE id = ANY ($1)`, ids).Scan(&visible); err != nil {
		return err
	}
	if visible != len(ids) {
		return fmt.Errorf("returned %d %s of which the tenant's own are %d: rows of another tenant leaked", len(ids), table, visible)
	}
	return nil
}

// searchTenants makes two tenants with fillTenant's rows and a word each.
func searchTenants(t *testing.T) (a, b searchFixture) {
	t.Helper()
	owner, app := dbtest.Owner(t), dbtest.App(t)
	for _, f := range []*searchFixture{&a, &b} {
		ten := dbtest.NewTenant(t)
		fillTenant(t, owner, ten.Account.ID, ten.User.ID)
		f.acct, f.word = ten.Account.ID, "quokka"+letters(ten.Account.ID)
		err := app.InTenant(context.Background(), f.acct, func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO contacts (account_id, name) VALUES ($1, $2)`, f.acct, "Wendy "+f.word)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func searchFunctions(t *testing.T) []string {
	t.Helper()
	rows, _ := dbtest.Owner(t).Query(context.Background(),
		`SELECT proname FROM pg_proc WHERE proowner = 'deskwoot_search'::regrole ORDER BY 1`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestSearchFunctionsStayInTheirTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := dbtest.App(t)
	a, b := searchTenants(t)
	fns := searchFunctions(t)
	if len(fns) < 5 {
		t.Fatalf("deskwoot_search owns %v; the search functions are missing", fns)
	}
	for _, fn := range fns {
		check, known := searchChecks[fn]
		if !known {
			t.Errorf("function %s runs as deskwoot_search but has no tenant check in searchChecks", fn)
			continue
		}
		if check == nil {
			continue
		}
		for _, dir := range []struct {
			name      string
			me, other searchFixture
		}{{"A sees not B", a, b}, {"B sees not A", b, a}} {
			t.Run(fn+"/"+dir.name, func(t *testing.T) {
				err := app.InTenant(ctx, dir.me.acct, func(tx pgx.Tx) error { return check(ctx, tx, fn, dir.me, dir.other) })
				if err != nil {
					t.Fatal(err)
				}
			})
		}
		t.Run(fn+"/no tenant finds nothing", func(t *testing.T) {
			var n int
			err := app.Pool.QueryRow(ctx, `SELECT count(*) FROM `+fn+`(`+noTenantArgs[fn]+`)`).Scan(&n)
			if err != nil || n != 0 {
				t.Fatalf("%d rows, %v", n, err)
			}
		})
	}
}

// noTenantArgs call each function outside any tenant.
var noTenantArgs = map[string]string{
	"deskwoot_search_conversations": `to_tsquery('english', 'hello'), to_tsquery('simple', 'jane'), NULL, 100`,
	"deskwoot_search_contacts":      `to_tsquery('simple', 'jane'), NULL, 0, 100`,
	"deskwoot_search_contact_ids":   `to_tsquery('simple', 'jane'), 100`,
	"deskwoot_search_articles":      `to_tsquery('english', 'refund'), 100`,
	"deskwoot_search_query":         `'''jane''', '{jane}'`,
}

// tenantFilter is a function's filter on the tenant, in SQL or in a
// dynamic statement; tenantWords its look-up of the tenant's indexed words
// (migration 0033), which the broken versions point at each row's own.
var (
	tenantFilter = regexp.MustCompile(`(\w+)\.account_id = (tenant|\$1)\b`)
	tenantWords  = regexp.MustCompile(`deskwoot_tenant_lexemes\((\w+)\.account_id, (\w+)\.search\) @@ deskwoot_tenant_query\((?:tenant|\$1), `)
)

// TestSearchCheckCatchesFunctionsThatIgnoreTheTenant: with every search
// function's filter on the tenant removed, the check of each definer
// fails, so a passing check means something. The broken functions replace
// the real ones in a transaction that is rolled back. (A function that is
// no definer runs under the caller's row-level security and stays fenced
// without its filter; inside a definer it does not, which the definers'
// checks catch.)
func TestSearchCheckCatchesFunctionsThatIgnoreTheTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := searchTenants(t)
	tx, err := dbtest.Owner(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	rows, _ := tx.Query(ctx, `SELECT proname, prosecdef, pg_get_functiondef(oid) FROM pg_proc WHERE proowner = 'deskwoot_search'::regrole ORDER BY 1`)
	type fn struct {
		name    string
		definer bool
		def     string
	}
	fns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fn, error) {
		var f fn
		return f, r.Scan(&f.name, &f.definer, &f.def)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Act for deskwoot_search as the migration does, only to replace them.
	exec := func(sql string) {
		t.Helper()
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`GRANT deskwoot_search TO current_user`)
	for _, f := range fns {
		broken := tenantFilter.ReplaceAllString(f.def, "$1.account_id IS NOT NULL")
		broken = tenantWords.ReplaceAllString(broken, "deskwoot_tenant_lexemes($1.account_id, $2.search) @@ deskwoot_tenant_query($1.account_id, ")
		if searchChecks[f.name] != nil && broken == f.def {
			t.Fatalf("could not break %s: its definition has no filter on the tenant to remove", f.name)
		}
		exec(broken)
		exec(`GRANT EXECUTE ON FUNCTION ` + f.name + ` TO current_user`)
	}
	// Out of the role again: its policies would let the owner see every
	// tenant, and the checks count what tenant A may see.
	exec(`REVOKE deskwoot_search FROM current_user`)
	if _, err := tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, a.acct); err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		check := searchChecks[f.name]
		if check == nil || !f.definer {
			continue
		}
		if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
			t.Fatal(err)
		}
		err := check(ctx, tx, f.name, a, b)
		if err == nil {
			t.Errorf("the check of %s passed a version that ignores the tenant", f.name)
		} else if !strings.Contains(err.Error(), "leaked") && !strings.Contains(err.Error(), "another tenant") {
			t.Errorf("the broken %s failed for another reason: %v", f.name, err)
		}
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSearchRoleIsUsedForNothingElse: deskwoot_search cannot log in, is no
// superuser and bypasses nothing, owns only search functions, may only
// read the tables searched, and is the only role a policy lets past the
// tenant. Its functions pin search_path.
func TestSearchRoleIsUsedForNothingElse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := dbtest.Owner(t)
	var login, super, bypass bool
	if err := owner.QueryRow(ctx, `SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'deskwoot_search'`).Scan(&login, &super, &bypass); err != nil {
		t.Fatal(err)
	}
	if login || super || bypass {
		t.Errorf("deskwoot_search: login %v, superuser %v, bypassrls %v; want none", login, super, bypass)
	}
	var owned []string
	rows, _ := owner.Query(ctx, `SELECT relname FROM pg_class WHERE relowner = 'deskwoot_search'::regrole`)
	if owned, _ = pgx.CollectRows(rows, pgx.RowTo[string]); len(owned) != 0 {
		t.Errorf("deskwoot_search owns relations %v", owned)
	}
	for _, fn := range searchFunctions(t) {
		if !strings.HasPrefix(fn, "deskwoot_search_") {
			t.Errorf("deskwoot_search owns %s, which is no search function", fn)
		}
		var config []string
		if err := owner.QueryRow(ctx, `SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE proname = $1`, fn).Scan(&config); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(config, "search_path=pg_catalog, public") {
			t.Errorf("%s does not pin search_path: %v", fn, config)
		}
	}
	rows, _ = owner.Query(ctx, `SELECT table_name || ':' || privilege_type FROM information_schema.role_table_grants
		WHERE grantee = 'deskwoot_search' ORDER BY 1`)
	grants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"accounts:SELECT", "articles:SELECT", "contact_inboxes:SELECT", "contacts:SELECT", "conversations:SELECT", "messages:SELECT", "search_words:SELECT"}
	if !slices.Equal(grants, want) {
		t.Errorf("deskwoot_search may %v; want only %v", grants, want)
	}
	// Every policy that does not filter by the tenant is the search role's,
	// and only for reading.
	rows, _ = owner.Query(ctx, `SELECT tablename || ' ' || policyname || ' ' || cmd || ' ' || array_to_string(roles, ',')
		FROM pg_policies WHERE schemaname = 'public' AND qual = 'true'`)
	open, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range open {
		if !strings.HasSuffix(p, "search_definer SELECT deskwoot_search") {
			t.Errorf("policy lets every row through for someone else than deskwoot_search: %s", p)
		}
	}
	if len(open) != len(want) {
		t.Errorf("policies for deskwoot_search: %v", open)
	}
}
