package billing_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// TestSetTrial: operators end and extend trials; extensions count from the
// later of now and the current end; each change is audited as the
// operator's; paying accounts are refused.
func TestSetTrial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	a := dbtest.NewTenant(t)
	acct := a.Account.ID
	now := time.Now().UTC().Truncate(time.Second)
	end := *a.Account.TrialEndsAt

	// Extend a running trial: from its end.
	b, err := billing.TrialSet(ctx, db, nil, acct, trial.Change{Extend: 7 * 24 * time.Hour}, "ops@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := end.Add(7 * 24 * time.Hour); !b.TrialEndsAt.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("extended to %v, want %v", b.TrialEndsAt, want)
	}
	// End it now: MCP is no longer allowed and the reason names the date.
	past := now.Add(-time.Hour)
	if _, err := billing.TrialSet(ctx, db, nil, acct, trial.Change{EndsAt: &past}, "ops@example.com", now); err != nil {
		t.Fatal(err)
	}
	v, err := billing.View(ctx, db, acct, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Entitlement.MCPAllowed || !strings.Contains(v.Entitlement.Reason, "ended on "+past.Format("2006-01-02")) {
		t.Fatalf("after ending the trial: %+v", v.Entitlement)
	}
	// Extend an ended trial: from now.
	b, err = billing.TrialSet(ctx, db, nil, acct, trial.Change{Extend: 48 * time.Hour}, "ops@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(48 * time.Hour); !b.TrialEndsAt.Equal(want) {
		t.Fatalf("extended an ended trial to %v, want %v", b.TrialEndsAt, want)
	}
	// Audited, as the operator.
	err = db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor_kind = 'operator' AND action = 'account.trial'`).Scan(&n); err != nil {
			return err
		}
		if n != 3 {
			t.Errorf("%d operator audit rows, want 3", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A paying account's trial is not the operator's to change.
	if err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET subscription_status = 'active' WHERE id = $1`, acct)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := billing.TrialSet(ctx, db, nil, acct, trial.Change{Extend: time.Hour}, "ops", now); !errors.Is(err, billing.ErrNotTrial) {
		t.Fatalf("changing an active account's trial: got %v, want ErrNotTrial", err)
	}
	if _, err := billing.TrialSet(ctx, db, nil, acct, trial.Change{}, "ops", now); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("no change given: got %v", err)
	}
}

// TestListNeedsTheOwner: operators list accounts over the owner connection.
func TestList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := dbtest.NewTenant(t)
	owner, err := tenancy.Open(ctx, dbtest.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	views, err := billing.List(ctx, owner, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.AccountID == a.Account.ID {
			if !v.Entitlement.MCPAllowed || v.Entitlement.Status != "trialing" || v.Name != a.Account.Name {
				t.Fatalf("listed %+v", v)
			}
			return
		}
	}
	t.Fatalf("account %d not listed among %d", a.Account.ID, len(views))
}
