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

// all reads every row of a query in the tenant, in one round trip, into
// structs whose fields match the selected columns in order.
func all[T any](ctx context.Context, db *tenancy.DB, acct int64, sql string, args ...any) ([]T, error) {
	return collect(ctx, db, acct, pgx.RowToStructByPos[T], sql, args...)
}

// collect reads every row of a query in the tenant, in one round trip,
// with scan.
func collect[T any](ctx context.Context, db *tenancy.DB, acct int64, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	b := &pgx.Batch{}
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	if err := db.Batch(ctx, acct, b); err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}
