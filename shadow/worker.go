package shadow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/sandbox"
)

// Sizes of a turn: one trip to the shadow's child with at most tripCalls
// of one account's calls, starting none after tripBudget (the first
// always starts); then the next account's turn.
const (
	tripCalls  = 32
	tripBudget = 100 * time.Millisecond
)

// gather is how long the worker lets calls gather after the first one
// arrives: calls that come close together then share one trip to the
// sandbox and one write (what a call costs the replica's CPUs, which the
// live calls share, is mostly per trip and per write, not per call).
const gather = 50 * time.Millisecond

// work takes turns until the recorder is closed.
func (r *Recorder) work(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gather):
		}
		for ctx.Err() == nil && r.turn(ctx) {
		}
	}
}

// turn serves the account first in line: it reads the account's shadow if
// this replica has not lately, decides a trip of its waiting calls with
// the candidate and records what the trip saw. Calls the trip did not
// reach wait for the account's next turn, behind the other accounts. It
// says whether there was a turn to take. A panic ends the turn, never the
// worker.
func (r *Recorder) turn(ctx context.Context) (took bool) {
	acct, ok := r.next()
	if !ok {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			slog.Error("shadow: a turn panicked", "account", acct, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			took = true // the others' turns go on
		}
	}()
	a, err := r.shadowOf(ctx, acct)
	if err != nil {
		slog.Error("shadow: read the account's shadow", "account", acct, "err", err)
	}
	trip, skipped := r.take(acct, a)
	if a.rules == nil || len(trip) == 0 && skipped == 0 {
		return true
	}
	seen, answered := r.decide(ctx, a, trip)
	r.giveBack(acct, trip[answered:])
	seen.Skipped = skipped
	if err := Record(ctx, r.db, acct, seen); err != nil && ctx.Err() == nil {
		slog.Error("shadow: record", "account", acct, "candidate", a.candidate, "err", err)
	}
	return true
}

// next is the account whose turn it is.
func (r *Recorder) next() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ready) == 0 {
		return 0, false
	}
	acct := r.ready[0]
	r.ready = r.ready[1:]
	return acct, true
}

// shadowOf is the account's shadow as of now, read again when this
// replica's reading is older than recheckEvery. A failed read keeps the
// one before.
func (r *Recorder) shadowOf(ctx context.Context, acct int64) (account, error) {
	r.mu.Lock()
	a := r.account(acct)
	due := time.Since(a.checked) >= recheckEvery
	current := *a
	r.mu.Unlock()
	if !due {
		return current, nil
	}
	sr, found, err := RulesInForce(ctx, r.db, acct)
	if err != nil {
		return current, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a.checked = time.Now()
	switch {
	case !found:
		a.rules, a.candidate = nil, 0
	case a.rules == nil || a.candidate != sr.CandidateID:
		a.rules, a.candidate = r.e.PrepareShadow(acct, policy.TenantRules{Rego: sr.Rego}), sr.CandidateID
	}
	a.until = sr.Until
	return *a, nil
}

// take takes the account's calls for one trip, and its count of skipped
// calls. Calls made after the shadow ended, and every call when the
// account has none, are let go.
func (r *Recorder) take(acct int64, shadow account) (trip []Call, skipped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.account(acct)
	n := min(len(a.waiting), tripCalls)
	if a.oneByOne > 0 {
		n = min(n, 1)
	}
	trip = append([]Call(nil), a.waiting[:n]...)
	a.waiting = a.waiting[n:]
	r.queued -= n
	if len(a.waiting) > 0 {
		r.ready = append(r.ready, acct)
	}
	skipped, a.skipped = a.skipped, 0
	if shadow.rules == nil {
		return nil, 0
	}
	kept := trip[:0]
	for _, c := range trip {
		if c.At.Before(shadow.until) {
			kept = append(kept, c)
		}
	}
	return kept, skipped
}

// giveBack puts calls a trip did not reach back at the head of the
// account's line.
func (r *Recorder) giveBack(acct int64, calls []Call) {
	if len(calls) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.account(acct)
	if len(a.waiting) == 0 {
		r.ready = append(r.ready, acct)
	}
	a.waiting = append(append([]Call(nil), calls...), a.waiting...)
	r.queued += len(calls)
}

// decide decides a trip of calls with the candidate in shadow, and says
// what it saw and how many of the calls it answered (the first ones). A
// trip of many whose child ran over or died is tried again one call per
// trip, so that the call to blame is recorded alone as the fail-closed
// denial the candidate would have given it; a busy child answers none.
func (r *Recorder) decide(ctx context.Context, a account, trip []Call) (Seen, int) {
	seen := Seen{CandidateID: a.candidate}
	if len(trip) == 0 {
		return seen, 0
	}
	calls := make([]policy.LiveCall, len(trip))
	for i, c := range trip {
		calls[i] = policy.LiveCall{Input: c.Input, Decision: c.Decision}
	}
	results, err := a.rules.DecideLive(ctx, calls, tripBudget)
	switch {
	case errors.Is(err, sandbox.ErrBusy) || ctx.Err() != nil:
		return seen, 0
	case err != nil && len(trip) > 1:
		r.setOneByOne(a.rules.AccountID, len(trip))
		return seen, 0
	case err != nil:
		results = []policy.DecideResult{{Decision: policy.FailedDecision(0, err)}}
	}
	for i, res := range results {
		if res.Skipped {
			continue
		}
		seen.Decisions++
		c := trip[i]
		before, after := c.Decision.Outcome(), res.Decision.Outcome()
		if before == after {
			continue
		}
		f := FlippedCall{AuditID: c.AuditID, Tool: c.Input.Tool, Before: before, After: after}
		if !res.Decision.Allow {
			f.Reasons = res.Decision.Reasons
		}
		seen.Flips = append(seen.Flips, f)
	}
	r.setOneByOne(a.rules.AccountID, -len(results))
	return seen, len(results)
}

// setOneByOne adds n to the count of the account's calls that go one per
// trip (never below zero).
func (r *Recorder) setOneByOne(acct int64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.account(acct)
	a.oneByOne = max(0, a.oneByOne+n)
}
