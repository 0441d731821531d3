// Package tenancy is the fence: the PostgreSQL pool, tenant-scoped
// transactions under row-level security, and the tenant's identities
// (accounts, users, memberships, API and MCP tokens).
//
// Every query on tenant data runs inside InTenant or Batch, which set
// deskwoot.account_id local to one transaction. Nothing here knows HTTP.
package tenancy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors every caller maps to a status; see MapError.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
	ErrNoTenant = errors.New("no tenant")
	// ErrUnavailable is PostgreSQL out of reach (stopped, restarting,
	// unreachable, out of connections): the doors answer 503 and the
	// caller may retry.
	ErrUnavailable = errors.New("the database is unavailable for a moment; try again shortly")
)

// DefaultConnectTimeout bounds a new connection when the URL sets no
// connect_timeout, so that a database host that stops answering turns
// into ErrUnavailable instead of a hanging request.
const DefaultConnectTimeout = 3 * time.Second

// DB is the pool the server shares, connected as deskwoot_app.
type DB struct {
	Pool *pgxpool.Pool
}

// Open connects a pool. The caller closes it with Close.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// beginTenant is BEGIN and the tenant setting in one simple-protocol round
// trip. The id is an int64 we format ourselves, so it cannot inject SQL.
func beginTenant(accountID int64) string {
	return "BEGIN; SELECT set_config('deskwoot.account_id', '" + strconv.FormatInt(accountID, 10) + "', true)"
}

// InTenant runs fn in a transaction whose tenant is accountID, and commits
// when fn returns nil. The setting is local to the transaction, so a pooled
// connection never carries it to its next user. BEGIN and the setting travel
// in one round trip.
func (db *DB) InTenant(ctx context.Context, accountID int64, fn func(tx pgx.Tx) error) error {
	if accountID <= 0 {
		return ErrNoTenant
	}
	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: beginTenant(accountID)})
	if err != nil {
		return MapError(err)
	}
	defer tx.Rollback(context.Background())
	if err := fn(tx); err != nil {
		return MapError(err)
	}
	return MapError(tx.Commit(ctx))
}

const setTenantSQL = `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`

// Batch sends b in one round trip, with the tenant setting queued first and
// ctx's Rider, if any, last. A pgx batch runs as one implicit transaction,
// so the setting covers exactly the queued statements and the rider commits
// with them. The callbacks set on b's queued queries (Query, QueryRow,
// Exec) run before Batch returns. Use it for hot reads and for
// single-statement writes that need no Go logic between statements.
func (db *DB) Batch(ctx context.Context, accountID int64, b *pgx.Batch) error {
	if accountID <= 0 {
		return ErrNoTenant
	}
	b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: setTenantSQL, Arguments: []any{accountID}}}, b.QueuedQueries...)
	done := attachRider(ctx, accountID, b)
	err := db.Pool.SendBatch(ctx, b).Close()
	done(err)
	return MapError(err)
}

// MapError turns driver errors into the package's sentinels (wrapped, so the
// original stays readable) and leaves every other error as it is.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrConflict, pe.ConstraintName)
		case "23503": // foreign_key_violation: the referenced row is not in this tenant
			return fmt.Errorf("%w: %s", ErrNotFound, pe.ConstraintName)
		case "23514", "23502", "22P02", "22001", "22007", "22008", "22023": // check, not null, bad text, too long, bad dates
			return fmt.Errorf("%w: %s", ErrInvalid, pe.Message)
		}
	}
	return err
}

// unavailable reports whether err means PostgreSQL is out of reach rather
// than that the statement was wrong: connection failures, a connection
// lost mid-query, the server shutting down or starting up, too many
// connections, or a timeout waiting for it. A caller's own cancellation
// is not one.
func unavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return false // mapped already
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-03: admin or crash shutdown,
		// cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
