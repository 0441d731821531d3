package tenancy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// onePool is a pool of a single connection: a request that waited for a
// second transaction while holding one would wait forever on it.
func onePool(t *testing.T) *tenancy.DB {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &tenancy.DB{Pool: pool}
}

// TestRequestHoldsOneTransaction: while a request's unit of work holds the
// request's guard (and the pool's only connection), any other transaction
// of the same request — a Read, a Unit, a Record, a Check, from inside the
// unit or from another goroutine — fails at once with ErrNested instead of
// waiting for it, and carries nothing; the unit then commits, the guard
// verified, and the request's next transaction begins normally.
func TestRequestHoldsOneTransaction(t *testing.T) {
	t.Parallel()
	db := onePool(t)
	ten, raw := dbtest.MCPTenant(t, 100)
	acct := ten.Account.ID
	p, err := identity.AuthenticateMCP(context.Background(), db, raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g := p.Guard(1, time.Now(), nil)
	req := &tenancy.Request{AccountID: acct, Guard: g}
	// Were a nested transaction to wait (for the guard, or for the pool's
	// one connection), this deadline would end it with an error other
	// than ErrNested.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	second := map[string]func() error{
		"Read":   func() error { return db.Read(ctx, req, labelInsert("nested-read")) },
		"Unit":   func() error { return db.Unit(ctx, req, labelInsert("nested-unit"), nil) },
		"Record": func() error { return db.Record(ctx, req) },
		"Check":  func() error { return db.Check(ctx, req) },
	}
	err = db.Unit(ctx, req, labelInsert("outer"), func(tx pgx.Tx) (*pgx.Batch, error) {
		if g.Settled() {
			t.Error("the guard settled before the unit committed")
		}
		for name, begin := range second {
			start := time.Now()
			if err := begin(); !errors.Is(err, tenancy.ErrNested) {
				t.Errorf("%s inside the unit: %v, want ErrNested", name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s inside the unit took %v to refuse: it waited", name, d)
			}
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // another goroutine of the same request is refused too
			defer wg.Done()
			if err := db.Read(ctx, req, labelInsert("nested-goroutine")); !errors.Is(err, tenancy.ErrNested) {
				t.Errorf("Read from another goroutine: %v, want ErrNested", err)
			}
		}()
		wg.Wait()
		return labelInsert("outer-last"), nil
	})
	if err != nil || !g.Verified() {
		t.Fatalf("the unit: %v, guard verified %v", err, g.Verified())
	}
	for name, want := range map[string]bool{"outer": true, "outer-last": true, "nested-read": false, "nested-unit": false, "nested-goroutine": false} {
		if got := labelExists(t, db, acct, name); got != want {
			t.Errorf("label %s written %v, want %v", name, got, want)
		}
	}
	if err := db.Read(ctx, req, labelInsert("after")); err != nil || !labelExists(t, db, acct, "after") {
		t.Fatalf("the request's next transaction: %v", err)
	}
}

// TestUnitCommitsTheRequestsAuditRow: a request's audit row commits in the
// unit of work that does its work, completed by it; when the row cannot be
// written, the work rolls back with it; once committed it is not written
// again by the request's next transaction; a Read writes it with its
// answer.
func TestUnitCommitsTheRequestsAuditRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	rows := func(action string) int {
		var n int
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM audit_log WHERE action = $1`, action).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		if err := db.Batch(ctx, acct, b); err != nil {
			t.Fatal(err)
		}
		return n
	}

	req := tenancy.Recorded(acct, auditrow.Entry{ActorKind: "user", Action: "label.create"})
	err := db.Unit(ctx, req, labelInsert("recorded"), func(tx pgx.Tx) (*pgx.Batch, error) {
		req.Audit.Touched("label_id", 42)
		return nil, nil
	})
	if err != nil || !req.Audited() || rows("label.create") != 1 || !labelExists(t, db, acct, "recorded") {
		t.Fatalf("unit with its row: %v, audited %v, %d rows", err, req.Audited(), rows("label.create"))
	}
	var target map[string]int64
	b := &pgx.Batch{}
	b.Queue(`SELECT target FROM audit_log WHERE action = 'label.create'`).QueryRow(func(r pgx.Row) error { return r.Scan(&target) })
	if err := db.Batch(ctx, acct, b); err != nil || target["label_id"] != 42 {
		t.Fatalf("the row's target %v (%v), want the label the unit named", target, err)
	}
	if err := db.Read(ctx, req, labelInsert("next")); err != nil || rows("label.create") != 1 {
		t.Fatalf("the request's next transaction wrote its row again: %v, %d rows", err, rows("label.create"))
	}

	// A row PostgreSQL refuses (text with NUL) takes the work down with it.
	bad := tenancy.Recorded(acct, auditrow.Entry{ActorKind: "user", Action: "label.create\x00"})
	if err := db.Unit(ctx, bad, labelInsert("unrecorded"), func(tx pgx.Tx) (*pgx.Batch, error) { return nil, nil }); err == nil || bad.Audited() {
		t.Fatalf("a unit whose audit row fails: %v, audited %v", err, bad.Audited())
	}
	if labelExists(t, db, acct, "unrecorded") {
		t.Fatal("the work of a unit whose audit row failed committed")
	}

	read := tenancy.Recorded(acct, auditrow.Entry{ActorKind: "agent", Action: "list_labels"})
	b = &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM labels`)
	if err := db.Read(ctx, read, b); err != nil || !read.Audited() || rows("list_labels") != 1 {
		t.Fatalf("a read with its row: %v, audited %v, %d rows", err, read.Audited(), rows("list_labels"))
	}
}
