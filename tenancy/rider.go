package tenancy

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Rider is one statement that rides at the end of the next tenant batch
// (DB.Batch) of a request, so that it commits in the same implicit
// transaction as the read before it, in the same round trip. The MCP door
// uses it for the audit row of an allowed read: the read and its audit row
// commit together, or neither does.
type Rider struct {
	AccountID int64
	SQL       string
	Args      []any
	state     atomic.Int32 // riderWaiting, riderInFlight, riderCommitted
	rows      atomic.Int64 // rows the statement wrote
}

const (
	riderWaiting int32 = iota
	riderInFlight
	riderCommitted
)

type riderKey struct{}

// WithRider returns ctx carrying r for the next DB.Batch of r's account.
func WithRider(ctx context.Context, r *Rider) context.Context {
	return context.WithValue(ctx, riderKey{}, r)
}

// Rode reports whether the rider went out in a batch that succeeded, and so
// committed, and wrote at least one row (a conditional insert whose
// condition failed has not ridden). When it did not (the request made no tenant batch, or its batch
// failed), the caller writes the statement itself. A batch that failed only
// in a Go callback after the server committed leaves it written twice at
// worst, never not at all.
func (r *Rider) Rode() bool { return r.state.Load() == riderCommitted && r.rows.Load() > 0 }

// attachRider appends ctx's rider to b when it is for this account and is
// not already out; the returned done settles it with the batch's error.
func attachRider(ctx context.Context, accountID int64, b *pgx.Batch) (done func(error)) {
	r, _ := ctx.Value(riderKey{}).(*Rider)
	if r == nil || r.AccountID != accountID || !r.state.CompareAndSwap(riderWaiting, riderInFlight) {
		return func(error) {}
	}
	b.Queue(r.SQL, r.Args...).Exec(func(tag pgconn.CommandTag) error {
		r.rows.Store(tag.RowsAffected())
		return nil
	})
	return func(err error) {
		if err != nil {
			r.state.Store(riderWaiting)
			return
		}
		r.state.Store(riderCommitted)
	}
}
