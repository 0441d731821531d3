// Package throttle slows down password guessing: a token bucket per key
// (an email), shared by every door that takes a password (REST's
// /api/v1/login and the console's sign-in), so that using both doors does
// not double an attacker's attempts.
package throttle

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// SignIn is the sign-in throttle's shape: a burst of 10 attempts per email,
// then one a minute.
const (
	SignInBurst = 10
	SignInEvery = time.Minute
)

// Throttle is a bucket per key on this replica. The zero value is not
// ready; use New or NewSignIn. Safe for concurrent use.
type Throttle struct {
	every time.Duration
	burst int

	mu  sync.Mutex
	per map[string]*rate.Limiter
}

// New makes a throttle that allows burst attempts per key, then one every
// interval.
func New(every time.Duration, burst int) *Throttle {
	return &Throttle{every: every, burst: burst}
}

// NewSignIn is the throttle for sign-in attempts per email.
func NewSignIn() *Throttle { return New(SignInEvery, SignInBurst) }

// maxKeys bounds memory: past it, every bucket is forgotten at once.
const maxKeys = 100000

// Take spends one attempt for key (case and surrounding space ignored) and
// returns how long to wait when none is left; 0 means go ahead.
func (t *Throttle) Take(key string, now time.Time) time.Duration {
	key = strings.ToLower(strings.TrimSpace(key))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.per == nil || len(t.per) > maxKeys {
		t.per = map[string]*rate.Limiter{}
	}
	l := t.per[key]
	if l == nil {
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.per[key] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
