package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestSessionSlidesOncePerMinute: a session read within a minute of its
// last use leaves it as it was (no write); read later, its last use and
// its end move to that read, in one more round trip.
func TestSessionSlidesOncePerMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := tenancy.Open(ctx, dbtest.AppURL()) // a pool of its own: no other test's round trips counted
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	a := dbtest.NewTenant(t)
	now := time.Now().UTC().Truncate(time.Second)
	raw, err := identity.SessionCreate(ctx, db, tenancy.For(a.Account.ID), a.User.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	seen := func(id int64) (last, end time.Time) {
		t.Helper()
		if err := db.InTenant(ctx, a.Account.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT last_seen_at, expires_at FROM console_sessions WHERE id = $1`, id).Scan(&last, &end)
		}); err != nil {
			t.Fatal(err)
		}
		return last, end
	}
	read := func(at time.Time) (identity.UserPrincipal, int64) {
		t.Helper()
		trips := db.RoundTrips()
		p, acct, err := identity.SessionAuthenticate(ctx, db, raw, at)
		if err != nil || acct.ID != a.Account.ID {
			t.Fatalf("at %s: account %d, %v", at, acct.ID, err)
		}
		return p, db.RoundTrips() - trips
	}
	p, trips := read(now.Add(30 * time.Second))
	if last, end := seen(p.SessionID); !last.Equal(now) || !end.Equal(now.Add(identity.SessionTTL)) || trips != 1 {
		t.Fatalf("read 30 s after its start: last use %s, end %s, %d round trips; want it as it was, in 1", last, end, trips)
	}
	later := now.Add(2 * time.Minute)
	if _, trips = read(later); trips != 2 {
		t.Errorf("read 2 min after its last use: %d round trips, want 2 (the read, the slide)", trips)
	}
	if last, end := seen(p.SessionID); !last.Equal(later) || !end.Equal(later.Add(identity.SessionTTL)) {
		t.Fatalf("read 2 min after its last use: last use %s, end %s; want %s and %s", last, end, later, later.Add(identity.SessionTTL))
	}
	// SessionCheck (a live stream's re-check) never slides.
	if _, err := identity.SessionCheck(ctx, db, raw, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, _ := seen(p.SessionID); !last.Equal(later) {
		t.Fatalf("SessionCheck moved the last use to %s", last)
	}
}
