package tenancy_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestRiderCommitsWithItsBatch: a rider rides in the next batch of its
// account and commits with it; a failing batch takes it down too and leaves
// it for the caller; a batch of another account does not carry it.
func TestRiderCommitsWithItsBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	labels := func(acct int64, name string) int {
		var n int
		bt := &pgx.Batch{}
		bt.Queue(`SELECT count(*) FROM labels WHERE name = $1`, name).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		if err := db.Batch(ctx, acct, bt); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(acct int64, name string) *tenancy.Rider {
		return &tenancy.Rider{AccountID: acct, SQL: `INSERT INTO labels (account_id, name) VALUES ($1, $2)`, Args: []any{acct, name}}
	}
	read := func(ctx context.Context, acct int64, sql string) error {
		bt := &pgx.Batch{}
		bt.Queue(sql)
		return db.Batch(ctx, acct, bt)
	}

	// Another account's batch does not carry it; a failing batch rolls it back.
	r := insert(a.Account.ID, "rider-one")
	rctx := tenancy.WithRider(ctx, r)
	if err := read(rctx, b.Account.ID, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if err := read(rctx, a.Account.ID, `SELECT 1/0`); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if r.Rode() || labels(a.Account.ID, "rider-one") != 0 {
		t.Fatalf("rode=%v after a failed batch, want it left for the caller and nothing written", r.Rode())
	}
	// The next batch of its account carries it, once.
	if err := read(rctx, a.Account.ID, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if err := read(rctx, a.Account.ID, `SELECT 2`); err != nil {
		t.Fatal(err)
	}
	if !r.Rode() || labels(a.Account.ID, "rider-one") != 1 || labels(b.Account.ID, "rider-one") != 0 {
		t.Fatalf("rode=%v, rows in A %d, in B %d; want it written once, in A", r.Rode(), labels(a.Account.ID, "rider-one"), labels(b.Account.ID, "rider-one"))
	}
	// A rider that fails fails its batch: the read is not answered.
	bad := insert(a.Account.ID, "Not A Valid Label Name")
	if err := read(tenancy.WithRider(ctx, bad), a.Account.ID, `SELECT 1`); err == nil || bad.Rode() {
		t.Fatalf("a failing rider: err=%v rode=%v, want the batch to fail", err, bad.Rode())
	}
}
