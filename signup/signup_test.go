package signup_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/signup"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// queue records the requests whose mail jobs would be enqueued.
type queue struct {
	mu  sync.Mutex
	ids []int64
}

func (q *queue) EnqueueSignup(_ context.Context, _ pgx.Tx, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, id)
	return nil
}

func (q *queue) last() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ids[len(q.ids)-1]
}

// linkFor asks for a signup and returns its mail's link token.
func linkFor(t *testing.T, c *signup.Confirmer, q *queue, email string, now time.Time) (signup.Mail, string) {
	t.Helper()
	if err := c.Request(context.Background(), identity.SignupInput{AccountName: "Raced Co", Email: email, Password: "a new password"}, now); err != nil {
		t.Fatal(err)
	}
	m, ok, err := c.Mail(context.Background(), q.last(), now)
	if err != nil || !ok {
		t.Fatalf("mail: %v %v", ok, err)
	}
	i := strings.Index(m.Body, signup.TokenPrefix)
	return m, strings.Fields(m.Body[i:])[0]
}

// TestALinkCreatesOneWorkspaceOnce: confirming one link from many
// requests at once creates one workspace; the others are told the link is
// spent. A later mail's link replaces an earlier one's, and a link past
// its 24 hours does nothing.
func TestALinkCreatesOneWorkspaceOnce(t *testing.T) {
	t.Parallel()
	q := &queue{}
	c := &signup.Confirmer{Identities: dbtest.Identities(t), Queue: q, PublicURL: "http://desk.test"}
	now := time.Now()
	email := dbtest.Unique("raced") + "@example.com"
	_, raw := linkFor(t, c, q, email, now)

	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = c.Confirm(context.Background(), raw, 0, identity.SignupInput{NoAPIToken: true}, now)
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range results {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, signup.ErrLinkUnknown):
			t.Fatalf("a racing confirm: %v", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d workspaces from one link, want 1", created)
	}

	// Two mails of one request: only the newer link works.
	email2 := dbtest.Unique("twice") + "@example.com"
	_, first := linkFor(t, c, q, email2, now)
	m, ok, err := c.Mail(context.Background(), q.last(), now)
	if err != nil || !ok {
		t.Fatal(err)
	}
	second := strings.Fields(m.Body[strings.Index(m.Body, signup.TokenPrefix):])[0]
	if _, err := c.Open(context.Background(), first, now); !errors.Is(err, signup.ErrLinkUnknown) {
		t.Fatalf("the replaced link: %v", err)
	}
	if _, err := c.Open(context.Background(), second, now.Add(signup.LinkTTL+time.Minute)); !errors.Is(err, signup.ErrLinkUnknown) {
		t.Fatalf("an expired link: %v", err)
	}
	if v, err := c.Open(context.Background(), second, now); err != nil || v.Email != email2 || v.LoginUserID != 0 {
		t.Fatalf("the newer link: %+v %v", v, err)
	}
}

// TestConfirmModeKeepsNoPasswordHashOnceUsed: the request's bcrypt hash
// is wiped when its link creates the workspace.
func TestConfirmModeKeepsNoPasswordHashOnceUsed(t *testing.T) {
	t.Parallel()
	q := &queue{}
	c := &signup.Confirmer{Identities: dbtest.Identities(t), Queue: q}
	now := time.Now()
	email := dbtest.Unique("wiped") + "@example.com"
	_, raw := linkFor(t, c, q, email, now)
	res, err := c.Confirm(context.Background(), raw, 0, identity.SignupInput{}, now)
	if err != nil || res.APIToken == "" || res.User.Email != email || res.Account.SubscriptionStatus != "trialing" {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	var left *string
	if err := dbtest.Owner(t).QueryRow(context.Background(), `SELECT password_hash FROM signup_requests WHERE id = $1`, q.last()).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != nil {
		t.Fatal("a used signup request keeps its password hash")
	}
}
