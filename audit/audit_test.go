package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

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
				if err := lg.Record(ctx, acct, audit.Entry{ActorKind: "agent", Action: fmt.Sprintf("w%d", w), Decision: "allow"}); err != nil {
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
	lg := &audit.Log{DB: db}
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := lg.Record(ctx, acct, audit.Entry{ActorKind: "agent", Action: "bench", Decision: "allow"}); err != nil {
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
