package policy

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestGateCacheBoundary walks a trial account and a past-due account across
// their end instants with one engine, so that each answer before the end
// is cached when the clock reaches it: the gate must shut at the very
// nanosecond Rego shuts it, and a clock set back must open it again.
func TestGateCacheBoundary(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	inParis := end.In(time.FixedZone("CET", 3600)) // the same instant, another zone
	for _, c := range []struct {
		name string
		acct Account
		shut string
	}{
		{"trial", Account{Plan: "business", Status: "trialing", TrialEndsAt: &end, MCPEnabled: true}, "trial_ended"},
		{"trial, end given in another zone", Account{Plan: "business", Status: "trialing", TrialEndsAt: &inParis, MCPEnabled: true}, "trial_ended"},
		{"grace", Account{Plan: "enterprise", Status: "past_due", GraceEndsAt: &end, MCPEnabled: true}, "grace_ended"},
	} {
		steps := []struct {
			now  time.Time
			code string
		}{
			{end.Add(-time.Hour), "ok"},
			{end.Add(-time.Nanosecond), "ok"},
			{end, c.shut},
			{end.Add(time.Nanosecond), c.shut},
			{end.Add(time.Hour), c.shut},
			{end.Add(-time.Nanosecond), "ok"}, // the clock set back
			{end, c.shut},
		}
		for _, s := range steps {
			g, err := e.Gate(ctx, c.acct, s.now)
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.evalGate(ctx, c.acct, s.now)
			if err != nil {
				t.Fatal(err)
			}
			if g != want || g.Code != s.code {
				t.Errorf("%s at end%+v: cached gate %+v, Rego %+v, want code %s", c.name, s.now.Sub(end), g, want, s.code)
			}
		}
	}
	// A changed account is another key: switching MCP off shuts the gate
	// at once, whatever was cached for the account as it was.
	acct := Account{Plan: "enterprise", Status: "active", MCPEnabled: true}
	if g, _ := e.Gate(ctx, acct, end); !g.Allow {
		t.Fatalf("active enterprise shut: %+v", g)
	}
	acct.MCPEnabled = false
	if g, _ := e.Gate(ctx, acct, end); g.Allow || g.Code != "mcp_disabled" {
		t.Errorf("switched off after a cached open gate: %+v", g)
	}
}

// TestGateCacheIsExact compares the cached gate with Rego on random account
// states and clocks around their instants, with one engine whose cache is
// warmed by earlier clocks. It fails when gate.rego starts reading the
// clock in a way the cache's intervals do not follow.
func TestGateCacheIsExact(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	offset := func() time.Duration {
		// Mostly near the base, sometimes a nanosecond away from it.
		switch rng.IntN(4) {
		case 0:
			return time.Duration(rng.IntN(3)-1) * time.Nanosecond
		default:
			return time.Duration(rng.Int64N(int64(60*24*time.Hour))) - 30*24*time.Hour
		}
	}
	plans := []string{"starter", "business", "enterprise", "gold"}
	statuses := []string{"trialing", "active", "past_due", "canceled", "expired", ""}
	var accts []Account
	for range 60 {
		a := Account{Plan: plans[rng.IntN(len(plans))], Status: statuses[rng.IntN(len(statuses))], MCPEnabled: rng.IntN(5) > 0}
		if rng.IntN(4) > 0 {
			t := base.Add(offset())
			a.TrialEndsAt = &t
		}
		if rng.IntN(2) > 0 {
			t := base.Add(offset())
			a.GraceEndsAt = &t
		}
		accts = append(accts, a)
	}
	for i := range 3000 {
		a := accts[rng.IntN(len(accts))]
		var now time.Time
		switch rng.IntN(3) {
		case 0:
			now = base.Add(offset())
		case 1:
			if a.TrialEndsAt != nil {
				now = a.TrialEndsAt.Add(time.Duration(rng.IntN(3)-1) * time.Nanosecond)
				break
			}
			fallthrough
		default:
			if a.GraceEndsAt != nil {
				now = a.GraceEndsAt.Add(time.Duration(rng.IntN(3)-1) * time.Nanosecond)
			} else {
				now = base.Add(offset())
			}
		}
		got, err := e.Gate(ctx, a, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.evalGate(ctx, a, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("step %d: account %+v at %s: cached %+v, Rego %+v", i, a, now.Format(time.RFC3339Nano), got, want)
		}
	}
}
