package billing

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Record is an account's billing record: its plan state together with its
// Stripe link (columns of accounts).
type Record struct {
	AccountID            int64      `json:"account_id"`
	Name                 string     `json:"name"`
	Plan                 string     `json:"plan"`
	Status               string     `json:"subscription_status"`
	TrialEndsAt          *time.Time `json:"trial_ends_at"`
	GraceEndsAt          *time.Time `json:"grace_ends_at"`
	MCPEnabled           bool       `json:"mcp_enabled"`
	StripeCustomerID     *string    `json:"stripe_customer_id"`
	StripeSubscriptionID *string    `json:"stripe_subscription_id"`
	CurrentPeriodEnd     *time.Time `json:"current_period_end"`
	PastDueSince         *time.Time `json:"past_due_since"`
	// EventAt is the Stripe `created` time of the newest event applied to
	// the subscription state; older events are ignored.
	EventAt   *time.Time `json:"billing_event_at"`
	UpdatedAt *time.Time `json:"billing_updated_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// State is the billing row's plan state as the MCP gate and the
// entitlement read it.
func (b Record) State() policy.Account {
	return policy.Account{Plan: b.Plan, Status: b.Status, TrialEndsAt: b.TrialEndsAt, GraceEndsAt: b.GraceEndsAt, MCPEnabled: b.MCPEnabled}
}

const recordColumns = `id, name, plan, subscription_status, trial_ends_at, grace_ends_at, mcp_enabled,
	stripe_customer_id, stripe_subscription_id, current_period_end, past_due_since, billing_event_at, billing_updated_at, created_at`

// RecordGet reads the account's plan state and Stripe link.
func RecordGet(ctx context.Context, db *tenancy.DB, accountID int64) (Record, error) {
	var b Record
	err := db.InTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		b, err = recordRow(ctx, tx, accountID, false)
		return err
	})
	return b, err
}

// RecordLock reads the account's billing row inside tx and locks it until
// the transaction ends, so that concurrent webhooks and operator commands
// apply one after the other.
func RecordLock(ctx context.Context, tx pgx.Tx, accountID int64) (Record, error) {
	return recordRow(ctx, tx, accountID, true)
}

func recordRow(ctx context.Context, tx pgx.Tx, accountID int64, lock bool) (Record, error) {
	q := `SELECT ` + recordColumns + ` FROM accounts WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	rows, _ := tx.Query(ctx, q, accountID)
	b, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Record])
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fault.NotFoundf("account %d not found", accountID)
	}
	return b, err
}

// RecordSave writes the plan and subscription fields of b back to its
// account inside tx, and registers a newly linked Stripe customer in the
// pre-tenant look-up (see CustomerAccount).
func RecordSave(ctx context.Context, tx pgx.Tx, b Record, now time.Time) error {
	var prevCustomer *string
	if err := tx.QueryRow(ctx, `SELECT stripe_customer_id FROM accounts WHERE id = $1`, b.AccountID).Scan(&prevCustomer); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE accounts SET plan = $2, subscription_status = $3, trial_ends_at = $4, grace_ends_at = $5,
			stripe_customer_id = $6, stripe_subscription_id = $7, current_period_end = $8, past_due_since = $9,
			billing_event_at = $10, billing_updated_at = $11
		WHERE id = $1`,
		b.AccountID, b.Plan, b.Status, b.TrialEndsAt, b.GraceEndsAt,
		b.StripeCustomerID, b.StripeSubscriptionID, b.CurrentPeriodEnd, b.PastDueSince, b.EventAt, now)
	if err != nil {
		return err
	}
	if b.StripeCustomerID != nil && (prevCustomer == nil || *prevCustomer != *b.StripeCustomerID) {
		_, err = tx.Exec(ctx, `SELECT deskwoot_billing_customer_register($1)`, *b.StripeCustomerID)
	}
	return err
}

// CustomerAccount finds the account a Stripe customer was linked to
// (by checkout.session.completed). It runs before the tenant is known,
// through a narrow SECURITY DEFINER function. Unknown is tenancy.ErrNotFound.
func CustomerAccount(ctx context.Context, db *tenancy.DB, customerID string) (int64, error) {
	var acct *int64
	if err := db.Pool.QueryRow(ctx, `SELECT deskwoot_billing_customer_owner($1)`, customerID).Scan(&acct); err != nil {
		return 0, tenancy.MapError(err)
	}
	if acct == nil {
		return 0, fault.NotFoundf("Stripe customer %s is not linked to an account", customerID)
	}
	return *acct, nil
}

// StripeEvent is one Stripe event as recorded in an account.
type StripeEvent struct {
	ID      string
	Type    string
	Created time.Time
	Outcome string
}

// StripeEventClaim records a Stripe event in the account inside tx. It
// returns false when the event was recorded before (a replay): the caller
// then changes nothing. Concurrent deliveries of one event serialise on the
// primary key, so exactly one of them claims it.
func StripeEventClaim(ctx context.Context, tx pgx.Tx, accountID int64, ev StripeEvent) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (account_id, event_id, type, created, outcome)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, event_id) DO NOTHING`,
		accountID, ev.ID, ev.Type, ev.Created, ev.Outcome)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// StripeEventOutcome sets the outcome of an event claimed in tx.
func StripeEventOutcome(ctx context.Context, tx pgx.Tx, accountID int64, eventID, outcome string) error {
	_, err := tx.Exec(ctx, `UPDATE stripe_events SET outcome = $3 WHERE account_id = $1 AND event_id = $2`, accountID, eventID, outcome)
	return err
}

// StripeEventList lists the Stripe events recorded in the account, newest
// first. The statement names the account: `deskwoot accounts show` runs it
// as the owner, which may be a superuser that RLS does not bind.
func StripeEventList(ctx context.Context, db *tenancy.DB, accountID int64) ([]StripeEvent, error) {
	var evs []StripeEvent
	err := db.InTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT event_id, type, created, outcome FROM stripe_events
			WHERE account_id = $1 ORDER BY received_at DESC, event_id`, accountID)
		var err error
		evs, err = pgx.CollectRows(rows, pgx.RowToStructByPos[StripeEvent])
		return err
	})
	return evs, err
}

// AccountDirectory lists every account id, oldest first. Only the owner
// connection can read the directory (operator commands); the app role has
// no grant on it.
func AccountDirectory(ctx context.Context, db *tenancy.DB) ([]int64, error) {
	rows, _ := db.Pool.Query(ctx, `SELECT account_id FROM account_directory ORDER BY account_id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, tenancy.MapError(err)
}
