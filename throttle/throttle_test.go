package throttle

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBurstThenOneAnInterval(t *testing.T) {
	t.Parallel()
	th := NewSignIn()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range SignInBurst {
		if d := th.Take("A@example.com ", now); d != 0 {
			t.Fatalf("attempt %d waited %v", i+1, d)
		}
	}
	if d := th.Take("a@example.com", now); d <= 0 || d > SignInEvery {
		t.Fatalf("attempt past the burst: wait %v, want (0, %v]", d, SignInEvery)
	}
	if d := th.Take("other@example.com", now); d != 0 {
		t.Fatalf("another email waited %v", d)
	}
	if d := th.Take("a@example.com", now.Add(SignInEvery)); d != 0 {
		t.Fatalf("after one interval: wait %v", d)
	}
	if d := th.Take("a@example.com", now.Add(SignInEvery)); d == 0 {
		t.Fatal("a refused attempt must not have been counted as a refill")
	}
}

// Buckets that have refilled are forgotten, so memory follows the keys in
// use, not every key ever seen (50,000 one-off keys here); a spent bucket
// is kept.
func TestIdleBucketsAreForgotten(t *testing.T) {
	t.Parallel()
	th := New(time.Second, 2)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for round := range 100 {
		for i := range 500 {
			th.Take(fmt.Sprintf("key-%d-%d", round, i), now)
		}
		if n := th.Len(); n > 2*minSweep {
			t.Fatalf("round %d: %d buckets held, want at most %d", round, n, 2*minSweep)
		}
		now = now.Add(10 * time.Second)
	}
	th.Take("busy", now)
	th.Take("busy", now)
	for i := range 2 * minSweep { // forces a sweep at this instant
		th.Take(fmt.Sprintf("last-%d", i), now)
	}
	if d := th.Take("busy", now); d == 0 {
		t.Fatal("a spent bucket was forgotten while still spent")
	}
}

// TestOneLookupAtATimePerAddress: an address over its MCP failure budget
// has at most one token look-up under way; another address is not held
// back, and the address may look up again once the first is done.
func TestOneLookupAtATimePerAddress(t *testing.T) {
	t.Parallel()
	g := NewGuard(Limits{})
	from := func(addr string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/mcp", nil)
		r.RemoteAddr = addr
		return r
	}
	release, ok := g.MCPAuthLookup(from("192.0.2.1:1000"))
	if !ok {
		t.Fatal("first look-up refused")
	}
	if _, ok := g.MCPAuthLookup(from("192.0.2.1:2000")); ok {
		t.Fatal("a second look-up from the same address while one is under way")
	}
	other, ok := g.MCPAuthLookup(from("192.0.2.2:1000"))
	if !ok {
		t.Fatal("another address was held back")
	}
	other()
	release()
	again, ok := g.MCPAuthLookup(from("192.0.2.1:3000"))
	if !ok {
		t.Fatal("look-up refused after the first was done")
	}
	again()
}
