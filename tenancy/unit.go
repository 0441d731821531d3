package tenancy

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Unit runs a write in one tenant transaction whose BEGIN travels with
// its first statements and whose COMMIT travels with its last, so a write
// pays no round trip for either: first (after the tenant setting and ctx's
// unsettled Guard) goes in the round trip that begins the transaction, fn
// does the rest with the transaction and returns last, the statements sent
// with COMMIT. Any error rolls everything back; a guard that refuses the
// principal rolls back the unit before fn runs, and the connection, rolled
// back, stays usable. The callbacks queued on first run before fn; those
// on last before Unit returns. The transaction has no savepoints (Begin)
// and fn must not Commit it. fn does all its work in tx: while the unit
// holds ctx's guard, another transaction of ctx would wait for it.
func (db *DB) Unit(ctx context.Context, accountID int64, first *pgx.Batch, fn func(tx pgx.Tx) (last *pgx.Batch, err error)) error {
	if accountID <= 0 {
		return ErrNoTenant
	}
	g, err := takeGuard(ctx, accountID)
	if err != nil {
		return err
	}
	err = db.unit(ctx, accountID, g, first, fn)
	if g != nil {
		g.settle(err) // verified only when the unit committed
		return mapGuardError(err)
	}
	return MapError(err)
}

func (db *DB) unit(ctx context.Context, accountID int64, g *Guard, first *pgx.Batch, fn func(tx pgx.Tx) (*pgx.Batch, error)) error {
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The pool closes a connection released inside a transaction, so a
	// failed rollback cannot hand a half-done unit to its next user.
	defer c.Release()
	tx := &unitTx{conn: c.Conn()}
	head := &pgx.Batch{}
	head.Queue("BEGIN")
	head.Queue(setTenantSQL, accountID)
	if g != nil {
		g.queue(head)
	}
	if first != nil {
		head.QueuedQueries = append(head.QueuedQueries, first.QueuedQueries...)
	}
	if err := c.SendBatch(ctx, head).Close(); err != nil {
		tx.rollback()
		return err
	}
	last, err := fn(tx)
	if err != nil {
		tx.rollback()
		return err
	}
	if last == nil {
		last = &pgx.Batch{}
	}
	last.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" { // PostgreSQL answers ROLLBACK to the COMMIT of a failed transaction
			return errUnitRolledBack
		}
		return nil
	})
	if err := c.SendBatch(ctx, last).Close(); err != nil {
		tx.rollback()
		return err
	}
	return nil
}

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
