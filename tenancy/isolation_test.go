package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// globalTables are the only tables allowed without account_id (DESIGN §12).
// Adding a table without account_id and without listing it here fails
// TestEveryTenantTableIsFenced.
var globalTables = map[string]string{
	"accounts":          "the tenant itself, fenced on its id",
	"users":             "global login identities, fenced through memberships",
	"schema_migrations": "migration bookkeeping, no grant to the app",
	"token_lookup":      "pre-tenant token hash look-up, read only by a SECURITY DEFINER function",
	"server_secrets":    "server-wide keys, read only by a SECURITY DEFINER function",
	"login_identities":  "email → user and password hash for sign-in, read only by a SECURITY DEFINER function",
	"login_memberships": "user → accounts for sign-in, read only by a SECURITY DEFINER function",
	"billing_customers": "pre-tenant Stripe customer -> account look-up for webhooks, read and written only by SECURITY DEFINER functions",
	"account_directory": "account ids for operator commands (the owner is bound by FORCE RLS); filled by a SECURITY DEFINER trigger, no grant to the app",

	// Console (issue 9).
	"session_lookup": "pre-tenant console session hash -> account and session look-up, read and written only by SECURITY DEFINER functions",

	// OAuth (issue 10).
	"oauth_token_lookup": "pre-tenant OAuth token hash -> account look-up; written by a SECURITY DEFINER trigger on oauth_tokens, read by a SECURITY DEFINER function, no grant to the app",
	"oauth_clients":      "dynamically registered OAuth clients, global because they register before any tenant; read and written only by SECURITY DEFINER functions",

	// Channels (issue 5).
	"email_inbound_addresses": "pre-tenant inbound mail address -> account and inbox look-up for the SMTP listener; written by a SECURITY DEFINER trigger on inboxes, read by a SECURITY DEFINER function, no grant to the app",

	// Website chat (issue 22).
	"account_slugs":  "pre-tenant help-center slug -> account look-up; written by a SECURITY DEFINER trigger on accounts and function, read by SECURITY DEFINER functions, no grant to the app",
	"widget_inboxes": "pre-tenant widget public id -> account and inbox look-up; written by a SECURITY DEFINER trigger on inboxes, read by a SECURITY DEFINER function, no grant to the app",

	// Email-confirmed signup (issues 18 and 21).
	"signup_requests": "pre-tenant signups waiting for their email's confirmation; read and written only by SECURITY DEFINER functions, no grant to the app",

	// Audit checkpoints (issue 23).
	"audit_signing_key": "the server's audit signing key that migrate generates, read by the owner only (no grant to the app, no function)",
}

// fillTenant writes one row of the tenant into every tenant table, as the
// owner (which FORCE RLS binds too, so the tenant must be set).
func fillTenant(t *testing.T, owner *pgxpool.Pool, acct, userID int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	stmts := []string{
		`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`,
		`INSERT INTO inboxes (account_id, name, channel) VALUES ($1, 'Support', 'api')`,
		`INSERT INTO inbox_members (account_id, inbox_id, user_id) SELECT $1, max(id), (SELECT min(user_id) FROM account_users) FROM inboxes`,
		`INSERT INTO teams (account_id, name) VALUES ($1, 'Tier 2')`,
		`INSERT INTO team_members (account_id, team_id, user_id) SELECT $1, max(id), (SELECT min(user_id) FROM account_users) FROM teams`,
		`INSERT INTO contacts (account_id, name, email) VALUES ($1, 'Jane', 'jane@example.com')`,
		`INSERT INTO contact_inboxes (account_id, contact_id, inbox_id) SELECT $1, (SELECT max(id) FROM contacts), max(id) FROM inboxes`,
		`INSERT INTO contact_notes (account_id, contact_id, content) SELECT $1, max(id), 'vip' FROM contacts`,
		`INSERT INTO labels (account_id, name) VALUES ($1, 'billing')`,
		`INSERT INTO conversations (account_id, inbox_id, contact_id) SELECT $1, (SELECT max(id) FROM inboxes), max(id) FROM contacts`,
		`INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, sender_kind) SELECT $1, max(id), max(inbox_id), 'incoming', 'hello', 'contact' FROM conversations`,
		`INSERT INTO mcp_tokens (account_id, name, prefix, scopes) VALUES ($1, 'bot', 'dw_mcp_x', '{conversations:read}')`,
		`INSERT INTO articles (account_id, title, body) VALUES ($1, 'Refunds', 'How refunds work')`,
		`INSERT INTO audit_log (account_id, actor_kind, action, decision) VALUES ($1, 'system', 'test', 'allow')`,
		`INSERT INTO drafts (account_id, kind, conversation_id, inbox_id, content, token_id) SELECT $1, 'reply', max(id), max(inbox_id), 'draft', 1 FROM conversations`,
		`INSERT INTO idempotency_keys (account_id, token_id, key, tool, fingerprint, expires_at) VALUES ($1, 1, 'k', 'reply_to_conversation', 'f', now() + interval '1 day')`,
		`INSERT INTO events (account_id, type, data) VALUES ($1, 'contact.created', '{}')`,
		`INSERT INTO audit_chain (account_id, seq, audit_id, hash) SELECT $1, 1, max(id), '\x00' FROM audit_log`,
		`INSERT INTO audit_checkpoints (account_id, public_key, seq, audit_id, hash, signed_at, signature)
			SELECT $1, decode(repeat('00', 32), 'hex'), 1, audit_id, decode(repeat('00', 32), 'hex'), now(), decode(repeat('00', 64), 'hex') FROM audit_chain WHERE seq = 1`,
		`INSERT INTO console_sessions (account_id, user_id, expires_at) VALUES ($1, (SELECT min(user_id) FROM account_users), now() + interval '1 day')`,
		`INSERT INTO oauth_tokens (account_id, kind, signature, request_id, client_id, expires_at, resource, request) VALUES ($1, 'code', sha256($1::bigint::text::bytea), $1::bigint::text || '.r', 'dwc_x', now() + interval '1 hour', 'http://x/api/mcp', '{}')`,
		`INSERT INTO mcp_token_rates (account_id, token_id, tat) SELECT $1, max(id), now() FROM mcp_tokens`,
		`INSERT INTO mcp_token_refusals (account_id, token_id) SELECT $1, max(id) FROM mcp_tokens`,
		`INSERT INTO stripe_events (account_id, event_id, type, created, outcome) VALUES ($1, 'evt_' || $1::bigint::text, 'customer.subscription.updated', now(), 'applied')`,
		`INSERT INTO people_mail (account_id, kind, to_address, subject, body, message_token) VALUES ($1, 'invitation', 'ann@example.com', 'Join', 'a link', 'tok')`,
		`INSERT INTO invitations (account_id, email, role, expires_at) VALUES ($1, 'bo@example.com', 'agent', now() + interval '7 days')`,
		`INSERT INTO password_resets (account_id, user_id, expires_at) VALUES ($1, (SELECT min(user_id) FROM account_users), now() + interval '30 minutes')`,
		`INSERT INTO email_changes (account_id, user_id, new_email, expires_at) VALUES ($1, (SELECT min(user_id) FROM account_users), 'new@example.com', now() + interval '1 day')`,
		`INSERT INTO notifications (account_id, user_id, kind, title, in_app) VALUES ($1, (SELECT min(user_id) FROM account_users), 'assigned', 'Assigned', true)`,
		`INSERT INTO notification_digests (account_id, user_id) VALUES ($1, (SELECT min(user_id) FROM account_users))`,
		`INSERT INTO canned_responses (account_id, short_code, content) VALUES ($1, 'thanks', 'Thank you!')`,
		`INSERT INTO tenant_rules (account_id, version, rego, tests, tests_passed, tests_failed) VALUES ($1, 1, 'package deskwoot.tenant', 'package deskwoot.tenant_test', 1, 0)`,
		`INSERT INTO shadow_trips (account_id, id, candidate_id, audit_ids, tools, befores, afters, reasons) SELECT $1, nextval('shadow_trips_id_seq'), max(id), '{0}', '{list_labels}', '{allow}', '{deny}', '[[]]' FROM tenant_rules`,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s, acct); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func globalNames() []string {
	var names []string
	for n := range globalTables {
		names = append(names, n)
	}
	return names
}

// insertableColumns lists a table's columns that INSERT may set (not generated).
func insertableColumns(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	var cols string
	err := pool.QueryRow(context.Background(), `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`, table).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

func tenantTables(t *testing.T, pool *pgxpool.Pool) (tenant, global []string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped)
		                  AND c.relname <> ALL ($1)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`, globalNames())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var has bool
		if err := rows.Scan(&name, &has); err != nil {
			t.Fatal(err)
		}
		if has {
			tenant = append(tenant, name)
		} else {
			global = append(global, name)
		}
	}
	return tenant, global
}

func TestEveryTenantTableIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner, app := dbtest.Owner(t), dbtest.App(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	fillTenant(t, owner, a.Account.ID, a.User.ID)
	fillTenant(t, owner, b.Account.ID, b.User.ID)

	tables, global := tenantTables(t, owner)
	for _, g := range global {
		if _, ok := globalTables[g]; !ok && !isRiverTable(g) {
			t.Errorf("table %s has no account_id and is not one of the listed global tables", g)
		}
	}
	// A listed global table is either fenced itself or unreadable by the app.
	for g := range globalTables {
		var rls, force, appReads bool
		if err := owner.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity, has_table_privilege('deskwoot_app', oid, 'SELECT')
			FROM pg_class WHERE oid = $1::regclass`, g).Scan(&rls, &force, &appReads); err != nil {
			t.Fatal(err)
		}
		if appReads && !(rls && force) {
			t.Errorf("global table %s is readable by the app without forced RLS", g)
		}
	}
	if len(tables) < 15 {
		t.Fatalf("found only %d tenant tables: %v", len(tables), tables)
	}

	for _, table := range tables {
		for _, dir := range []struct {
			name      string
			me, other int64
		}{{"A sees not B", a.Account.ID, b.Account.ID}, {"B sees not A", b.Account.ID, a.Account.ID}} {
			t.Run(table+"/"+dir.name, func(t *testing.T) {
				var rls, force bool
				if err := owner.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass`, table).Scan(&rls, &force); err != nil {
					t.Fatal(err)
				}
				if !rls || !force {
					t.Fatalf("RLS enabled=%v forced=%v; want both", rls, force)
				}
				err := app.InTenant(ctx, dir.me, func(tx pgx.Tx) error {
					var mine, foreign int
					// A raw read with no WHERE clause: only the tenant's rows come back.
					rows, _ := tx.Query(ctx, fmt.Sprintf(`SELECT account_id FROM %s`, pgx.Identifier{table}.Sanitize()))
					ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
					if err != nil {
						return err
					}
					for _, id := range ids {
						if id == dir.me {
							mine++
						} else {
							foreign++
						}
					}
					if mine == 0 {
						return fmt.Errorf("tenant sees none of its own rows: the fixture must cover %s", table)
					}
					if foreign != 0 {
						return fmt.Errorf("tenant sees %d rows of other tenants", foreign)
					}
					if !canUpdate(ctx, tx, table) {
						return nil // append-only for the app: nothing to update at all
					}
					// Updating the other tenant's rows touches none.
					tag, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET account_id = account_id WHERE account_id = $1`, pgx.Identifier{table}.Sanitize()), dir.other)
					if err != nil {
						return err
					}
					if tag.RowsAffected() != 0 {
						return fmt.Errorf("updated %d rows of another tenant", tag.RowsAffected())
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				// Moving an own row into the other tenant, or inserting a copy
				// of it there, is refused by WITH CHECK (or lacks a grant).
				err = app.InTenant(ctx, dir.me, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET account_id = $1`, pgx.Identifier{table}.Sanitize()), dir.other)
					return err
				})
				if err == nil || !isPermissionOrRLS(err) {
					t.Fatalf("moving a row into another tenant: got %v, want an RLS or permission error", err)
				}
				err = app.InTenant(ctx, dir.me, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE x ON COMMIT DROP AS SELECT * FROM %s LIMIT 1;`, pgx.Identifier{table}.Sanitize()))
					if err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE x SET account_id = $1`, dir.other); err != nil {
						return err
					}
					cols := insertableColumns(t, owner, table)
					_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %[2]s FROM x`, pgx.Identifier{table}.Sanitize(), cols))
					return err
				})
				if err == nil || !isPermissionOrRLS(err) {
					t.Fatalf("inserting a row for another tenant: got %v, want an RLS or permission error", err)
				}
			})
		}
		t.Run(table+"/no tenant sees nothing", func(t *testing.T) {
			var n int
			// A pooled app connection with no tenant set, in its own transaction.
			err := app.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, pgx.Identifier{table}.Sanitize())).Scan(&n)
			if err != nil && !isPermission(err) {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("saw %d rows with no tenant set", n)
			}
		})
	}
}

func canUpdate(ctx context.Context, tx pgx.Tx, table string) bool {
	var ok bool
	tx.QueryRow(ctx, `SELECT has_table_privilege(current_user, $1::regclass, 'UPDATE')`, table).Scan(&ok)
	return ok
}

func isRiverTable(name string) bool { return len(name) > 6 && name[:6] == "river_" }

func isPermission(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

func isPermissionOrRLS(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "44000")
}

func TestGeneratedColumnsAndGlobalTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := dbtest.App(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	// users: a tenant sees its own members only.
	err := app.InTenant(ctx, a.Account.ID, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT id FROM users`)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if !slices.Contains(ids, a.User.ID) || slices.Contains(ids, b.User.ID) {
			return fmt.Errorf("users visible to A: %v (A's admin %d, B's admin %d)", ids, a.User.ID, b.User.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The lookup tables have no grant for the app role at all.
	for _, table := range []string{"token_lookup", "session_lookup", "schema_migrations", "oauth_token_lookup", "oauth_clients", "audit_signing_key", "signup_requests"} {
		_, err := app.Pool.Exec(ctx, `SELECT 1 FROM `+table+` LIMIT 1`)
		if !isPermission(err) {
			t.Errorf("app reading %s: got %v, want permission denied", table, err)
		}
	}
	// The audit trail is append-only for the app.
	err = app.InTenant(ctx, a.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM audit_log`)
		return err
	})
	if !isPermission(errors.Unwrap(err)) && !isPermission(err) {
		t.Errorf("app deleting audit rows: got %v, want permission denied", err)
	}
}

// TestPooledConnectionsNeverLeakTheTenant alternates tenants over a small
// pool from many goroutines, through both InTenant and Batch.
func TestPooledConnectionsNeverLeakTheTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.AppURL()+"&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := &tenancy.DB{Pool: pool}
	tenants := []dbtest.Tenant{dbtest.NewTenant(t), dbtest.NewTenant(t), dbtest.NewTenant(t)}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				ten := tenants[(g+i)%len(tenants)]
				var seen []int64
				var err error
				if i%2 == 0 {
					err = db.InTenant(ctx, ten.Account.ID, func(tx pgx.Tx) error {
						rows, _ := tx.Query(ctx, `SELECT account_id FROM account_users`)
						seen, err = pgx.CollectRows(rows, pgx.RowTo[int64])
						return err
					})
				} else {
					b := &pgx.Batch{}
					b.Queue(`SELECT account_id FROM account_users`).Query(func(rows pgx.Rows) error {
						var err error
						seen, err = pgx.CollectRows(rows, pgx.RowTo[int64])
						return err
					})
					err = db.Batch(ctx, ten.Account.ID, b)
				}
				if err == nil && (len(seen) == 0 || slices.ContainsFunc(seen, func(id int64) bool { return id != ten.Account.ID })) {
					err = fmt.Errorf("tenant %d saw accounts %v", ten.Account.ID, seen)
				}
				if err == nil {
					// Between tenant transactions, a bare query sees nothing.
					var n int
					err = pool.QueryRow(ctx, `SELECT count(*) FROM account_users`).Scan(&n)
					if err == nil && n != 0 {
						err = fmt.Errorf("a connection outside any tenant saw %d rows", n)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
