package billing_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestBillingCustomerLookup: a customer is registered from inside its
// tenant, only when the account names it, never for two accounts, and the
// pre-tenant look-up finds it; the app cannot read the table itself.
func TestBillingCustomerLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := dbtest.App(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	cus := "cus_" + dbtest.Unique("x")

	link := func(acct int64) error {
		return app.InTenant(ctx, acct, func(tx pgx.Tx) error {
			bl, err := billing.RecordLock(ctx, tx, acct)
			if err != nil {
				return err
			}
			bl.StripeCustomerID = &cus
			return billing.RecordSave(ctx, tx, bl, time.Now())
		})
	}
	if _, err := billing.CustomerAccount(ctx, app, cus); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown customer: got %v, want ErrNotFound", err)
	}
	if err := link(a.Account.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := billing.CustomerAccount(ctx, app, cus); err != nil || got != a.Account.ID {
		t.Fatalf("look-up: got %d, %v; want %d", got, err, a.Account.ID)
	}
	// The same customer for another account is refused.
	if err := link(b.Account.ID); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("linking a taken customer: got %v, want ErrConflict", err)
	}
	// Registering a customer the account does not name is refused.
	err := app.InTenant(ctx, b.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT deskwoot_billing_customer_register($1)`, "cus_other")
		return err
	})
	if err == nil || !isPermission(err) {
		t.Fatalf("registering an unnamed customer: got %v, want permission denied", err)
	}
	// Without a tenant the register function refuses.
	if _, err := app.Pool.Exec(ctx, `SELECT deskwoot_billing_customer_register($1)`, cus); err == nil || !isPermission(err) {
		t.Fatalf("registering without a tenant: got %v, want permission denied", err)
	}
	// The app reads neither look-up table directly.
	for _, table := range []string{"billing_customers", "account_directory"} {
		var n int
		if err := app.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err == nil || !isPermission(err) {
			t.Errorf("app reading %s: got %v, want permission denied", table, err)
		}
	}
}

// TestAccountDirectory: signup registers the account where the owner (who
// cannot enumerate accounts under FORCE RLS) finds it.
func TestAccountDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := dbtest.NewTenant(t)
	owner, err := tenancy.Open(ctx, dbtest.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var super bool
	if err := owner.Pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		// FORCE RLS binds the owner: with no tenant it sees no accounts.
		var n int
		if err := owner.Pool.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("owner without a tenant sees %d accounts (%v); want 0", n, err)
		}
	}
	ids, err := billing.AccountDirectory(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, a.Account.ID) {
		t.Fatalf("account %d is not in the directory %v", a.Account.ID, ids)
	}
	// And the owner reads each account as its tenant.
	bl, err := billing.RecordGet(ctx, owner, a.Account.ID)
	if err != nil || bl.Plan != "enterprise" || bl.Status != "trialing" {
		t.Fatalf("owner reads %+v, %v", bl, err)
	}
	if _, err := billing.AccountDirectory(ctx, dbtest.App(t)); err == nil || !isPermission(err) {
		t.Fatalf("app reading the directory: got %v, want permission denied", err)
	}
}

// isPermission says err is PostgreSQL refusing the role the statement.
func isPermission(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
