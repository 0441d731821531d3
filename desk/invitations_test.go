package desk_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// invite makes an invitation without a relay, whose link comes back once.
func invite(t *testing.T, d *desk.Desk, tn dbtest.Tenant, email string, now time.Time) (desk.InvitationSent, string) {
	t.Helper()
	sent, err := d.InvitationCreate(context.Background(), tn.Account.ID, desk.InvitationInput{Email: email, Role: "agent"},
		desk.Author{Kind: "user", UserID: tn.User.ID, Name: "Admin"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Mailed || !strings.HasPrefix(sent.Link, "http://desk.test/invite/dw_inv_") {
		t.Fatalf("invitation without a relay = %+v", sent)
	}
	return sent, strings.TrimPrefix(sent.Link, "http://desk.test/invite/")
}

func TestInvitationExpiresAfterSevenDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t), PublicURL: "http://desk.test"}
	tn := dbtest.NewTenant(t)
	now := time.Now()
	_, raw := invite(t, d, tn, dbtest.Unique("late")+"@example.com", now)
	if _, err := d.InvitationOpen(ctx, raw, now.Add(InvitationAlmost)); err != nil {
		t.Fatalf("open before expiry: %v", err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("late password"), bcrypt.MinCost)
	late := now.Add(desk.InvitationTTL + time.Minute)
	if _, err := d.InvitationOpen(ctx, raw, late); !errors.Is(err, identity.ErrLinkUnknown) {
		t.Fatalf("open after 7 days: %v", err)
	}
	if _, err := d.InvitationAccept(ctx, raw, "Late", hash, late); !errors.Is(err, identity.ErrLinkUnknown) {
		t.Fatalf("accept after 7 days: %v", err)
	}
	// A token that is not one, or another kind's, is the same answer.
	// The last character changed: to A, or to B when it is A already (a
	// token ending in A made this the token itself, once in about 62 runs).
	other := "A"
	if strings.HasSuffix(raw, "A") {
		other = "B"
	}
	for _, bad := range []string{"", "dw_inv_x", strings.Replace(raw, "dw_inv_", "dw_rst_", 1), raw[:len(raw)-1] + other} {
		if _, err := d.InvitationOpen(ctx, bad, now); !errors.Is(err, identity.ErrLinkUnknown) {
			t.Errorf("open %q: %v", bad, err)
		}
	}
}

// InvitationAlmost is a moment just inside an invitation's life.
const InvitationAlmost = desk.InvitationTTL - time.Minute

func TestInvitationAcceptedOnceUnderRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t), PublicURL: "http://desk.test"}
	tn := dbtest.NewTenant(t)
	email := dbtest.Unique("race") + "@example.com"
	_, raw := invite(t, d, tn, email, time.Now())
	hash, _ := bcrypt.GenerateFromPassword([]byte("race password"), bcrypt.MinCost)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.InvitationAccept(ctx, raw, "Racer", hash, time.Now()); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d accepts succeeded, want exactly 1", ok)
	}
	users, err := identity.UserList(ctx, d.DB, tn.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d members with the invited email", n)
	}
}

func TestInvitationSupersedesAPendingOneAndRefusesAMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t), PublicURL: "http://desk.test"}
	tn := dbtest.NewTenant(t)
	email := dbtest.Unique("twice") + "@example.com"
	_, first := invite(t, d, tn, email, time.Now())
	_, second := invite(t, d, tn, email, time.Now())
	if _, err := d.InvitationOpen(ctx, first, time.Now()); !errors.Is(err, identity.ErrLinkUnknown) {
		t.Fatalf("the superseded link still opens: %v", err)
	}
	if _, err := d.InvitationOpen(ctx, second, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := d.InvitationCreate(ctx, tn.Account.ID, desk.InvitationInput{Email: strings.ToUpper(tn.User.Email), Role: "agent"},
		desk.Author{Kind: "user", UserID: tn.User.ID}, time.Now())
	if !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("inviting a member: %v", err)
	}
}
