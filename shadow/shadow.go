// Package shadow tries an account's candidate rules on its live traffic
// (issue 24, DESIGN §22). After a live call has been decided, answered and
// audited, the candidate the account put in shadow decides the same input
// (only as far as it could change the decision: policy's DecideLive), and
// each call it would have decided differently is recorded with the call's
// audit row (Record).
//
// Nothing it does can reach the live call: Observe only queues the call,
// without waiting; one goroutine per replica takes the queue, account by
// account in turn, and decides in a sandbox child of its own
// (policy.Engine.PrepareShadow), so a candidate that runs over, fails to
// compile or crashes its child is recorded as the fail-closed denial it
// would have been, and costs the live calls at most one child's share of
// a CPU. A full queue skips calls, and counts them.
package shadow

import (
	"context"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Call is one live call as the rules in force decided it.
type Call struct {
	AccountID int64
	// AuditID is the call's audit row (0: none was written), which a
	// flip names.
	AuditID int64
	// At is when the call began (its audit row was written after).
	At       time.Time
	Input    policy.Input
	Decision policy.Decision
}

// Bounds of the queue and of the reading of each account's shadow.
const (
	// queuedPerAccount and queuedInAll bound the calls waiting for a
	// shadow decision; past them calls are skipped (and counted).
	queuedPerAccount = 256
	queuedInAll      = 4096
	// recheckEvery is how long a replica trusts what it read of an
	// account's shadow: a shadow started or ended on another replica
	// holds here within that time (on this one, at once: Forget).
	recheckEvery = 10 * time.Second
	// maxAccounts is when accounts without anything waiting are swept
	// from memory.
	maxAccounts = 10000
)

// Recorder decides the live calls of accounts with a candidate in shadow
// and records the flips. Safe for concurrent use; Close stops it.
type Recorder struct {
	db   *tenancy.DB
	e    *policy.Engine
	wake chan struct{} // a call was queued
	stop context.CancelFunc
	done chan struct{} // closed when the worker has stopped

	mu       sync.Mutex
	accounts map[int64]*account
	ready    []int64 // accounts with calls waiting, in turn
	queued   int     // calls waiting in all
	closed   bool
}

// account is what the replica knows of one account's shadow, and the
// account's calls waiting for it.
type account struct {
	rules     *policy.TenantPolicy // the candidate in shadow; nil: none
	candidate int64
	until     time.Time
	checked   time.Time // when the above was read (zero: never, or forgotten)

	waiting  []Call
	skipped  int64 // calls skipped since the last write
	oneByOne int   // the next calls go one per trip (a trip of many failed)
}

// known says whether the account is known, as of now, to have no
// candidate in shadow: its calls need not wait.
func (a *account) known(now time.Time) bool {
	return !a.checked.IsZero() && now.Sub(a.checked) < recheckEvery && (a.rules == nil || !now.Before(a.until))
}

// New starts the recorder of one replica.
func New(db *tenancy.DB, e *policy.Engine) *Recorder {
	ctx, stop := context.WithCancel(context.Background())
	r := &Recorder{db: db, e: e, wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{}),
		accounts: map[int64]*account{}}
	go r.work(ctx)
	return r
}

// Watches says whether the account's live calls are wanted (Observe): it
// has a candidate in shadow, or this replica has not looked lately. A call
// of an account it does not watch need not even be put together.
func (r *Recorder) Watches(acct int64) bool {
	if r == nil {
		return false
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watches(acct, now)
}

// watches is Watches with mu held.
func (r *Recorder) watches(acct int64, now time.Time) bool {
	a := r.accounts[acct]
	return !r.closed && (a == nil || !a.known(now))
}

// Observe queues a live call for the account's candidate in shadow, if it
// has one (or this replica has not looked lately). It never waits: the
// call has been answered, and nothing of the shadow may reach it.
func (r *Recorder) Observe(c *Call) {
	if r == nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.watches(c.AccountID, now) {
		return
	}
	a := r.account(c.AccountID)
	if len(a.waiting) >= queuedPerAccount || r.queued >= queuedInAll {
		a.skipped++
		return
	}
	if len(a.waiting) == 0 {
		r.ready = append(r.ready, c.AccountID)
	}
	a.waiting = append(a.waiting, *c)
	r.queued++
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Forget makes the replica read the account's shadow again before its
// next call: a shadow started or ended here holds from the next call.
func (r *Recorder) Forget(acct int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.accounts[acct]; a != nil {
		a.checked = time.Time{}
	}
}

// Close stops the worker (a trip under way ends within its bounds); calls
// still waiting are dropped.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	<-r.done
}

// account is what the replica knows of acct, made when it knows nothing
// (the accounts with nothing waiting are let go when there are too many).
// Called with mu held.
func (r *Recorder) account(acct int64) *account {
	if a := r.accounts[acct]; a != nil {
		return a
	}
	if len(r.accounts) >= maxAccounts {
		r.sweep()
	}
	a := &account{}
	r.accounts[acct] = a
	return a
}

// sweep lets go of the accounts with nothing waiting. Called with mu held.
func (r *Recorder) sweep() {
	for id, a := range r.accounts {
		if len(a.waiting) == 0 && a.skipped == 0 {
			delete(r.accounts, id)
		}
	}
}
