package desk_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// digestQueue keeps mail in the database, like keptMail, and notes when
// each digest was asked for.
type digestQueue struct {
	keptMail
	mu sync.Mutex
	at []time.Time
}

func (q *digestQueue) EnqueueDigest(_ context.Context, _ pgx.Tx, _, _ int64, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.at = append(q.at, at)
	return nil
}

// Drafts that arrive together reach a person in one mail, and the next
// mail waits until DigestEvery after the last.
func TestDraftMailIsBatchedAtMostOncePerTenMinutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := &digestQueue{}
	d := &desk.Desk{DB: dbtest.App(t), PublicURL: "http://desk.test", Mail: q}
	tn := dbtest.NewTenant(t)
	ib, err := d.InboxCreate(ctx, tenancy.For(tn.Account.ID), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, tn.Account.ID, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{Email: "gil@customer.test", Name: "Gil"},
		Content: "My parcel never came", SourceID: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	draft := func() {
		t.Helper()
		err := d.DB.InTenant(ctx, tn.Account.ID, func(tx pgx.Tx) error {
			_, err := d.DraftCreate(ctx, tx, tn.Account.ID, desk.DraftInput{Kind: "reply", ConversationID: in.ConversationID, Content: "We are sorry", TokenID: 1})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	draft()
	draft()
	draft()
	if len(q.at) != 1 {
		t.Fatalf("%d digests asked for three drafts, want 1", len(q.at))
	}
	sent := time.Now()
	if err := d.DigestSend(ctx, tn.Account.ID, tn.User.ID, sent); err != nil {
		t.Fatal(err)
	}
	if err := d.DigestSend(ctx, tn.Account.ID, tn.User.ID, sent); err != nil { // a repeat of the job sends nothing
		t.Fatal(err)
	}
	var bodies []string
	err = d.DB.InTenant(ctx, tn.Account.ID, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT body FROM people_mail WHERE kind = 'notification' ORDER BY id`)
		var err error
		bodies, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || !strings.Contains(bodies[0], "3 drafts of the AI agent wait") || !strings.Contains(bodies[0], "My parcel never came") {
		t.Fatalf("digest mails = %q", bodies)
	}
	// A draft right after the digest waits for the next one, 10 minutes on.
	draft()
	if len(q.at) != 2 || q.at[1].Sub(sent) < desk.DigestEvery-time.Second {
		t.Fatalf("the next digest is due at %v, %v after the last, want %v", q.at, q.at[len(q.at)-1].Sub(sent), desk.DigestEvery)
	}
	// The in-app bell counts each draft.
	ns, unread, err := d.NotificationList(ctx, tn.Account.ID, tn.User.ID, true, 0)
	if err != nil || unread != 4 || ns[0].Kind != desk.NotifyDraftWaiting {
		t.Fatalf("notifications: %d unread, %v, %v", unread, ns, err)
	}
}
