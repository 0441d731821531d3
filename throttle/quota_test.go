package throttle

import (
	"testing"
	"time"
)

// TestSpendQuota: each spend leaves one attempt less and a longer reset;
// an empty bucket makes the caller wait and spends nothing; Tighter picks
// the budget that leaves less.
func TestSpendQuota(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	th := New(time.Minute, 3)
	for i, want := range []Quota{
		{Limit: 3, Remaining: 2, Reset: time.Minute},
		{Limit: 3, Remaining: 1, Reset: 2 * time.Minute},
		{Limit: 3, Remaining: 0, Reset: 3 * time.Minute},
	} {
		if got := th.Spend("k", now); got != want {
			t.Fatalf("spend %d: %+v, want %+v", i, got, want)
		}
	}
	if got := th.Spend("k", now); got.Wait != time.Minute || got.Remaining != 0 || got.Reset != 3*time.Minute {
		t.Fatalf("spend over the limit: %+v", got)
	}
	if got := th.Spend("k", now.Add(time.Minute)); got.Wait != 0 || got.Remaining != 0 {
		t.Fatalf("a minute later: %+v", got)
	}
	a, b := Quota{Limit: 30, Remaining: 29}, Quota{Limit: 10, Remaining: 9}
	if Tighter(a, b) != b || Tighter(b, a) != b || Tighter(a, Quota{Limit: 10, Wait: time.Second}).Wait != time.Second {
		t.Fatal("Tighter picks the wrong quota")
	}
}
