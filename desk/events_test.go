package desk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

func newDesk(t testing.TB) *desk.Desk {
	return &desk.Desk{DB: dbtest.App(t)}
}

// TestEventsNeverSkipUnderConcurrentWriters: 8 writers × 500 changes while
// a poller pages; every event arrives exactly once, and each writer's
// events arrive in the order it committed them.
func TestEventsNeverSkipUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDesk(t)
	ten := dbtest.NewTenant(t)
	acct := ten.Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Load", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 8, 500
	if testing.Short() {
		t.Skip("long test")
	}
	start, err := d.EventPoll(ctx, tenancy.For(acct), desk.EventQuery{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				_, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{
					Contact: desk.IncomingContact{Identifier: fmt.Sprintf("w%d", w)}, Content: fmt.Sprintf("w%d-%d", w, i), SourceID: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	lastByConversation := map[int64]int64{} // each writer has its own conversation
	cursor := start.NextCursor
	finished := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		page, err := d.EventPoll(ctx, tenancy.For(acct), desk.EventQuery{Cursor: cursor, Limit: 137, Types: []string{desk.EventMessageCreated}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if seen[e.ID] {
				t.Fatalf("event %d delivered twice", e.ID)
			}
			seen[e.ID] = true
			msg := int64(e.Data["message_id"].(float64))
			if msg <= lastByConversation[*e.ConversationID] {
				t.Fatalf("conversation %d: message %d arrived after %d", *e.ConversationID, msg, lastByConversation[*e.ConversationID])
			}
			lastByConversation[*e.ConversationID] = msg
		}
		cursor = page.NextCursor
		// An empty page after the writers finished does not mean all is
		// delivered: another transaction in the shared cluster may hold
		// the horizon back for a while. Wait for the rest (bounded by the
		// deadline); a skipped event would never come.
		if finished && len(page.Events) == 0 {
			if len(seen) >= writers*perWriter {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case <-done:
			finished = true
		default:
		}
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("poller saw %d message events, want %d", len(seen), writers*perWriter)
	}
	if len(lastByConversation) != writers {
		t.Fatalf("events span %d conversations, want %d", len(lastByConversation), writers)
	}
}

// TestCursorErrors: forged, foreign and expired cursors are refused.
func TestCursorErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDesk(t)
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	pa, err := d.EventPoll(ctx, tenancy.For(a.Account.ID), desk.EventQuery{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, cur := range map[string]string{
		"garbage": "not-a-cursor",
		"forged":  strings.Replace(pa.NextCursor, pa.NextCursor[:4], "ZTE6", 1) + "x",
	} {
		if _, err := d.EventPoll(ctx, tenancy.For(a.Account.ID), desk.EventQuery{Cursor: cur}, time.Now()); !errors.Is(err, desk.ErrInvalid) {
			t.Errorf("%s cursor: %v, want a clear invalid-cursor error", name, err)
		}
	}
	if _, err := d.EventPoll(ctx, tenancy.For(b.Account.ID), desk.EventQuery{Cursor: pa.NextCursor}, time.Now()); !errors.Is(err, desk.ErrInvalid) {
		t.Errorf("another account's cursor: %v", err)
	}
	_, err = d.EventPoll(ctx, tenancy.For(a.Account.ID), desk.EventQuery{Cursor: pa.NextCursor}, time.Now().Add(31*24*time.Hour))
	if !errors.Is(err, desk.ErrCursorExpired) || !strings.Contains(err.Error(), "retention") {
		t.Errorf("cursor older than retention: %v", err)
	}
}

// TestOldEventsArePruned: a poll removes the account's events past the
// retention.
func TestOldEventsArePruned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t), EventRetention: time.Hour}
	acct := dbtest.NewTenant(t).Account.ID
	count := func() (n int) {
		err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'contact.updated'`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO events (account_id, type, at) VALUES ($1, 'contact.updated', now() - interval '2 hours'),
			($1, 'contact.updated', now() - interval '10 minutes')`, acct)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.EventPoll(ctx, tenancy.For(acct), desk.EventQuery{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events left, want the one inside the retention", n)
	}
}
