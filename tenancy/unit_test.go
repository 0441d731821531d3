package tenancy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestUnit: a unit of work commits its first batch, what its function
// does and its last batch together, in the tenant; when the function or
// any statement of the last batch fails nothing commits, and the
// connection (the pool's only one) serves the next caller with no
// transaction and no tenant left over.
func TestUnit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := &tenancy.DB{Pool: pool}
	acct := dbtest.NewTenant(t).Account.ID
	boom := errors.New("boom")
	var pid, pidAfter int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	err = db.Unit(ctx, tenancy.For(acct), labelInsert("first-fails"), func(tx pgx.Tx) (*pgx.Batch, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing function: %v", err)
	}
	err = db.Unit(ctx, tenancy.For(acct), labelInsert("last-fails"), func(tx pgx.Tx) (*pgx.Batch, error) {
		last := labelInsert("last-fails-too")
		last.Queue(`SELECT 1/0`)
		return last, nil
	})
	if err == nil {
		t.Fatal("a failing last batch committed")
	}
	// The pool closes a connection released inside a transaction: the same
	// backend afterwards means the failed units rolled back.
	var tenant string
	if err := pool.QueryRow(ctx, `SELECT current_setting('deskwoot.account_id', true), pg_backend_pid()`).Scan(&tenant, &pidAfter); err != nil {
		t.Fatal(err)
	}
	if tenant != "" || pidAfter != pid {
		t.Fatalf("after failed units: backend %d (was %d), tenant %q; want the same backend, no tenant", pidAfter, pid, tenant)
	}
	for _, name := range []string{"first-fails", "last-fails", "last-fails-too"} {
		if labelExists(t, db, acct, name) {
			t.Errorf("label %s of a failed unit committed", name)
		}
	}

	err = db.Unit(ctx, tenancy.For(acct), labelInsert("begun"), func(tx pgx.Tx) (*pgx.Batch, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO labels (account_id, name) VALUES ($1, 'middle')`, acct); err != nil {
			return nil, err
		}
		return labelInsert("committed"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"begun", "middle", "committed"} {
		if !labelExists(t, db, acct, name) {
			t.Errorf("label %s of a unit that succeeded is missing", name)
		}
	}
}

// TestUnitCarriesTheGuard: a unit of work carries the request's guard in
// the round trip that begins it. With the token current the unit commits
// and the guard is verified; once the token is revoked the unit fails with
// ErrPrincipalChanged before its function runs, commits nothing, and its
// connection (the pool's only one) is rolled back and reused.
func TestUnitCarriesTheGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := &tenancy.DB{Pool: pool}
	ten, raw := dbtest.MCPTenant(t, 100)
	acct := ten.Account.ID
	p, err := identity.AuthenticateMCP(ctx, db, raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	guard := func() (*tenancy.Guard, *tenancy.Request) {
		g := p.Guard(1, time.Now(), nil)
		return g, &tenancy.Request{AccountID: acct, Guard: g}
	}
	g, req := guard()
	if err := db.Unit(ctx, req, labelInsert("guarded"), func(tx pgx.Tx) (*pgx.Batch, error) { return nil, nil }); err != nil || !g.Verified() {
		t.Fatalf("current principal: %v, verified %v", err, g.Verified())
	}
	if err := identity.MCPTokenRevoke(ctx, db, tenancy.For(acct), p.TokenID); err != nil {
		t.Fatal(err)
	}
	var pid, pidAfter int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	g, req = guard()
	err = db.Unit(ctx, req, labelInsert("revoked"), func(tx pgx.Tx) (*pgx.Batch, error) {
		t.Error("a unit ran its function for a revoked token")
		return nil, nil
	})
	if !errors.Is(err, tenancy.ErrPrincipalChanged) || !g.Stale() {
		t.Fatalf("revoked token: %v, stale %v", err, g.Stale())
	}
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pidAfter); err != nil || pidAfter != pid {
		t.Fatalf("after the refusal: backend %d (was %d), %v", pidAfter, pid, err)
	}
	if !labelExists(t, db, acct, "guarded") || labelExists(t, db, acct, "revoked") {
		t.Fatal("the current unit did not commit, or the revoked one did")
	}
}
