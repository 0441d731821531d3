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

// A Guard lets a request use an MCP principal kept in memory (see
// PrincipalCache) without a round trip of its own to authenticate: the
// guard's statement rides first in the request's first transaction (see
// Request) and makes that transaction fail, with nothing committed, unless
// the token is still unrevoked and unexpired and its row and its account's
// row are unchanged since the principal was read. It also spends the
// request's calls from the token's rate limit, as the full authentication
// does.
//
// Because the check runs inside the transaction that does the request's
// work, a revocation (or scope, inbox, plan change) committed before that
// transaction started is always seen: no replica serves a revoked token
// again, however late any notification would be. A transaction refused by
// the guard fails with ErrPrincipalChanged (the door authenticates afresh)
// or, when the calls exceed the rate limit, with an error GuardLimited
// recognises; either way before the request has done anything. A request
// that makes no transaction settles its guard with Check.
type Guard struct {
	TokenID int64
	Stamp   string
	Calls   int
	Now     time.Time
	// AccessSignature is set for an OAuth access token: the hash of the
	// token presented, which must still be active and unexpired.
	AccessSignature []byte

	state guardState
	retry time.Duration // how long to wait, when Limited
	// quota is what the calls spent left of the token's limit (when the
	// guard verified and spent them).
	remaining, reset *int
}

// Quota is what the guard's spending left of the token's rate limit of
// limit calls a minute: nil until it has spent the request's calls.
func (g *Guard) Quota(limit int) *Quota {
	if g.remaining == nil || g.reset == nil {
		return nil
	}
	return &Quota{Limit: limit, Remaining: *g.remaining, Reset: time.Duration(*g.reset) * time.Second}
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
	b.Queue(guardSQL, g.TokenID, g.Stamp, g.Now, g.AccessSignature, g.Calls).QueryRow(func(r pgx.Row) error {
		var ok bool
		return r.Scan(&ok, &g.remaining, &g.reset)
	})
}

// guardSQL is the guard in one statement (each statement of a batch costs
// the server as much as a small read). g is the token's row, current when
// its stamp ($2) still matches and it is unrevoked and unexpired at $3
// (and, for OAuth, the access token $4 is still active and unexpired);
// touched notes its use at most once a minute; t, prior and spent spend $5
// calls from its rate limit. The statement fails with DW401 when the
// principal is not current and with DW429 (the seconds to wait) when the
// calls do not fit, so that nothing in its transaction commits.
const guardSQL = `WITH g AS (
		SELECT t.account_id, t.id, t.rate_limit_per_minute,
			deskwoot_mcp_stamp(t, a) = $2 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR $3 < t.expires_at)
			AND ($4::bytea IS NULL OR EXISTS (SELECT 1 FROM oauth_tokens o
				WHERE o.kind = 'access' AND o.signature = $4::bytea AND o.grant_id = t.id AND o.active AND $3 < o.expires_at)) AS current
		FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.id = $1
	), touched AS (
		UPDATE mcp_tokens SET last_used_at = now()
		WHERE id = (SELECT id FROM g WHERE current) AND ` + lastUseDue + `
		RETURNING 1
	), t AS (
		SELECT account_id, id, clock_timestamp() AS now, rate_limit_per_minute AS lim,
			make_interval(secs => $5::int * 60.0 / greatest(rate_limit_per_minute, 1)) AS cost
		FROM g WHERE current AND $5::int > 0
	), ` + rateSpendCTEs + `
	SELECT CASE
		WHEN NOT coalesce((SELECT current FROM g), false) THEN deskwoot_guard_refuse(false, 0)
		WHEN $5::int = 0 OR EXISTS (SELECT 1 FROM spent) THEN true
		ELSE deskwoot_guard_refuse(true, ` + rateRetrySQL + `)
	END, (SELECT remaining FROM quota), (SELECT reset FROM quota)`

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
