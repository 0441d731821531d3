package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	now := time.Now()

	raw, err := identity.SessionCreate(ctx, db, tenancy.For(a.Account.ID), a.User.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	p, acct, err := identity.SessionAuthenticate(ctx, db, raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.AccountID != a.Account.ID || p.UserID != a.User.ID || p.Role != "admin" || p.SessionID == 0 || acct.ID != a.Account.ID {
		t.Fatalf("principal %+v account %d, want A's admin", p, acct.ID)
	}
	// Only the hash is stored: the raw id appears nowhere in the database.
	var n int
	if err := dbtest.Owner(t).QueryRow(ctx, `SELECT count(*) FROM session_lookup WHERE session_hash = $1`, []byte(raw)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("raw session id stored: %d rows, %v", n, err)
	}
	// A session cannot be made for someone outside the account.
	if _, err := identity.SessionCreate(ctx, db, tenancy.For(a.Account.ID), b.User.ID, now); err == nil {
		t.Fatal("session for B's admin in A's account was created")
	}
	// Expired after its TTL without use.
	if _, _, err := identity.SessionAuthenticate(ctx, db, raw, now.Add(identity.SessionTTL+time.Minute)); !errors.Is(err, identity.ErrSessionUnknown) {
		t.Fatalf("after the TTL: %v, want ErrSessionUnknown", err)
	}
	// Sign-out ends it server-side.
	if err := identity.SessionEnd(ctx, db, raw, now, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := identity.SessionAuthenticate(ctx, db, raw, now); !errors.Is(err, identity.ErrSessionUnknown) {
		t.Fatalf("after sign-out: %v, want ErrSessionUnknown", err)
	}
	if err := identity.SessionEnd(ctx, db, raw, now, nil); err != nil {
		t.Fatalf("second sign-out: %v", err)
	}
	// Garbage and tokens of another kind are unknown sessions.
	for _, bad := range []string{"", "dw_ses_x", a.APIToken} {
		if _, _, err := identity.SessionAuthenticate(ctx, db, bad, now); !errors.Is(err, identity.ErrSessionUnknown) {
			t.Fatalf("%q: %v, want ErrSessionUnknown", bad, err)
		}
	}
}

func TestSessionSlidesOnUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	a := dbtest.NewTenant(t)
	now := time.Now()
	raw, err := identity.SessionCreate(ctx, db, tenancy.For(a.Account.ID), a.User.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(identity.SessionTTL - time.Hour)
	if _, _, err := identity.SessionAuthenticate(ctx, db, raw, later); err != nil {
		t.Fatal(err)
	}
	if _, _, err := identity.SessionAuthenticate(ctx, db, raw, later.Add(2*time.Hour)); err != nil {
		t.Fatalf("a session in use must stay alive past its first end: %v", err)
	}
}
