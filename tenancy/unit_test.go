package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
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

	err = db.Unit(ctx, acct, labelInsert("first-fails"), func(tx pgx.Tx) (*pgx.Batch, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing function: %v", err)
	}
	err = db.Unit(ctx, acct, labelInsert("last-fails"), func(tx pgx.Tx) (*pgx.Batch, error) {
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

	err = db.Unit(ctx, acct, labelInsert("begun"), func(tx pgx.Tx) (*pgx.Batch, error) {
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
