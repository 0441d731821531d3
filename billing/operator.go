package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// What operators do to an account's billing record from the command line
// (deskwoot accounts): read it with its entitlement, and extend or end a
// trial. They live with the record rather than in trial, which only says
// what a plan state entitles an account to, so that trial stays below
// billing (billing reads trial's statuses and grace period).

// ErrNotTrial is returned when the trial of an account that pays (active or
// past_due) is changed: its trial no longer decides anything.
var ErrNotTrial = errors.New("the account has a subscription")

// TrialSet changes an account's trial end for an operator and audits it (actor
// kind operator) in the same transaction. A trial that is on, over or
// canceled becomes a trial again with the new end (an end in the past ends
// it now); an account with an active or past-due subscription is refused
// with ErrNotTrial. db may be the owner connection: the tenant is set for
// the transaction as for every other. lg, when given, is told to seal the
// new audit row.
func TrialSet(ctx context.Context, db *tenancy.DB, lg *audit.Log, accountID int64, c trial.Change, operator string, now time.Time) (Record, error) {
	if (c.EndsAt == nil) == (c.Extend == 0) {
		return Record{}, fault.Invalidf("", "give either a new end or an extension")
	}
	var b Record
	err := db.InTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		if b, err = RecordLock(ctx, tx, accountID); err != nil {
			return err
		}
		if b.Status == trial.StatusActive || b.Status == trial.StatusPastDue {
			return fmt.Errorf("%w: account %d is %s on the %s plan; change the subscription in Stripe instead", ErrNotTrial, accountID, b.Status, b.Plan)
		}
		before := "none"
		if b.TrialEndsAt != nil {
			before = b.TrialEndsAt.UTC().Format(time.RFC3339)
		}
		end := c.EndsAt
		if end == nil {
			from := now
			if b.TrialEndsAt != nil && b.TrialEndsAt.After(now) {
				from = *b.TrialEndsAt
			}
			t := from.Add(c.Extend)
			end = &t
		}
		t := end.UTC().Truncate(time.Microsecond) // PostgreSQL's precision
		b.TrialEndsAt, b.Status = &t, trial.StatusTrialing
		if err := RecordSave(ctx, tx, b, now); err != nil {
			return err
		}
		if operator == "" {
			operator = "operator"
		}
		return audit.Insert(ctx, tx, accountID, audit.Entry{
			ActorKind: "operator", Action: "account.trial", Decision: "allow",
			Reasons: []string{fmt.Sprintf("trial end %s -> %s by %s", before, t.Format(time.RFC3339), operator)},
		})
	})
	if err == nil && lg != nil {
		lg.Touch(accountID)
	}
	return b, err
}

// AccountView is an account's plan state, Stripe link and entitlement, as
// operators see it.
type AccountView struct {
	Record
	Entitlement trial.Entitlement `json:"entitlement"`
}

// View reads one account for an operator.
func View(ctx context.Context, db *tenancy.DB, accountID int64, now time.Time) (AccountView, error) {
	b, err := RecordGet(ctx, db, accountID)
	if err != nil {
		return AccountView{}, err
	}
	return AccountView{Record: b, Entitlement: trial.Compute(b.State(), now)}, nil
}

// List reads every account for an operator, oldest first. It needs the
// owner connection (the account directory has no grant to the app role).
func List(ctx context.Context, db *tenancy.DB, now time.Time) ([]AccountView, error) {
	ids, err := AccountDirectory(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]AccountView, 0, len(ids))
	for _, id := range ids {
		v, err := View(ctx, db, id, now)
		if errors.Is(err, tenancy.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
