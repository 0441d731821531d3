package outbox

import (
	"testing"
	"time"
)

// near reports whether d is within the ±10% jitter of want.
func near(d, want time.Duration) bool { return d >= want*89/100 && d <= want*111/100 }

// TestAccountSlotsSpaceAnAccountsSnoozedJobsAtItsPace: an account at its
// limit gets its further jobs snoozed to turns spaced at the rate its slots
// free up: milliseconds apart behind a fast endpoint, seconds (up to
// maxSnooze) behind a hanging one; a job back at its turn keeps its place.
// Other accounts are not affected.
func TestAccountSlotsSpaceAnAccountsSnoozedJobsAtItsPace(t *testing.T) {
	t.Parallel()
	s := newAccountSlots(3)
	t0 := time.Now()
	for i := range 3 {
		if ok, _ := s.take(1, t0, false); !ok {
			t.Fatalf("slot %d refused", i)
		}
	}
	if ok, snooze := s.take(1, t0.Add(time.Millisecond), false); ok || !near(snooze, minSnooze) {
		t.Fatalf("fourth attempt at once: ok %v, snooze %s; want a snooze of about %s", ok, snooze, minSnooze)
	}
	if ok, _ := s.take(2, t0, false); !ok {
		t.Fatal("another account was refused")
	}

	// A fast endpoint: attempts of 60ms, three at a time, free a slot every
	// 20ms; the snoozed jobs come back 20ms apart.
	fast := newAccountSlots(3)
	for range 3 {
		fast.take(1, t0, false)
	}
	for range 3 {
		fast.give(1, t0, t0.Add(60*time.Millisecond))
		fast.take(1, t0.Add(60*time.Millisecond), false)
	}
	now := t0.Add(60 * time.Millisecond)
	for i := 1; i <= 5; i++ {
		if _, snooze := fast.take(1, now, false); !near(snooze, time.Duration(i)*20*time.Millisecond) {
			t.Fatalf("snoozed job %d behind a fast endpoint comes back in %s, want %dms", i, snooze, i*20)
		}
	}

	// A job back at its turn that finds the slots still taken waits one
	// step more, without going to the back of the line.
	if _, snooze := fast.take(1, now, true); !near(snooze, 20*time.Millisecond) {
		t.Fatalf("a job back at its turn comes back in %s, want 20ms", snooze)
	}
	if _, snooze := fast.take(1, now, false); !near(snooze, 120*time.Millisecond) {
		t.Fatalf("the next job put in line comes back in %s, want 120ms (its turn after the five before)", snooze)
	}

	// A hanging endpoint: with attempts 6s old, turns are 2s apart, and
	// never more than maxSnooze away.
	hang := newAccountSlots(3)
	for range 3 {
		hang.take(1, t0, false)
	}
	now = t0.Add(6 * time.Second)
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, maxSnooze, maxSnooze, maxSnooze, maxSnooze} {
		if _, snooze := hang.take(1, now, false); !near(snooze, want) {
			t.Fatalf("snoozed job %d behind a hanging endpoint comes back in %s, want %s", i+1, snooze, want)
		}
	}
	if _, snooze := hang.take(1, now, true); !near(snooze, 2*time.Second) {
		t.Fatalf("a job back at its turn behind a hanging endpoint comes back in %s, want 2s", snooze)
	}
}
