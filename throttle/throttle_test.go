package throttle

import (
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
