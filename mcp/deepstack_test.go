package mcp

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/policy"
)

// TestDecisionLeavesRequestStacksSmall: 1,000 goroutines that each take a
// tool decision and then wait (as long-polls do) keep small stacks when the
// decision runs through onDeepStack; taken on their own stack, OPA's
// recursion leaves each at 32–64 KB. Not parallel: it reads the process's
// stack total.
func TestDecisionLeavesRequestStacksSmall(t *testing.T) {
	ctx := context.Background()
	e, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	trial := now.Add(72 * time.Hour)
	in := policy.Input{
		Principal: policy.Principal{AccountID: 1, TokenID: 7, Scopes: []string{"events:read", "conversations:read"}},
		Account:   policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true},
		Tool:      "poll_events", Args: map[string]any{"wait_seconds": float64(20)}, Now: now,
	}
	perGoroutine := func(decide func() (policy.Decision, error)) uint64 {
		runtime.GC()
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		hold, decided := make(chan struct{}), make(chan error, 1000)
		for range 1000 {
			go func() {
				d, err := decide()
				if err == nil && !d.Allow {
					err = errors.New("denied: the input should be allowed")
				}
				decided <- err
				<-hold
			}()
		}
		for range 1000 {
			if err := <-decided; err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&b)
		close(hold)
		return (b.StackInuse - a.StackInuse) / 1000
	}
	direct := perGoroutine(func() (policy.Decision, error) { return e.Decide(ctx, in) })
	offloaded := perGoroutine(func() (policy.Decision, error) {
		return onDeepStack(func() (policy.Decision, error) { return e.Decide(ctx, in) })
	})
	t.Logf("stack per waiting goroutine: %d KB deciding on it, %d KB through onDeepStack", direct>>10, offloaded>>10)
	if offloaded > 16<<10 || offloaded*2 > direct {
		t.Errorf("a goroutine that decided through onDeepStack keeps %d KB of stack (%d KB deciding itself); want under 16 KB and under half", offloaded>>10, direct>>10)
	}
}

// TestOnDeepStackRaisesPanicsInTheCaller: a panic in the deep call reaches
// the caller's recovery (the server's), instead of ending the process.
func TestOnDeepStackRaisesPanicsInTheCaller(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the deep call's panic", r)
		}
	}()
	onDeepStack(func() (int, error) { panic("boom") })
	t.Error("onDeepStack returned after its function panicked")
}
