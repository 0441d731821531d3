package desk_test

import (
	"context"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestLongPollWaitsOffTheDatabase: with the listener up, a waiting
// long-poll neither holds a connection nor polls (a thousand of them used
// to poll every second each); a commit still wakes it, and an empty wait
// still ends at its deadline.
func TestLongPollWaitsOffTheDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A pool of its own, so that its counters are this test's alone.
	db, err := tenancy.OpenPool(ctx, dbtest.AppURL(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := &desk.Desk{DB: db, Hub: desk.NewEventHub(db.Pool)}
	ready := make(chan struct{})
	go d.Hub.Run(ctx, ready)
	<-ready
	acct := dbtest.NewTenant(t).Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Wait", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	start, err := d.EventPoll(ctx, tenancy.For(acct), desk.EventQuery{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	type polled struct {
		page desk.EventPage
		err  error
		took time.Duration
	}
	done := make(chan polled, 1)
	go func() {
		begin := time.Now()
		page, err := d.EventPollWait(ctx, tenancy.For(acct), desk.EventQuery{Cursor: start.NextCursor, Types: []string{desk.EventMessageCreated}}, 20*time.Second, time.Now)
		done <- polled{page, err, time.Since(begin)}
	}()
	time.Sleep(500 * time.Millisecond) // its first poll found nothing
	before := db.Pool.Stat().AcquireCount()
	time.Sleep(2500 * time.Millisecond)
	if n := db.Pool.Stat().AcquireCount() - before; n != 0 {
		t.Errorf("a waiting long-poll took %d connections in 2.5 s; want none until a commit wakes it", n)
	}
	if n := db.Pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections held while the long-poll waits; want none", n)
	}
	committed := time.Now()
	if _, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{Email: "wait@example.com"}, Content: "Still there?"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || len(r.page.Events) == 0 {
			t.Fatalf("long-poll returned %d events, %v, after %s; want the new message", len(r.page.Events), r.err, r.took)
		}
		// Other tests' open transactions may hold the event back a while
		// (the feed releases it below the horizon), never past the wait.
		if lag := time.Since(committed); lag > 10*time.Second {
			t.Errorf("long-poll woke %s after the commit", lag)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long-poll did not return within its 20 s wait")
	}

	// Nothing new: the wait ends at its deadline, empty.
	begin := time.Now()
	page, err := d.EventPollWait(ctx, tenancy.For(acct), desk.EventQuery{Cursor: start.NextCursor, Types: []string{desk.EventDraftRejected}}, 1500*time.Millisecond, time.Now)
	if took := time.Since(begin); err != nil || len(page.Events) != 0 || took < 1500*time.Millisecond || took > 5*time.Second {
		t.Errorf("an empty wait of 1.5 s returned %d events, %v, after %s", len(page.Events), err, took)
	}
}
