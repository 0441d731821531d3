// Package throttle keeps the abuse limits that guard the doors before
// anyone is authenticated: token buckets per key (sign-in attempts per email
// and address, per address; signups per address; failed MCP
// authentications per address), shared by every door (REST, console, MCP)
// so that using several doors does not multiply an attacker's budget. They
// live in this replica's memory: N replicas allow up to N times a limit.
// They make abuse slow and costly; they are not quotas (per-token MCP rate
// limits are).
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
	// sweepAt is the map size at which idle buckets are next forgotten.
	sweepAt int
}

// New makes a throttle that allows burst attempts per key, then one every
// interval.
func New(every time.Duration, burst int) *Throttle {
	return &Throttle{every: every, burst: burst}
}

// NewSignIn is the throttle for sign-in attempts per email.
func NewSignIn() *Throttle { return New(SignInEvery, SignInBurst) }

// Memory stays bounded by forgetting idle buckets: one that has refilled
// to full answers exactly as a new one would, so forgetting it changes no
// decision. The sweep runs when the map has doubled since the last one
// (at least minSweep keys), which keeps Take amortised constant time.
// maxKeys is the last resort when every bucket is busy (a flood from that
// many keys at once): past it, every bucket is forgotten at once.
const (
	minSweep = 1024
	maxKeys  = 100000
)

// Take spends one attempt for key (case and surrounding space ignored) and
// returns how long to wait when none is left; 0 means go ahead.
func (t *Throttle) Take(key string, now time.Time) time.Duration {
	return t.Spend(key, now).Wait
}

// Quota is a bucket as a request that spent from it leaves it, for the
// X-RateLimit headers: its size, the attempts left, the time until it is
// full again, and — when the request found it empty and spent nothing —
// how long to wait.
type Quota struct {
	Limit     int
	Remaining int
	Reset     time.Duration
	Wait      time.Duration
}

// Tighter is the quota of the two that leaves less: the one that makes the
// request wait, else the one with fewer attempts left.
func Tighter(a, b Quota) Quota {
	switch {
	case a.Wait > 0 || b.Wait > 0:
		if a.Wait >= b.Wait {
			return a
		}
		return b
	case b.Remaining < a.Remaining:
		return b
	}
	return a
}

// Spend is Take, answering with the bucket's quota afterwards.
func (t *Throttle) Spend(key string, now time.Time) Quota {
	key = strings.ToLower(strings.TrimSpace(key))
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.per[key]
	if l == nil {
		t.makeRoom(now)
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.per[key] = l
	}
	q := Quota{Limit: t.burst}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		q.Wait = d
	}
	left := l.TokensAt(now)
	q.Remaining = max(0, int(left))
	q.Reset = time.Duration((float64(t.burst) - left) * float64(t.every))
	return q
}

// makeRoom forgets the idle buckets when the map has grown enough since
// the last sweep, and every bucket past maxKeys. The caller holds t.mu.
func (t *Throttle) makeRoom(now time.Time) {
	if t.per == nil {
		t.per = map[string]*rate.Limiter{}
	}
	if len(t.per) < max(t.sweepAt, minSweep) {
		return
	}
	for k, l := range t.per {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.per, k)
		}
	}
	if len(t.per) >= maxKeys {
		clear(t.per)
	}
	t.sweepAt = 2 * len(t.per)
}

// Len is how many buckets the throttle holds (memory in use).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.per)
}

// Wait is how long until key has an attempt left (0 when it has), spending
// nothing.
func (t *Throttle) Wait(key string, now time.Time) time.Duration {
	key = strings.ToLower(strings.TrimSpace(key))
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.per[key]
	if l == nil {
		return 0
	}
	missing := 1 - l.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing * float64(t.every))
}
