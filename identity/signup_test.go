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

func TestSignupTrialAndDuplicateEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ids := dbtest.Identities(t)
	email := dbtest.Unique("dup") + "@example.com"
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	res, err := ids.Signup(ctx, identity.SignupInput{AccountName: "One", Email: email, Password: "password1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Account.Plan != "enterprise" || res.Account.SubscriptionStatus != "trialing" ||
		res.Account.TrialEndsAt == nil || !res.Account.TrialEndsAt.Equal(now.Add(168*time.Hour)) {
		t.Fatalf("account after signup: %+v", res.Account)
	}
	p, err := identity.AuthenticateUser(ctx, ids.DB, res.APIToken)
	if err != nil || p.AccountID != res.Account.ID || p.UserID != res.User.ID || p.Role != "admin" {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	_, err = ids.Signup(ctx, identity.SignupInput{AccountName: "Two", Email: email, Password: "password1"}, now)
	if !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("second signup with %s: %v, want conflict", email, err)
	}
	tampered := []byte(res.APIToken)
	tampered[len(tampered)-1] ^= 1 // another base62 character, never the same one
	if _, err := identity.AuthenticateUser(ctx, ids.DB, string(tampered)); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("tampered token: %v", err)
	}
}
