package identity_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestRateLimitIsShared: the limit is kept in PostgreSQL, so callers on
// separate pools (replicas) share it: a burst of exactly the limit passes,
// then every call is refused with the time until one fits; requests
// without tool calls spend nothing.
func TestRateLimitIsShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, raw := dbtest.MCPTenant(t, 30)
	var pools []*tenancy.DB
	for i := 0; i < 3; i++ {
		db, err := tenancy.Open(ctx, dbtest.AppURL())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		pools = append(pools, db)
	}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 90; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := identity.AuthenticateMCPCalls(ctx, pools[i%3], raw, time.Now(), 1)
			if err != nil {
				t.Error(err)
				return
			}
			if p.RateRetryAfter > 0 {
				if p.RateRetryAfter > 3*time.Second {
					t.Errorf("retry after %v, want about 2 s (30 a minute)", p.RateRetryAfter)
				}
				refused.Add(1)
			} else {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	// 30 a minute refill one every 2 s: a slow burst may see that many more.
	refill := int64(time.Since(start) / (2 * time.Second))
	if a := allowed.Load(); a < 30 || a > 31+refill {
		t.Fatalf("%d of 90 calls allowed across 3 pools, want the limit (30, +%d refilled)", a, refill)
	}
	if p, err := identity.AuthenticateMCPCalls(ctx, pools[0], raw, time.Now(), 0); err != nil || p.RateRetryAfter != 0 {
		t.Fatalf("a request without tool calls: %v %v", p.RateRetryAfter, err)
	}
}

// TestRateLimitRevokedToken: revoked and unknown tokens are refused
// whatever the limit says.
func TestRateLimitRevokedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ten, raw := dbtest.MCPTenant(t, 5)
	db := dbtest.App(t)
	toks, _ := identity.MCPTokenList(ctx, db, ten.Account.ID)
	if err := identity.MCPTokenRevoke(ctx, db, tenancy.For(ten.Account.ID), toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.AuthenticateMCPCalls(ctx, db, raw, time.Now(), 1); err != identity.ErrTokenRevoked {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := identity.AuthenticateMCPCalls(ctx, db, "dw_mcp_"+strings.Repeat("x", 50), time.Now(), 1); err == nil {
		t.Fatal("unknown token accepted")
	}
}

// BenchmarkAuthenticateMCP is the cost of keeping the rate limit in
// PostgreSQL: each iteration authenticates once without the count (what
// every request paid before, plus ~0.1 µs for the in-memory limiter it
// replaces) and once with it, alternating the order, so both see the same
// machine load; it reports both times and their ratio. Serial, and with 8
// concurrent callers on one token (they queue on its row) or on 8 tokens.
func BenchmarkAuthenticateMCP(b *testing.B) {
	ctx := context.Background()
	db := dbtest.App(b)
	var raws []string
	for i := 0; i < 8; i++ {
		_, raw := dbtest.MCPTenant(b, 60000)
		raws = append(raws, raw)
	}
	for _, tokens := range []int{0, 1, 8} {
		name := map[int]string{0: "serial", 1: "parallel8_one_token", 8: "parallel8_eight_tokens"}[tokens]
		b.Run(name, func(b *testing.B) {
			var without, with, n atomic.Int64
			pair := func(raw string, i int64) error {
				for k := range 2 {
					calls := int((i + int64(k)) % 2)
					start := time.Now()
					if _, err := identity.AuthenticateMCPCalls(ctx, db, raw, time.Now(), calls); err != nil {
						return err
					}
					if calls == 0 {
						without.Add(int64(time.Since(start)))
					} else {
						with.Add(int64(time.Since(start)))
					}
				}
				return nil
			}
			if tokens == 0 {
				for i := int64(0); b.Loop(); i++ {
					if err := pair(raws[0], i); err != nil {
						b.Fatal(err)
					}
					n.Add(1)
				}
			} else {
				var g atomic.Int64
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					raw := raws[int(g.Add(1))%tokens]
					for i := int64(0); pb.Next(); i++ {
						if err := pair(raw, i); err != nil {
							b.Error(err)
							return
						}
						n.Add(1)
					}
				})
			}
			w, c := float64(without.Load())/float64(n.Load()), float64(with.Load())/float64(n.Load())
			b.ReportMetric(w/1e3, "µs/auth")
			b.ReportMetric(c/1e3, "µs/auth+count")
			b.ReportMetric(c/w, "ratio")
		})
	}
}
