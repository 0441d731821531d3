package audit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// writeRow writes one audit row as a request does: in a unit of work of
// its own.
func writeRow(ctx context.Context, db *tenancy.DB, acct int64, e audit.Entry) error {
	return db.Unit(ctx, tenancy.Recorded(acct, e), nil, nil)
}

// TestChainUnderConcurrentWriters: 8 writers record at once while the
// sealer runs; every row ends up sealed exactly once and the chain verifies.
func TestChainUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	lg := &audit.Log{DB: db}
	sealCtx, stop := context.WithCancel(ctx)
	defer stop()
	go lg.RunSealer(sealCtx, 20*time.Millisecond, func(err error) { t.Error(err) })

	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := writeRow(ctx, db, acct, audit.Entry{ActorKind: "agent", Action: fmt.Sprintf("w%d", w), Decision: "allow"}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	var res audit.VerifyResult
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if _, err = audit.Seal(ctx, db, acct); err != nil {
			t.Fatal(err)
		}
		if res, err = audit.Verify(ctx, db, acct); err != nil {
			t.Fatal(err)
		}
		if res.Unsealed == 0 {
			break
		}
	}
	if !res.OK || res.Checked != writers*each || res.Unsealed != 0 {
		t.Fatalf("after %d concurrent records: %+v", writers*each, res)
	}
}

// BenchmarkRecordConcurrent: audit rows written by 8 concurrent callers of
// one account (no chain head to queue on), and the sealer's rate.
func BenchmarkRecordConcurrent(b *testing.B) {
	ctx := context.Background()
	db := dbtest.App(b)
	acct := dbtest.NewTenant(b).Account.ID
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := writeRow(ctx, db, acct, audit.Entry{ActorKind: "agent", Action: "bench", Decision: "allow"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkSeal: how many committed rows a sealer chains per second.
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	db := dbtest.App(b)
	acct := dbtest.NewTenant(b).Account.ID
	const batch = 5000
	var sealing time.Duration
	for b.Loop() {
		err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO audit_log (account_id, actor_kind, action, decision)
				SELECT $1, 'agent', 'bench', 'allow' FROM generate_series(1, $2)`, acct, batch)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if n, err := audit.Seal(ctx, db, acct); err != nil || n != batch {
			b.Fatalf("sealed %d of %d: %v", n, batch, err)
		}
		sealing += time.Since(start)
	}
	b.ReportMetric(float64(b.N*batch)/sealing.Seconds(), "sealed-rows/s")
}

// TestSweepSealsUntouchedAccounts: rows written by a replica that stopped
// before sealing them (no Touch here) are chained by a sweep.
func TestSweepSealsUntouchedAccounts(t *testing.T) {
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		return audit.Insert(ctx, tx, acct, audit.Entry{ActorKind: "agent", Action: "orphan", Decision: "allow"})
	})
	if err != nil {
		t.Fatal(err)
	}
	lg := &audit.Log{DB: db}
	var res audit.VerifyResult
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := lg.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if res, err = audit.Verify(ctx, db, acct); err != nil {
			t.Fatal(err)
		}
		if res.Unsealed == 0 {
			break
		}
	}
	if !res.OK || res.Checked != 1 || res.Unsealed != 0 {
		t.Fatalf("after a sweep: %+v", res)
	}
}

// TestVerifyReadsOneSnapshot: Verify's count of checked and unsealed rows
// describes one moment. A sealer committing between its reading of the
// chain and its count of unsealed rows must not make rows vanish from the
// report (the chain read before the seal, the count after it: "760 checked,
// 0 unsealed" of 800 rows, which once failed TestChainUnderConcurrentWriters).
func TestVerifyReadsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	var committed atomic.Int64
	record := func() bool {
		if err := writeRow(ctx, db, acct, audit.Entry{ActorKind: "agent", Action: "snap", Decision: "allow"}); err != nil {
			t.Error(err)
			return false
		}
		committed.Add(1)
		return true
	}
	for range 300 {
		record()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	writing := make(chan struct{})
	go func() { // a row about every millisecond, 1,500 in all
		defer wg.Done()
		defer close(writing)
		for committed.Load() < 1500 {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				if !record() {
					return
				}
			}
		}
	}()
	go func() { // sealed in chunks every 10 ms
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
				if _, err := audit.Seal(ctx, db, acct); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()
	for i := 0; i < 250; i++ {
		select {
		case <-writing:
			if i < 5 {
				t.Fatalf("only %d verifies ran while rows were written", i)
			}
			return
		default:
		}
		before := committed.Load()
		res, err := audit.Verify(ctx, db, acct)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || int64(res.Checked+res.Unsealed) < before {
			t.Fatalf("verify %d: %d rows had committed before it began, it reports %d checked and %d unsealed: %+v",
				i, before, res.Checked, res.Unsealed, res)
		}
	}
}

// TestStatementsNameTheirAccount reads and seals one account's audit over
// a superuser connection, which RLS does not bind (operators may connect
// so), while another account has rows of its own, sealed and unsealed:
// every read and the seal keep to the account they were given.
func TestStatementsNameTheirAccount(t *testing.T) {
	ctx := context.Background()
	url := dbtest.SuperuserURL()
	if url == "" {
		t.Skip("needs the test cluster's superuser (DESKWOOT_TEST_SUPERUSER_URL)")
	}
	su, err := tenancy.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	app := dbtest.App(t)
	a, b := dbtest.NewTenant(t).Account.ID, dbtest.NewTenant(t).Account.ID
	for _, acct := range []int64{a, b, a, b} {
		if err := writeRow(ctx, app, acct, audit.Entry{ActorKind: "agent", Action: "list_inboxes", Decision: "allow", Explanation: []byte(`{"path":"p"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	sealAll(t, app, a)
	sealAll(t, app, b)
	if err := writeRow(ctx, app, b, audit.Entry{ActorKind: "agent", Action: "unsealed", Decision: "allow"}); err != nil {
		t.Fatal(err)
	}
	want, err := audit.List(ctx, app, a, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	otherB, err := audit.List(ctx, app, b, audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}

	if n, err := audit.Seal(ctx, su, a); err != nil || n != 0 {
		t.Errorf("sealing account %d as a superuser sealed %d rows, %v; it has none unsealed", a, n, err)
	}
	if res, err := audit.Verify(ctx, su, a); err != nil || !res.OK || res.Checked != len(want) || res.Unsealed != 0 {
		t.Errorf("verify account %d as a superuser: %+v, %v", a, res, err)
	}
	got, err := audit.List(ctx, su, a, audit.Filter{Limit: 100})
	if err != nil || len(got) != len(want) {
		t.Errorf("list of account %d as a superuser: %d rows (want %d), %v", a, len(got), len(want), err)
	}
	ds, err := audit.DecisionList(ctx, su, a, audit.DecisionFilter{Limit: 100})
	if err != nil || len(ds) != 2 {
		t.Errorf("decisions of account %d as a superuser: %d (want 2), %v", a, len(ds), err)
	}
	if _, err := audit.Get(ctx, su, a, otherB[0].ID); err == nil {
		t.Errorf("account %d's audit row %d was read in account %d", b, otherB[0].ID, a)
	}
	// Export (which seals and signs a checkpoint first) and the chain's
	// state from that checkpoint, as a superuser.
	key := newKey(t)
	var out strings.Builder
	if err := audit.Export(ctx, su, a, audit.Filter{}, audit.FormatJSONL, &out, key); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyExport(strings.NewReader(out.String()), pubOf(key)); err != nil || !rep.OK || rep.Rows != len(want) || rep.Proven != len(want) {
		t.Errorf("export of account %d (%d rows) as a superuser: %+v, %v", a, len(want), rep, err)
	}
	if res, err := audit.VerifyRecent(ctx, su, a, pubOf(key), []int64{want[0].ID}); err != nil || !res.OK || res.From == nil || res.From.AccountID != a || res.ShownChecked != 1 {
		t.Errorf("the page's check of account %d as a superuser: %+v, %v", a, res, err)
	}
	if cps, err := audit.CheckpointPage(ctx, su, a, 0, nil, 100); err != nil || len(cps) != 1 || cps[0].AccountID != a {
		t.Errorf("checkpoints of account %d as a superuser: %+v, %v", a, cps, err)
	}
	if cps, err := audit.CheckpointPage(ctx, su, b, 0, nil, 100); err != nil || len(cps) != 0 {
		t.Errorf("account %d has checkpoints %+v after account %d's export (%v)", b, cps, a, err)
	}
	// b's chain took none of a's rows (a server's sweep in another test
	// process may have sealed b's last row meanwhile).
	rowsB, err := audit.List(ctx, app, b, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, app, b); err != nil || !res.OK || res.Checked+res.Unsealed != len(rowsB) {
		t.Errorf("account %d (%d rows) after the superuser's seal of %d: %+v, %v", b, len(rowsB), a, res, err)
	}
}

// sealAll seals the account until nothing is left unsealed (bounded): an
// open transaction of another test process can hold the sealing horizon
// back for a moment.
func sealAll(t *testing.T, db *tenancy.DB, acct int64) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := audit.Seal(ctx, db, acct); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(ctx, db, acct)
		if err != nil || !res.OK {
			t.Fatalf("account %d: %+v, %v", acct, res, err)
		}
		if res.Unsealed == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("account %d still has %d unsealed rows", acct, res.Unsealed)
		}
	}
}
