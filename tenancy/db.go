// Package tenancy is the fence: the PostgreSQL pool, the one way into a
// tenant under row-level security, the guard that re-checks a principal
// kept in memory inside a request's own transaction, the count of round
// trips, and the mapping of driver errors to the sentinels every package
// tests with errors.Is.
//
// There is one way into a tenant: a Request's transaction (Unit, Read,
// Record), which sets deskwoot.account_id local to that transaction.
// InTenant, InTenantSnapshot and Batch are that way for work of no request
// in particular (delivery, sealing, reports). What must run before the
// tenant is known (a credential's look-up) enters through Resolve or a
// LookupTx, which set the tenant from a SECURITY DEFINER look-up.
//
// Who acts in a tenant (accounts, people, sessions, tokens, principals) is
// package identity's, above this one: the fence knows no principal, so
// that everything that runs SQL can use it. Nothing here knows HTTP.
package tenancy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/fault"
)

// Sentinel errors every caller can test with errors.Is; the errors
// themselves are *fault.Error values built by MapError and the domain.
var (
	ErrNotFound = fault.ErrNotFound
	ErrConflict = fault.ErrConflict
	ErrInvalid  = fault.ErrInvalid
	ErrNoTenant = errors.New("no tenant")
	// ErrUnavailable is PostgreSQL out of reach (stopped, restarting,
	// unreachable, out of connections): the doors answer 503 and the
	// caller may retry.
	ErrUnavailable = fault.New(fault.Unavailable, "", "the database is unavailable for a moment; try again shortly")
)

// DefaultConnectTimeout bounds a new connection when the URL sets no
// connect_timeout, so that a database host that stops answering turns
// into ErrUnavailable instead of a hanging request.
const DefaultConnectTimeout = 3 * time.Second

// DB is the pool the server shares, connected as deskwoot_app.
type DB struct {
	Pool *pgxpool.Pool
	// OnAudit, when set, is told the account of every transaction that
	// committed a request's audit row (the audit sealer's Touch).
	OnAudit func(accountID int64)
	trips   *roundTrips // set by Open
}

// DefaultMaxConns is the pool's size when neither the URL
// (pool_max_conns) nor the caller sets one: four connections per processor
// the process may use, at least four. A request spends most of its life
// waiting on round trips, so pgx's own default of one per processor
// leaves the processors idle under concurrent load. The database's own
// limit (max_connections, about 100 by default) bounds replicas × this.
func DefaultMaxConns() int { return max(4, 4*runtime.GOMAXPROCS(0)) }

// Open connects a pool of the default size. The caller closes it with Close.
func Open(ctx context.Context, url string) (*DB, error) { return OpenPool(ctx, url, 0) }

// OpenPool connects a pool of at most maxConns connections. With 0 the
// URL's pool_max_conns decides, else DefaultMaxConns.
func OpenPool(ctx context.Context, url string, maxConns int) (*DB, error) {
	cfg, trips, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	switch {
	case maxConns > 0:
		cfg.MaxConns = int32(maxConns)
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = int32(DefaultMaxConns())
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return &DB{Pool: pool, trips: trips}, nil
}

// OpenBackground is a pool for work off the requests' path (the shadow
// rules): at most maxConns connections, none made until the first use,
// each closed after a minute idle, so that such work never waits for nor
// holds a connection the requests need, and costs none while it is idle.
func OpenBackground(url string, maxConns int) (*DB, error) {
	cfg, trips, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.MinConns = int32(maxConns), 0
	cfg.MaxConnIdleTime = time.Minute
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &DB{Pool: pool, trips: trips}, nil
}

// poolConfig parses a database URL into a pool's configuration with the
// connect timeout defaulted and round trips counted.
func poolConfig(url string) (*pgxpool.Config, *roundTrips, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	return cfg, trips, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// InTenant runs fn in a transaction whose tenant is accountID, and commits
// when fn returns nil: the Unit of a request that re-checks nothing and
// records nothing (For). The setting is local to the transaction, so a
// pooled connection never carries it to its next user.
func (db *DB) InTenant(ctx context.Context, accountID int64, fn func(tx pgx.Tx) error) error {
	return db.Unit(ctx, For(accountID), nil, func(tx pgx.Tx) (*pgx.Batch, error) { return nil, fn(tx) })
}

// InTenantSnapshot is InTenant for a read-only report whose statements
// must agree with each other: every statement reads the same snapshot
// (REPEATABLE READ), so a writer committing between two of them cannot
// make the report count a row twice or not at all (the audit chain check
// reads the chain, then counts the rows not yet in it).
func (db *DB) InTenantSnapshot(ctx context.Context, accountID int64, fn func(tx pgx.Tx) error) error {
	req := For(accountID)
	req.snapshot = true
	return db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) { return nil, fn(tx) })
}

const setTenantSQL = `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`

// Batch sends b in one round trip, with the tenant setting queued first.
// A pgx batch runs as one implicit transaction, so the setting covers
// exactly the queued statements, which commit together. The callbacks set
// on b's queued queries (Query, QueryRow, Exec) run before Batch returns.
// Use it for reads and single-statement writes of no request in
// particular (a request's go through Read and Unit).
//
// It is the Read of a request that re-checks nothing and records nothing
// (For): its commit waits for the WAL flush like a Unit's, since such a
// batch may write.
func (db *DB) Batch(ctx context.Context, accountID int64, b *pgx.Batch) error {
	return db.Read(ctx, For(accountID), b)
}

// mapGuardError is MapError that names a guard's own failure.
func mapGuardError(err error) error {
	if ge := guardError(err); ge != nil {
		return ge
	}
	return MapError(err)
}

// Fields are the values a write sent, by field name, so that MapError can
// say what collided ("a label named "billing" already exists"): with RLS on,
// PostgreSQL leaves the colliding key out of its error detail.
type Fields map[string]string

// constraint says in words what a named constraint protects.
type constraint struct {
	kind  fault.Kind
	field string
	// with is the sentence when the field's value is known (%q or %s gets
	// it); without is the sentence when it is not.
	with, without string
}

// constraints maps every constraint a caller can trip to a sentence. A
// constraint not listed still maps to its kind with a generic sentence;
// no answer ever names a constraint.
var constraints = map[string]constraint{
	"labels_account_id_name_key":      {fault.Conflict, "name", "a label named %q already exists", "a label with that name already exists"},
	"teams_name_key":                  {fault.Conflict, "name", "a team named %q already exists", "a team with that name already exists"},
	"contacts_email_key":              {fault.Conflict, "email", "a contact with email %s already exists", "a contact with that email already exists"},
	"contacts_identifier_key":         {fault.Conflict, "identifier", "a contact with identifier %q already exists", "a contact with that identifier already exists"},
	"account_slug_in_use":             {fault.Conflict, "slug", "the help-center address %s is taken by another workspace; choose another", "that help-center address is taken by another workspace; choose another"},
	"email_inbound_address_in_use":    {fault.Conflict, "settings.inbound_address", "the inbound address %s is already used by another inbox", "that inbound address is already used by another inbox"},
	"users_email_key":                 {fault.Conflict, "email", "a user with email %s already exists; sign in with it, or use another email", "a user with that email already exists; sign in with it, or use another email"},
	"messages_source_key":             {fault.Conflict, "source_id", "a message with source_id %q already exists in this inbox", "a message with that source_id already exists in this inbox"},
	"canned_responses_short_code_key": {fault.Conflict, "short_code", "a canned response with short code %q already exists; choose another short code or edit that one", "a canned response with that short code already exists; choose another short code or edit that one"},
	"labels_name_check":               {fault.Invalid, "name", "label name %q must be 1 to 50 lowercase letters, digits, - or _, starting with a letter or digit", "a label name must be 1 to 50 lowercase letters, digits, - or _, starting with a letter or digit"},
}

// MapError is the one place that turns driver errors into *fault.Error
// values (each still matches ErrNotFound, ErrConflict or ErrInvalid). It
// leaves a *fault.Error as it is and every other error unchanged (doors
// treat those as internal). values, when given, name what the write sent.
func MapError(err error, values ...Fields) error {
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &fault.Error{Kind: fault.NotFound, Sentence: "not found", Err: err}
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	if c, ok := constraints[pe.ConstraintName]; ok {
		e := &fault.Error{Kind: c.kind, Field: c.field, Sentence: c.without, Err: err}
		for _, v := range values {
			if val, ok := v[c.field]; ok {
				e.Sentence = fmt.Sprintf(c.with, val)
			}
		}
		return e
	}
	e := &fault.Error{Kind: fault.Invalid, Field: pe.ColumnName, Err: err}
	switch {
	case pe.Code == "40P01": // deadlock_detected: PostgreSQL rolled this one back so the other could go on
		e.Kind, e.Sentence = fault.Conflict, "a concurrent change collided with this one; try again"
	case pe.Code == "23505": // unique_violation
		e.Kind, e.Sentence = fault.Conflict, "that already exists"
	case pe.Code == "23503": // foreign_key_violation: the referenced row is not in this tenant
		e.Kind, e.Sentence = fault.NotFound, "a referenced object was not found"
	case pe.Code == "23502":
		e.Sentence = "a required value is missing"
		if pe.ColumnName != "" {
			e.Sentence = pe.ColumnName + " is required"
		}
	case pe.Code == "22021", pe.Code == "22P05": // NUL or bad bytes in text or JSON
		e.Sentence = "text must be valid UTF-8 without NUL characters"
	case pe.Code == "22001", pe.Code == "54000": // too long for the column, an index row or a search vector
		e.Sentence = "a value is too long"
	case pe.Code == "22003":
		e.Sentence = "a number is out of range"
	case pe.Code == "22007", pe.Code == "22008":
		e.Sentence = "a date or time is not valid"
	case pe.Code == "23514", pe.Code == "23P01", pe.Code == "22P02", pe.Code == "22023", pe.Code == "2201B":
		e.Sentence = "a value is not allowed here"
	default:
		return err
	}
	return e
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
