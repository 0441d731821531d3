// Package dbtest gives tests a real, migrated PostgreSQL.
//
// Under `make test` every package shares the cluster cmd/pgrun started
// (DATABASE_URL, DESKWOOT_APP_DATABASE_URL). A package run alone
// (`go test ./desk`) starts its own throwaway cluster in TestMain. Tests
// connect as deskwoot_app, so row-level security is really in force, and each
// test makes its own tenants instead of truncating shared tables.
package dbtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/tenancy"
)

var (
	ownerURL, appURL, superURL string

	appOnce sync.Once
	appDB   *tenancy.DB
	appErr  error

	ownerOnce sync.Once
	ownerDB   *pgxpool.Pool
	ownerErr  error
)

// Main is TestMain for packages that need the database.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	ownerURL = os.Getenv("DATABASE_URL")
	superURL = os.Getenv("DESKWOOT_TEST_SUPERUSER_URL")
	if ownerURL == "" {
		c, err := localpg.Start(ctx, localpg.Options{Fast: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
		defer func() {
			c.Stop()
			os.RemoveAll(c.Dir)
		}()
		ownerURL, appURL, superURL = c.OwnerURL, c.AppURL, c.SuperuserURL()
	} else if appURL = os.Getenv("DESKWOOT_APP_DATABASE_URL"); appURL == "" {
		var err error
		if appURL, err = tenancy.AppURL(ownerURL, os.Getenv("DESKWOOT_APP_PASSWORD")); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
	}
	if _, err := migrations.Run(ctx, ownerURL, migrations.Options{AppPassword: os.Getenv("DESKWOOT_APP_PASSWORD")}); err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	code := m.Run()
	if appDB != nil {
		appDB.Close()
	}
	if ownerDB != nil {
		ownerDB.Close()
	}
	return code
}

// OwnerURL is the migration owner's connection.
func OwnerURL() string { return ownerURL }

// AppURL is deskwoot_app's connection.
func AppURL() string { return appURL }

// SuperuserURL is a superuser connection when the test cluster provides one.
func SuperuserURL() string { return superURL }

// App is the package's shared pool as deskwoot_app.
func App(t testing.TB) *tenancy.DB {
	t.Helper()
	appOnce.Do(func() { appDB, appErr = tenancy.Open(context.Background(), appURL) })
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appDB
}

// Owner is a pool as the schema owner (still bound by FORCE RLS).
func Owner(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ownerOnce.Do(func() { ownerDB, ownerErr = pgxpool.New(context.Background(), ownerURL) })
	if ownerErr != nil {
		t.Fatal(ownerErr)
	}
	return ownerDB
}

// Identities is identity.Identities with a cheap password hash for tests.
func Identities(t testing.TB) *identity.Identities {
	return &identity.Identities{DB: App(t), PasswordCost: bcrypt.MinCost}
}

var seq struct {
	sync.Mutex
	n int
}

// Unique returns a string unique within this test process run.
func Unique(prefix string) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("%s-%d-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.n)
}

// Tenant is a fresh account made through signup.
type Tenant struct {
	identity.SignupResult
}

// NewTenant signs up a new account with a unique admin email.
func NewTenant(t testing.TB) Tenant {
	t.Helper()
	u := Unique("t")
	res, err := Identities(t).Signup(context.Background(), identity.SignupInput{
		AccountName: "Acme " + u, Email: u + "@example.com", Password: "correct horse battery",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Tenant{res}
}

// MCPTenant signs up a new account, switches MCP on and mints one token
// (conversations:read, perMinute calls a minute), returned raw.
func MCPTenant(t testing.TB, perMinute int) (Tenant, string) {
	t.Helper()
	ctx := context.Background()
	ten := NewTenant(t)
	db := App(t)
	if _, err := identity.MCPEnable(ctx, db, tenancy.For(ten.Account.ID), true); err != nil {
		t.Fatal(err)
	}
	_, raw, err := identity.MCPTokenCreate(ctx, db, tenancy.For(ten.Account.ID), identity.MCPTokenInput{Name: "bot", Scopes: []string{"conversations:read"},
		RateLimitPerMinute: perMinute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ten, raw
}

// Scratch creates and migrates a database of the test's own on the test
// cluster (dropped at cleanup), for tests whose background workers must
// not meet other packages' (the outbox's River queue is shared by every
// process on one database). It skips without the cluster's superuser.
func Scratch(t *testing.T, name string) (ownerURL, appURL string) {
	t.Helper()
	return ScratchAt(t, name, 0)
}

// ScratchAt is Scratch migrated only up to migration upTo (0: all), for
// tests that fill an old schema and then migrate the rest
// (migrations.Run with the URLs it returns).
func ScratchAt(t *testing.T, name string, upTo int) (ownerURL, appURL string) {
	t.Helper()
	ctx := context.Background()
	if superURL == "" {
		t.Skip("needs the test cluster's superuser to create a scratch database")
	}
	su, err := pgx.Connect(ctx, superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	name = fmt.Sprintf("%s_%d", name, os.Getpid())
	su.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if _, err := su.Exec(ctx, "CREATE DATABASE "+name+" OWNER deskwoot_owner"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		su, err := pgx.Connect(context.Background(), superURL)
		if err == nil {
			su.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			su.Close(context.Background())
		}
	})
	swap := func(u string) string {
		if !strings.Contains(u, "/deskwoot?") {
			t.Skipf("cannot derive a scratch database URL from %q", u)
		}
		return strings.Replace(u, "/deskwoot?", "/"+name+"?", 1)
	}
	ownerURL, appURL = swap(OwnerURL()), swap(AppURL())
	if _, err := migrations.Run(ctx, ownerURL, migrations.Options{AppPassword: os.Getenv("DESKWOOT_APP_PASSWORD"), UpTo: upTo}); err != nil {
		t.Fatal(err)
	}
	return ownerURL, appURL
}

// OldWorkspace is ScratchAt(t, name, upTo) with one workspace signed up in
// it ("Old", old@example.com) and the database opened as the app role,
// for tests that write rows as the old schema had them, migrate the rest
// (migrations.Run with ownerURL) and read them back.
func OldWorkspace(t *testing.T, name string, upTo int) (ownerURL string, db *tenancy.DB, acct int64) {
	t.Helper()
	ctx := context.Background()
	ownerURL, appURL := ScratchAt(t, name, upTo)
	db, err := tenancy.Open(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	res, err := (&identity.Identities{DB: db, PasswordCost: bcrypt.MinCost}).Signup(ctx,
		identity.SignupInput{AccountName: "Old", Email: "old@example.com", Password: "correct horse battery"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ownerURL, db, res.Account.ID
}

// RefuseAuditRows makes PostgreSQL refuse every audit row of account acct
// until the test ends, as a full disk or a broken trigger would: whatever
// writes one fails. Tests use it to show that a change and its audit row
// commit together or not at all.
func RefuseAuditRows(t testing.TB, acct int64) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("deskwoot_test_refuse_audit_%d", acct)
	owner := Owner(t)
	if _, err := owner.Exec(ctx, `CREATE FUNCTION `+name+`() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit rows of this account are refused (test)'; END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(ctx, fmt.Sprintf(`CREATE TRIGGER %s BEFORE INSERT ON audit_log FOR EACH ROW
		WHEN (NEW.account_id = %d) EXECUTE FUNCTION %s()`, name, acct, name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		owner.Exec(ctx, `DROP TRIGGER IF EXISTS `+name+` ON audit_log`)
		owner.Exec(ctx, `DROP FUNCTION IF EXISTS `+name+`()`)
	})
}
