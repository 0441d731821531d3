package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The two ways in below serve what must happen before the tenant is known
// (DESIGN §3): a credential names its account only once its hash is looked
// up. The look-up is a narrow SECURITY DEFINER function; the fence sets
// the tenant from its answer inside the same transaction, so what follows
// runs under row-level security in that account and nowhere else. A hash
// that finds nothing leaves the tenant empty, and every tenant table then
// reads as empty: never as everything.

// Resolve sends b in one round trip as one implicit transaction, with the
// tenant set first from owner: an SQL expression of args (the statement's
// $1, $2, …) that yields the account id through a SECURITY DEFINER look-up,
// such as (SELECT account_id FROM deskwoot_token_owner($1, 'user')). b's
// statements may use the same arguments themselves. The batch's error is
// returned as it is (pgx.ErrNoRows when the credential found no row), for
// the caller to map.
func (db *DB) Resolve(ctx context.Context, owner string, args []any, b *pgx.Batch) error {
	head := &pgx.Batch{}
	head.Queue(setTenantFromSQL(owner), args...)
	head.QueuedQueries = append(head.QueuedQueries, b.QueuedQueries...)
	return db.Pool.SendBatch(ctx, head).Close()
}

// setTenantFromSQL sets the tenant from owner's answer, local to the
// transaction; no answer sets it empty.
func setTenantFromSQL(owner string) string {
	return `SELECT set_config('deskwoot.account_id', coalesce((` + owner + `)::text, ''), true)`
}

// A LookupTx is a transaction that enters its tenant from the records it
// handles, each time it handles one: the OAuth store's, whose commit the
// protocol library drives (it decides what is atomic: a code's
// redemption, a refresh token's rotation), and whose records name their
// account only once they are found. It enters no tenant when it begins.
type LookupTx struct{ pgx.Tx }

// BeginLookup begins a LookupTx.
func (db *DB) BeginLookup(ctx context.Context) (LookupTx, error) {
	tx, err := db.Pool.Begin(ctx)
	return LookupTx{tx}, MapError(err)
}

// Enter sets the transaction's tenant to accountID, local to it.
func (tx LookupTx) Enter(ctx context.Context, accountID int64) error {
	_, err := tx.Exec(ctx, setTenantSQL, accountID)
	return MapError(err)
}

// EnterFound sets the transaction's tenant from owner, as Resolve does.
func (tx LookupTx) EnterFound(ctx context.Context, owner string, args ...any) error {
	_, err := tx.Exec(ctx, setTenantFromSQL(owner), args...)
	return MapError(err)
}

// BeforeTenant runs fn in a transaction that enters no tenant, for what is
// recorded before any tenant exists: a signup waiting for its email's
// confirmation, written through a SECURITY DEFINER function with its mail
// job in the same commit. Every tenant table reads as empty in it.
func (db *DB) BeforeTenant(ctx context.Context, fn func(pgx.Tx) error) error {
	return MapError(pgx.BeginFunc(ctx, db.Pool, fn))
}
