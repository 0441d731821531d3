package migrations_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/migrations"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// scratchDB creates an empty database owned by the schema owner, dropped
// when the test ends, and returns the owner's URL for it.
func scratchDB(t *testing.T, prefix string) string {
	t.Helper()
	ctx := context.Background()
	if dbtest.SuperuserURL() == "" {
		t.Skip("needs the test cluster's superuser to create a scratch database")
	}
	su, err := pgx.Connect(ctx, dbtest.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { su.Close(context.Background()) })
	name := fmt.Sprintf("%s_%d", prefix, os.Getpid())
	su.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	if _, err := su.Exec(ctx, "CREATE DATABASE "+name+" OWNER deskwoot_owner"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { su.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") })
	return strings.Replace(dbtest.OwnerURL(), "/deskwoot?", "/"+name+"?", 1)
}

// TestMigrateIsRepeatableAndRefusesUnknownVersions runs against a database
// of its own, so that the version it plants cannot disturb other packages.
func TestMigrateIsRepeatableAndRefusesUnknownVersions(t *testing.T) {
	ctx := context.Background()
	url := scratchDB(t, "migtest")

	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1].Version
	for i := 0; i < 2; i++ {
		v, err := migrations.Run(ctx, url, migrations.Options{})
		if err != nil || v != last {
			t.Fatalf("run %d: version %d, %v; want %d", i+1, v, err, last)
		}
	}
	owner, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	var n int
	owner.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	if n != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(all))
	}
	if _, err := owner.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Run(ctx, url, migrations.Options{}); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("migrate over an unknown version: %v, want a refusal naming 9999", err)
	}
	// The app role exists with the right attributes.
	var super, bypass, login bool
	owner.QueryRow(ctx, `SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'deskwoot_app'`).Scan(&super, &bypass, &login)
	if super || bypass || !login {
		t.Fatalf("deskwoot_app: super=%v bypassrls=%v login=%v", super, bypass, login)
	}
}
