package tenancy

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/auditrow"
)

// Unit runs a request's work in one tenant transaction whose BEGIN travels
// with its first statements and whose COMMIT travels with its last, so the
// work pays no round trip for either: first (after the tenant setting and
// the request's waiting Guard) goes in the round trip that begins the
// transaction, fn does the rest with the transaction and returns last, the
// statements sent with COMMIT, after which goes the request's audit row
// (req.Audit, which fn may complete). With fn nil, everything goes in one
// round trip. Any error rolls everything back, the audit row included; a
// guard that refuses the principal rolls back the unit before fn runs, and
// the connection, rolled back, stays usable. The callbacks queued on first
// run before fn; those on last before Unit returns. The transaction has no
// savepoints (Begin) and fn must not Commit it. fn does all its work in
// tx: the request holds this one transaction until Unit returns, and any
// other it tries to begin meanwhile fails with ErrNested.
//
// A Unit's commit is durable: it waits for its WAL flush.
func (db *DB) Unit(ctx context.Context, req *Request, first *pgx.Batch, fn func(tx pgx.Tx) (last *pgx.Batch, err error)) error {
	return db.transact(ctx, req, false, first, fn)
}

// Read runs a read (b) and the request's audit row, if any, in one
// transaction in one round trip (a pgx batch, which PostgreSQL runs as one
// implicit transaction), after the tenant setting and the request's
// waiting Guard. The commit does not wait for its WAL flush
// (synchronous_commit off, for this transaction only): a read changes
// nothing, and what a crash of the database can lose is at most the last
// moments of read audit rows (see the README), never a write or its audit
// row. b's callbacks run before Read returns; one that fails (a read that
// found no row) fails Read, but the server ran the whole batch, and the
// audit row, if any, committed (Audited says so).
func (db *DB) Read(ctx context.Context, req *Request, b *pgx.Batch) error {
	return db.transact(ctx, req, true, b, nil)
}

// Record commits the request's audit row in a transaction of its own (with
// its waiting Guard), durably: for a request whose work changed nothing —
// a refusal, a failure, an export about to stream.
func (db *DB) Record(ctx context.Context, req *Request) error {
	return db.transact(ctx, req, false, nil, nil)
}

// transact is Unit, Read and Record.
func (db *DB) transact(ctx context.Context, req *Request, read bool, first *pgx.Batch, fn func(tx pgx.Tx) (*pgx.Batch, error)) error {
	if err := req.begin(); err != nil {
		return err
	}
	defer req.end()
	g, err := req.carried()
	if err != nil {
		return err
	}
	rec := req.pendingAudit()
	var committed bool
	var auditID int64
	if read {
		committed, err = db.read(ctx, req.AccountID, g, rec, &auditID, first)
	} else {
		committed, err = db.unit(ctx, req, g, rec, &auditID, first, fn)
	}
	if committed && rec != nil {
		req.audited, req.auditID = true, auditID
		db.audited(req.AccountID)
	}
	if g != nil {
		g.settle(err, committed) // verified only when the unit committed
		return mapGuardError(err)
	}
	if req.Member != 0 && memberEnded(err) {
		return ErrMemberEnded
	}
	return MapError(err)
}

// memberEnded says a unit failed on its member hold (DW401).
func memberEnded(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "DW401"
}

// memberHoldSQL locks the acting person's active membership for the
// unit, or fails it with DW401 (ByMember).
const memberHoldSQL = `SELECT deskwoot_member_hold($1)`

// unit sends the transaction and reports whether it committed: a Go
// callback that fails after the server ran the whole batch (a read that
// found no row) leaves it committed, with that error.
func (db *DB) unit(ctx context.Context, req *Request, g *Guard, rec *auditrow.Entry, auditID *int64, first *pgx.Batch, fn func(tx pgx.Tx) (*pgx.Batch, error)) (committed bool, err error) {
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// The pool closes a connection released inside a transaction, so a
	// failed rollback cannot hand a half-done unit to its next user.
	defer c.Release()
	tx := &unitTx{conn: c.Conn()}
	head := &pgx.Batch{}
	if req.snapshot {
		head.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	} else {
		head.Queue("BEGIN")
	}
	head.Queue(setTenantSQL, req.AccountID)
	if g != nil {
		g.queue(head)
	}
	if req.Member != 0 {
		head.Queue(memberHoldSQL, req.Member)
	}
	if first != nil {
		head.QueuedQueries = append(head.QueuedQueries, first.QueuedQueries...)
	}
	send := func(b *pgx.Batch, commits bool) (bool, error) {
		if commits {
			if rec != nil {
				auditrow.QueueID(b, req.AccountID, *rec, auditID)
			}
			b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
				if tag.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to the COMMIT of a failed transaction
					return errUnitRolledBack
				}
				return nil
			})
		}
		err := c.SendBatch(ctx, b).Close()
		if err == nil {
			return commits, nil
		}
		// After a failure the server skips the rest of the batch, unless
		// the failure was a Go callback's (the server ran it all). Out of
		// any transaction, the COMMIT it carried ran.
		if c.Conn().IsClosed() {
			return false, err
		}
		if c.Conn().PgConn().TxStatus() == 'I' {
			return commits && !errors.Is(err, errUnitRolledBack), err
		}
		tx.rollback()
		return false, err
	}
	if fn == nil {
		return send(head, true)
	}
	if _, err := send(head, false); err != nil {
		return false, err
	}
	last, err := fn(tx)
	if err != nil {
		tx.rollback()
		return false, err
	}
	if last == nil {
		last = &pgx.Batch{}
	}
	return send(last, true)
}

// read sends b as one implicit transaction: the tenant setting (with
// asynchronous commit when the batch writes: the guard's bookkeeping, the
// audit row) in one statement, the guard, b, the audit row. It reports
// whether the batch committed: after a failure of a Go callback the server
// has run the whole batch, after a statement's own it has rolled it back.
func (db *DB) read(ctx context.Context, acct int64, g *Guard, rec *auditrow.Entry, auditID *int64, b *pgx.Batch) (committed bool, err error) {
	head := &pgx.Batch{}
	if g == nil && rec == nil {
		head.Queue(setTenantSQL, acct)
	} else {
		head.Queue(setTenantAsyncSQL, acct)
	}
	if g != nil {
		g.queue(head)
	}
	if b != nil {
		head.QueuedQueries = append(head.QueuedQueries, b.QueuedQueries...)
	}
	if rec != nil {
		auditrow.QueueID(head, acct, *rec, auditID)
	}
	err = db.Pool.SendBatch(ctx, head).Close()
	var pe *pgconn.PgError
	return err == nil || !(errors.As(err, &pe) || unavailable(err) || errors.Is(err, context.Canceled)), err
}

// setTenantAsyncSQL is setTenantSQL that also lets the transaction commit
// without waiting for its WAL flush (DESIGN §16): a read's.
const setTenantAsyncSQL = `SELECT set_config('deskwoot.account_id', $1::bigint::text, true), set_config('synchronous_commit', 'off', true)`

var errUnitRolledBack = errors.New("tenancy: the unit of work's transaction had failed and rolled back")

// unitTx is a Unit's transaction as pgx.Tx: statements run on the unit's
// connection, inside the BEGIN its first batch sent.
type unitTx struct {
	conn *pgx.Conn
}

func (t *unitTx) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.conn.Exec(ctx, "ROLLBACK") // a failure leaves the connection in the transaction: the pool closes it
}

func (t *unitTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("tenancy: a unit of work has no savepoints")
}

func (t *unitTx) Commit(context.Context) error {
	return errors.New("tenancy: a unit of work commits with its last batch")
}

func (t *unitTx) Rollback(context.Context) error {
	return errors.New("tenancy: a unit of work rolls back when its function fails")
}

func (t *unitTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *unitTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects are not used in a unit of work.
func (t *unitTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *unitTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *unitTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.conn.Exec(ctx, sql, args...)
}

func (t *unitTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.conn.Query(ctx, sql, args...)
}

func (t *unitTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *unitTx) Conn() *pgx.Conn { return t.conn }

// audited tells OnAudit that acct committed an audit row.
func (db *DB) audited(acct int64) {
	if db.OnAudit != nil {
		db.OnAudit(acct)
	}
}
