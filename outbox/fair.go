package outbox

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// accountSlots bounds each account's deliveries in flight in this replica,
// so that one account's hanging endpoint can hold at most limit of the
// replica's workers. The bound is per replica because workers are: every
// replica keeps Workers-limit workers for the other accounts.
//
// A job that finds its account's slots taken is snoozed (River's
// JobSnooze: it holds no worker and spends no attempt). A job's first
// snooze puts it in line: the account's snoozed jobs get turns spaced at
// the rate its slots free up (typical attempt time / limit), so behind a
// fast endpoint they come back as slots free and behind a hanging one at
// most once per maxSnooze each. A job back at its turn that still finds
// the slots taken waits one step more, keeping its place near the front.
type accountSlots struct {
	mu       sync.Mutex
	limit    int
	accounts map[int64]*accountLoad
}

// accountLoad is one account's attempts: the start times of those in
// flight, how long its attempts typically take, and the turn of its last
// job put in line.
type accountLoad struct {
	started []time.Time
	typical time.Duration // moving average of finished attempts; 0 before the first
	turn    time.Time
}

// Bounds of the snooze of a job whose account's slots are taken. maxSnooze
// stays under River's scheduler interval (5s): a shorter snooze leaves the
// job available, to be fetched as soon as it is due, where a longer one
// waits for the leader's scheduler to move it back.
const (
	minSnooze = 20 * time.Millisecond
	maxSnooze = 4 * time.Second
	// keptAccounts is how many accounts' typical durations are kept before
	// idle ones are forgotten.
	keptAccounts = 1024
)

func newAccountSlots(limit int) *accountSlots {
	return &accountSlots{limit: limit, accounts: map[int64]*accountLoad{}}
}

// take claims a slot for an attempt of the account starting at now. When
// the account's slots are all taken it returns ok false and how long to
// snooze the job: one step (the longer of the account's typical attempt
// and its oldest attempt in flight, where a hanging endpoint shows first,
// divided by the limit) for a job that was in line already (inLine), else
// to the turn one step after the account's last, within [minSnooze,
// maxSnooze] and ±10% so that a batch does not come back at once.
func (s *accountSlots) take(acct int64, now time.Time, inLine bool) (ok bool, snooze time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		a = &accountLoad{}
		s.accounts[acct] = a
	}
	if len(a.started) < s.limit {
		a.started = append(a.started, now)
		return true, 0
	}
	step := max(a.typical, now.Sub(slices.MinFunc(a.started, time.Time.Compare))) / time.Duration(s.limit)
	wait := step
	if !inLine {
		a.turn = later(a.turn, now).Add(step)
		if limit := now.Add(maxSnooze); a.turn.After(limit) {
			a.turn = limit // so that turns catch up when the endpoint recovers
		}
		wait = a.turn.Sub(now)
	}
	wait = min(max(wait, minSnooze), maxSnooze)
	return false, time.Duration(float64(wait) * (0.9 + rand.Float64()/5))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// give returns the slot of the attempt that started at started, ending now.
func (s *accountSlots) give(acct int64, started, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if i := slices.Index(a.started, started); i >= 0 {
		a.started = slices.Delete(a.started, i, i+1)
	}
	d := now.Sub(started)
	if a.typical == 0 {
		a.typical = d
	} else {
		a.typical = (3*a.typical + d) / 4
	}
	if len(s.accounts) > keptAccounts {
		for id, other := range s.accounts {
			if len(other.started) == 0 {
				delete(s.accounts, id)
			}
		}
	}
}

// snoozed reports whether a job has been snoozed before (River counts its
// snoozes in the job's metadata): it was put in line already.
func snoozed(metadata []byte) bool {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	return json.Unmarshal(metadata, &m) == nil && m.Snoozes > 0
}
