package tenancy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// labelInsert is a batch that writes one label: the effect a guard must
// let commit, or stop.
func labelInsert(name string) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO labels (account_id, name) VALUES (current_setting('deskwoot.account_id')::bigint, $1)`, name)
	return b
}

func labelExists(t *testing.T, db *tenancy.DB, acct int64, name string) bool {
	t.Helper()
	var n int
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM labels WHERE name = $1`, name).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	if err := db.Batch(context.Background(), acct, b); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestGuard: a principal kept in memory is re-checked inside the request's
// own transaction. While it is current the transaction commits; once the
// token is revoked, or its account changed, the transaction fails with
// nothing committed, and every later transaction of the request is refused
// without reaching the database. Over the rate limit the transaction does
// nothing and spends nothing, and says how long to wait.
func TestGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	ten, raw := dbtest.MCPTenant(t, 2)
	acct := ten.Account.ID
	p, err := identity.AuthenticateMCP(ctx, db, raw, time.Now())
	if err != nil || p.Stamp == "" {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	guard := func(calls int) (*tenancy.Guard, *tenancy.Request) {
		g := p.Guard(calls, time.Now(), nil)
		return g, &tenancy.Request{AccountID: acct, Guard: g}
	}

	g, req := guard(1)
	if err := db.Unit(ctx, req, labelInsert("current"), nil); err != nil || !g.Verified() {
		t.Fatalf("current principal: %v, verified %v", err, g.Verified())
	}
	if !labelExists(t, db, acct, "current") {
		t.Fatal("the guarded write did not commit")
	}

	// The token's second call of its two a minute passes; the third does
	// nothing and waits about thirty seconds.
	g, req = guard(1)
	if err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) { return nil, nil }); err != nil || !g.Verified() {
		t.Fatalf("second call: %v, verified %v", err, g.Verified())
	}
	g, req = guard(1)
	if err := db.Read(ctx, req, labelInsert("limited")); !tenancy.GuardLimited(err) {
		t.Fatalf("over the limit: %v", err)
	}
	if wait, ok := g.Limited(); !ok || wait < 20*time.Second || wait > 31*time.Second {
		t.Fatalf("over the limit: limited %v, wait %v", ok, wait)
	}
	if labelExists(t, db, acct, "limited") {
		t.Fatal("a write over the rate limit committed")
	}

	// A change of the account (here its plan) makes the cached principal
	// stale.
	owner := &tenancy.DB{Pool: dbtest.Owner(t)}
	if err := owner.InTenant(ctx, acct, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET plan = 'business' WHERE id = $1`, acct)
		if err == nil && tag.RowsAffected() != 1 {
			t.Fatalf("%d accounts updated", tag.RowsAffected())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	g, req = guard(0)
	if err := db.Read(ctx, req, labelInsert("stale")); !errors.Is(err, tenancy.ErrPrincipalChanged) || !g.Stale() {
		t.Fatalf("account changed: %v, stale %v", err, g.Stale())
	}
	if err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		t.Fatal("a transaction ran after the guard failed")
		return nil, nil
	}); !errors.Is(err, tenancy.ErrPrincipalChanged) {
		t.Fatalf("after the guard failed: %v", err)
	}
	if labelExists(t, db, acct, "stale") {
		t.Fatal("a write with a stale principal committed")
	}

	// Authenticated afresh, the principal is current again; revoked, it
	// never is.
	if p, err = identity.AuthenticateMCP(ctx, db, raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	g, req = guard(0)
	if err := db.Check(ctx, req); err != nil || !g.Verified() {
		t.Fatalf("a fresh principal is not verified: %v", err)
	}
	if err := identity.MCPTokenRevoke(ctx, db, tenancy.For(acct), p.TokenID); err != nil {
		t.Fatal(err)
	}
	g, req = guard(0)
	if err := db.Check(ctx, req); !errors.Is(err, tenancy.ErrPrincipalChanged) || !g.Stale() {
		t.Fatalf("a revoked token's principal is not stale: %v", err)
	}
}
