package desk_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
)

// keptMail is a relay-less mail queue: the mail rows stay in the
// database, where the test reads the links.
type keptMail struct{}

func (keptMail) EnqueueMail(context.Context, pgx.Tx, int64, int64) error              { return nil }
func (keptMail) EnqueueResetRequest(context.Context, string) error                    { return nil }
func (keptMail) EnqueueDigest(context.Context, pgx.Tx, int64, int64, time.Time) error { return nil }

// lastLink reads the link of the newest mail of a kind in the account.
func lastLink(t *testing.T, d *desk.Desk, acct int64, kind string) string {
	t.Helper()
	var body string
	err := d.DB.InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT body FROM people_mail WHERE kind = $1 ORDER BY id DESC LIMIT 1`, kind).Scan(&body)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/(?:invite|password/reset)/(dw_[a-z]{3}_\w+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link in %q", body)
	}
	return m[1]
}

func TestPasswordResetLinkExpiresAfterThirtyMinutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t), PublicURL: "http://desk.test", Mail: keptMail{}}
	tn := dbtest.NewTenant(t)
	now := time.Now()
	if err := d.PasswordResetStart(ctx, tn.User.Email, now); err != nil {
		t.Fatal(err)
	}
	raw := lastLink(t, d, tn.Account.ID, desk.MailPasswordReset)
	if email, err := d.PasswordResetOpen(ctx, raw, now.Add(29*time.Minute)); err != nil || email != tn.User.Email {
		t.Fatalf("open within 30 minutes: %q %v", email, err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("too late now"), bcrypt.MinCost)
	if _, err := d.PasswordReset(ctx, raw, hash, now.Add(31*time.Minute)); !errors.Is(err, identity.ErrLinkUnknown) {
		t.Fatalf("reset after 30 minutes: %v", err)
	}
	// Nobody signs in with an unknown address: nothing is written.
	if err := d.PasswordResetStart(ctx, dbtest.Unique("nobody")+"@example.com", now); err != nil {
		t.Fatal(err)
	}
	// An invitation token is not a reset token.
	sent, err := (&desk.Desk{DB: d.DB, PublicURL: "http://desk.test"}).InvitationCreate(ctx, tn.Account.ID,
		desk.InvitationInput{Email: dbtest.Unique("inv") + "@example.com", Role: "agent"}, desk.Author{Kind: "user", UserID: tn.User.ID}, now)
	if err != nil {
		t.Fatal(err)
	}
	inv := regexp.MustCompile(`dw_inv_\w+`).FindString(sent.Link)
	if _, err := d.PasswordResetOpen(ctx, inv, now); !errors.Is(err, identity.ErrLinkUnknown) {
		t.Fatalf("an invitation token opens a reset: %v", err)
	}
}
