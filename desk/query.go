package desk

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// where builds a WHERE clause from the conditions in use; "?" in each
// condition becomes the next $n.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(w.conds, " AND ")
}

func pageOf[T any](rows []T, limit int, key func(T) (time.Time, int64)) ([]T, *string, error) {
	if rows == nil {
		rows = []T{}
	}
	if len(rows) <= limit {
		return rows, nil, nil
	}
	rows = rows[:limit]
	at, id := key(rows[limit-1])
	return rows, nextCursor(true, at, id), nil
}

// all reads every row of a query in the request's tenant, in one round
// trip (with its audit row, if any), into structs whose fields match the
// selected columns in order.
func all[T any](ctx context.Context, db *tenancy.DB, req *tenancy.Request, sql string, args ...any) ([]T, error) {
	return collect(ctx, db, req, pgx.RowToStructByPos[T], sql, args...)
}

// collect reads every row of a query in the request's tenant, in one round
// trip (with its audit row, if any), with scan.
func collect[T any](ctx context.Context, db *tenancy.DB, req *tenancy.Request, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	b := &pgx.Batch{}
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	if err := db.Read(ctx, req, b); err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// inUnit runs fn as the request's unit of work: what fn does and the
// request's audit row commit together, or neither does.
func (d *Desk) inUnit(ctx context.Context, req *tenancy.Request, fn func(tx pgx.Tx) error) error {
	return d.DB.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) { return nil, fn(tx) })
}

// nothingMore is a unit's function for a write sent whole in its first
// batch: the audit row and COMMIT follow once that batch succeeded.
func nothingMore(pgx.Tx) (*pgx.Batch, error) { return nil, nil }
