package tenancy

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/fault"
)

// A Guard lets a request use a principal kept in memory (see
// identity.PrincipalCache) without a round trip of its own to
// authenticate: the guard's statement rides first in the request's first
// transaction (see Request) and makes that transaction fail, with nothing
// committed, unless the principal is still what the database says it is.
// The statement may also spend the request's calls from the token's rate
// limit, as the full authentication does.
//
// The fence knows how a guard rides and what its answer means, not what it
// checks: the statement comes from the package that owns the principal
// (identity.MCPPrincipal.Guard), which reads the same rows to
// authenticate. It answers one row (ok, remaining, reset: the calls that
// still fit and the seconds until the whole limit is free, both null when
// it spent nothing), or fails with SQLSTATE DW401 when the principal is
// not current and DW429 (the seconds to wait as its message) when the
// calls do not fit.
//
// Because the check runs inside the transaction that does the request's
// work, a change committed before that transaction started is always
// seen: no replica serves a revoked token again, however late any
// notification would be. A transaction refused by the guard fails with
// ErrPrincipalChanged (the door authenticates afresh) or, when the calls
// exceed the rate limit, with an error GuardLimited recognises; either way
// before the request has done anything. A request that makes no
// transaction settles its guard with Check.
type Guard struct {
	// Statement is the check and Args its arguments.
	Statement string
	Args      []any

	state guardState
	retry time.Duration // how long to wait, when Limited
	// remaining and reset are what the calls spent left of the token's
	// limit (when the guard verified and spent them).
	remaining, reset *int
}

// Left is what the guard's spending left of the token's rate limit: the
// calls that still fit now and the time until the whole limit is free
// again; ok is false until it has spent the request's calls.
func (g *Guard) Left() (remaining int, reset time.Duration, ok bool) {
	if g.remaining == nil || g.reset == nil {
		return 0, 0, false
	}
	return *g.remaining, time.Duration(*g.reset) * time.Second, true
}

type guardState int

const (
	guardWaiting guardState = iota
	guardVerified
	guardStale
	guardLimited
)

// Errors a guarded transaction fails with.
var (
	ErrPrincipalChanged = fault.New(fault.Unauthenticated, "", "the token or its account changed; authenticate again")
	errGuardLimited     = fault.New(fault.RateLimited, "", "rate limit exceeded")
)

// Verified says the guard ran in a transaction that committed: the cached
// principal was current then.
func (g *Guard) Verified() bool { return g.state == guardVerified }

// Stale says the cached principal no longer matches the database (or the
// token is revoked or expired): authenticate afresh.
func (g *Guard) Stale() bool { return g.state == guardStale }

// Settled says the guard has had its answer (it need ride no more).
func (g *Guard) Settled() bool { return g.state != guardWaiting }

// Limited says the request's calls would exceed the token's rate limit,
// and how long until they fit; the principal itself was current, so the
// request may go on to record its refusal.
func (g *Guard) Limited() (time.Duration, bool) { return g.retry, g.state == guardLimited }

// carried is the guard a transaction of the request must carry: nil once
// it has settled (or when there is none), and an error, with nothing to
// send, once it found the principal stale: nothing more of the request may
// reach the database on it.
func (r *Request) carried() (*Guard, error) {
	g := r.Guard
	switch {
	case g == nil:
		return nil, nil
	case g.state == guardWaiting:
		return g, nil
	case g.state == guardStale:
		return nil, ErrPrincipalChanged
	}
	return nil, nil // verified, or limited: the principal was current
}

// settle records the outcome of the transaction the guard rode in.
// committed says whether that transaction committed.
func (g *Guard) settle(err error, committed bool) {
	var pe *pgconn.PgError
	switch {
	case committed:
		g.state = guardVerified
	case errors.As(err, &pe) && pe.Code == "DW401":
		g.state = guardStale
	case errors.As(err, &pe) && pe.Code == "DW429":
		secs, _ := strconv.ParseFloat(pe.Message, 64)
		g.state, g.retry = guardLimited, max(time.Duration(secs*float64(time.Second)), time.Millisecond)
	}
	// Otherwise the transaction failed for another reason (its own
	// statements, the database out of reach) and rolled back the guard's
	// work with it: it stays waiting for the request's next transaction.
}

// GuardRefused says err is a request's guard failing (its principal
// changed, or its calls exceed the rate limit): the request is answered
// afresh, and the failure is no fault of the statement.
func GuardRefused(err error) bool {
	return errors.Is(err, ErrPrincipalChanged) || errors.Is(err, errGuardLimited)
}

// GuardLimited says err is a request's guard finding its calls over the
// token's rate limit (see Guard.Limited for how long to wait).
func GuardLimited(err error) bool { return errors.Is(err, errGuardLimited) }

// guardError maps a transaction's failure caused by the guard.
func guardError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "DW401":
			return ErrPrincipalChanged
		case "DW429":
			return errGuardLimited
		}
	}
	return nil
}

// queue adds the guard's statement to b (after the tenant setting).
func (g *Guard) queue(b *pgx.Batch) {
	b.Queue(g.Statement, g.Args...).QueryRow(func(r pgx.Row) error {
		var ok bool
		return r.Scan(&ok, &g.remaining, &g.reset)
	})
}

// Check settles the request's guard in a round trip of its own, for a
// request that makes no transaction (or whose transactions failed before
// the guard settled). A request without a waiting guard sends nothing.
func (db *DB) Check(ctx context.Context, req *Request) error {
	if err := req.begin(); err != nil {
		return err
	}
	defer req.end()
	g, err := req.carried()
	if g == nil || err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(setTenantSQL, req.AccountID)
	g.queue(b)
	err = db.Pool.SendBatch(ctx, b).Close()
	g.settle(err, err == nil)
	return mapGuardError(err)
}
