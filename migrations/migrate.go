// Package migrations holds the numbered SQL migrations and applies them.
//
// Each file NNNN_name.sql runs in its own transaction and is recorded in
// schema_migrations; any known version not yet recorded is applied, in
// version order. Concurrent runs serialise on an advisory lock. A database
// that has a newer version than this binary knows is refused. After the
// migrations, the run-time role deskwoot_app is created or updated and
// grants.sql gives it exactly what it needs.
package migrations

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// All returns the embedded migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		body, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Atoi(m[1])
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations: two files have version %04d", ms[i].Version)
		}
	}
	return ms, nil
}

// Options for Run.
type Options struct {
	// AppPassword is set as deskwoot_app's password when not empty
	// (DESKWOOT_APP_PASSWORD); under trust auth it may stay empty.
	AppPassword string
	Log         io.Writer
	// UpTo stops before the first migration newer than it (0 applies all):
	// tests build an old schema, fill it, then migrate the rest.
	UpTo int
}

// lockKey is the advisory lock that serialises concurrent migrate runs.
const lockKey = 0x6465736b776f6f74 // "deskwoot"

// Run applies pending migrations over an owner connection and refreshes the
// app role and its grants. It returns the schema version reached.
func Run(ctx context.Context, ownerURL string, o Options) (int, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	ms, err := All()
	if err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return 0, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockKey)); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(lockKey))

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	done := map[int]bool{}
	current := 0
	for _, v := range applied {
		if !known[v] {
			return v, fmt.Errorf("migrate: the database has migration %04d, which this binary does not know; run a newer deskwoot", v)
		}
		done[v], current = true, max(current, v)
	}
	if err := ensureAppRole(ctx, conn, o.AppPassword); err != nil {
		return current, err
	}
	for _, m := range ms {
		if done[m.Version] || (o.UpTo > 0 && m.Version > o.UpTo) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return current, fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
		}
		current = max(current, m.Version)
		fmt.Fprintf(o.Log, "migrated %04d_%s\n", m.Version, m.Name)
	}
	if err := migrateRiver(ctx, conn, o.Log); err != nil {
		return current, err
	}
	grants, err := files.ReadFile("grants.sql")
	if err != nil {
		return current, err
	}
	if _, err := conn.Exec(ctx, string(grants)); err != nil {
		return current, fmt.Errorf("migrate: grants: %w", err)
	}
	if err := ensureAuditKey(ctx, conn); err != nil {
		return current, err
	}
	return current, nil
}

// ensureAuditKey generates the audit signing key the first time migrate
// runs with its table (0046): 32 random bytes, an Ed25519 seed, kept for
// servers given no DESKWOOT_AUDIT_SIGNING_KEY (audit.StoredKey reads it).
// Later runs keep the key there is.
func ensureAuditKey(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.audit_signing_key') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return err
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return fmt.Errorf("migrate: audit signing key: %w", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit_signing_key (seed) VALUES ($1) ON CONFLICT DO NOTHING`, seed); err != nil {
		return fmt.Errorf("migrate: audit signing key: %w", err)
	}
	return nil
}

// ensureAppRole creates or updates deskwoot_app: it may log in, and is never
// a superuser nor able to bypass row-level security.
func ensureAppRole(ctx context.Context, conn *pgx.Conn, password string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deskwoot_app')`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE ROLE deskwoot_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`); err != nil {
			return fmt.Errorf("migrate: create role deskwoot_app (the owner needs CREATEROLE): %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `ALTER ROLE deskwoot_app LOGIN`); err != nil {
		return fmt.Errorf("migrate: alter role deskwoot_app: %w", err)
	}
	// Only a superuser may change these attributes, so change them only when
	// they are wrong (an owner with just CREATEROLE then gets a clear error).
	var super, bypass bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'deskwoot_app'`).Scan(&super, &bypass); err != nil {
		return err
	}
	if super || bypass {
		if _, err := conn.Exec(ctx, `ALTER ROLE deskwoot_app NOSUPERUSER NOBYPASSRLS`); err != nil {
			return fmt.Errorf("migrate: deskwoot_app is a superuser or bypasses RLS and cannot be fixed by this role: %w", err)
		}
	}
	if password != "" {
		var stmt string
		if err := conn.QueryRow(ctx, `SELECT format('ALTER ROLE deskwoot_app PASSWORD %L', $1::text)`, password).Scan(&stmt); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: set deskwoot_app password: %w", err)
		}
	}
	// An app transaction left open would hold back the events feed and the
	// audit sealer (both release rows below the oldest running transaction),
	// so the app role's idle transactions are ended after a minute.
	if _, err := conn.Exec(ctx, `ALTER ROLE deskwoot_app SET idle_in_transaction_session_timeout = '60s'`); err != nil {
		return fmt.Errorf("migrate: configure deskwoot_app: %w", err)
	}
	var grant string
	if err := conn.QueryRow(ctx, `SELECT format('GRANT CONNECT ON DATABASE %I TO deskwoot_app', current_database())`).Scan(&grant); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, grant)
	return err
}
