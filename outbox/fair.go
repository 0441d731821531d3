package outbox

import (
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"
)

// accountSlots counts each account's deliveries in flight in this replica
// and bounds them, so that one account's hanging endpoint can hold at most
// limit of the replica's workers. The bound is per replica because workers
// are: every replica keeps Workers-limit workers for the other accounts.
type accountSlots struct {
	mu    sync.Mutex
	limit int
	busy  map[int64]int
}

func newAccountSlots(limit int) *accountSlots {
	return &accountSlots{limit: limit, busy: map[int64]int{}}
}

// take claims a slot for the account; false when all of its are taken.
func (s *accountSlots) take(acct int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[acct] >= s.limit {
		return false
	}
	s.busy[acct]++
	return true
}

// give returns a slot taken with take.
func (s *accountSlots) give(acct int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[acct]--; s.busy[acct] <= 0 {
		delete(s.busy, acct)
	}
}

// Snoozes of a job that found its account's slots taken start short (a
// busy but fast endpoint frees a slot in milliseconds) and double up to
// maxSnooze (a hanging one frees it only at the attempt's deadline), so
// that an account with a backlog behind a dead endpoint costs about
// backlog/maxSnooze cheap job updates a second and no worker time.
const (
	firstSnooze = 250 * time.Millisecond
	maxSnooze   = 10 * time.Second
)

// snoozeDelay is how long to put off a job that has been snoozed as often
// as River's metadata says, with ±25% jitter so that a backlog does not
// come back all at once.
func snoozeDelay(metadata []byte) time.Duration {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m) // no metadata: the first snooze
	d := maxSnooze
	if m.Snoozes < 6 {
		d = min(maxSnooze, firstSnooze<<m.Snoozes)
	}
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
