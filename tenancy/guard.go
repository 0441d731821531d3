package tenancy

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/fault"
)

// A Guard lets a request use an MCP principal kept in memory (see
// PrincipalCache) without a round trip of its own to authenticate: the
// guard's statements ride first in the request's first tenant transaction
// (Batch or InTenant) and make that transaction fail, with nothing
// committed, unless the token is still unrevoked and unexpired and its row
// and its account's row are unchanged since the principal was read. They
// also spend the request's calls from the token's rate limit, as the full
// authentication does. (InTenant checks the guard in a round trip before
// it begins; a unit of work, Unit, carries it in the batch that begins it.)
//
// Because the check runs inside the transaction that does the request's
// work, a revocation (or scope, inbox, plan change) committed before that
// transaction started is always seen: no replica serves a revoked token
// again, however late any notification would be. The caller that finds
// the guard Stale authenticates afresh and runs the request again; one
// that finds it Limited answers the rate limit. A request that made no
// tenant transaction calls Check before it answers.
type Guard struct {
	AccountID int64
	TokenID   int64
	Stamp     string
	Calls     int
	Now       time.Time
	// AccessSignature is set for an OAuth access token: the hash of the
	// token presented, which must still be active and unexpired.
	AccessSignature []byte

	// mu is held from the moment a transaction takes the guard until its
	// outcome settles, so a second transaction of the same request waits
	// for it rather than running unguarded.
	mu    sync.Mutex
	state guardState
	retry time.Duration // how long to wait, when Limited
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

type guardKey struct{}

// WithGuard returns ctx carrying g for the request's first tenant
// transaction of g's account.
func WithGuard(ctx context.Context, g *Guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

func (g *Guard) get() (guardState, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state, g.retry
}

// Verified says the guard ran in a transaction that committed: the cached
// principal was current then.
func (g *Guard) Verified() bool { st, _ := g.get(); return st == guardVerified }

// Stale says the cached principal no longer matches the database (or the
// token is revoked or expired): authenticate afresh.
func (g *Guard) Stale() bool { st, _ := g.get(); return st == guardStale }

// Limited says the request's calls would exceed the token's rate limit,
// and how long until they fit; the principal itself was current.
func (g *Guard) Limited() (time.Duration, bool) {
	st, retry := g.get()
	return retry, st == guardLimited
}

// takeGuard returns ctx's guard, locked, when a transaction of accountID
// must carry it; the transaction then calls settle. It returns nil when
// there is no guard (or it is another account's, or verified already),
// and an error, with nothing to send, once the guard has failed: nothing
// more of the request may reach the database on the stale principal.
func takeGuard(ctx context.Context, accountID int64) (*Guard, error) {
	g, _ := ctx.Value(guardKey{}).(*Guard)
	if g == nil || g.AccountID != accountID {
		return nil, nil
	}
	g.mu.Lock()
	switch g.state {
	case guardWaiting:
		return g, nil
	case guardStale:
		g.mu.Unlock()
		return nil, ErrPrincipalChanged
	case guardLimited:
		g.mu.Unlock()
		return nil, errGuardLimited
	}
	g.mu.Unlock()
	return nil, nil
}

// settle records the outcome of the transaction the guard rode in, and
// releases it.
func (g *Guard) settle(err error) {
	defer g.mu.Unlock()
	var pe *pgconn.PgError
	switch {
	case err == nil, errors.Is(err, pgx.ErrNoRows):
		// ErrNoRows comes from a Go callback reading a result, after the
		// server ran the whole batch: it committed.
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
// changed, or its calls exceed the rate limit): the request is being
// answered afresh, and the failure is no fault of the statement.
func GuardRefused(err error) bool {
	return errors.Is(err, ErrPrincipalChanged) || errors.Is(err, errGuardLimited)
}

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
	b.Queue(guardSQL, g.TokenID, g.Stamp, g.Now, g.AccessSignature, g.Calls)
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
		SELECT account_id, id, clock_timestamp() AS now,
			make_interval(secs => $5::int * 60.0 / greatest(rate_limit_per_minute, 1)) AS cost
		FROM g WHERE current AND $5::int > 0
	), ` + rateSpendCTEs + `
	SELECT CASE
		WHEN NOT coalesce((SELECT current FROM g), false) THEN deskwoot_guard_refuse(false, 0)
		WHEN $5::int = 0 OR EXISTS (SELECT 1 FROM spent) THEN true
		ELSE deskwoot_guard_refuse(true, ` + rateRetrySQL + `)
	END`

// Check settles ctx's guard in a round trip of its own, for a request that
// made no tenant batch (or whose batches failed before the guard settled).
func (db *DB) Check(ctx context.Context, g *Guard) {
	db.checkGuard(WithGuard(ctx, g), g.AccountID)
}

// checkGuard sends ctx's unsettled guard of accountID on its own.
func (db *DB) checkGuard(ctx context.Context, accountID int64) error {
	g, err := takeGuard(ctx, accountID)
	if g == nil || err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(setTenantSQL, accountID)
	g.queue(b)
	err = db.Pool.SendBatch(ctx, b).Close()
	g.settle(err)
	return mapGuardError(err)
}
