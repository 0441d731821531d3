package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/throttle"
)

// TestPageRoundTrips pins how many round trips to PostgreSQL the list and
// the thread cost (DESIGN §16: a page costs at most 1.5× its REST call,
// which takes two: the token's check, then the read). A page takes as
// many: the session's check, then one batch with the page's data, the
// catalog its controls choose from, the Drafts count and the bell. The
// console has a pool of its own, so that no other test's queries are
// counted.
func TestPageRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := tenancy.Open(ctx, dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	c, err := New(Config{DB: db, Identities: dbtest.Identities(t), Desk: &desk.Desk{DB: db, PublicURL: "http://127.0.0.1"},
		Throttle: throttle.NewGuard(throttle.Limits{SignupsPerHour: 100000}), Audit: &audit.Log{DB: db, Key: testAuditKey},
		PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	ib, err := c.cfg.Desk.InboxCreate(ctx, tenancy.For(p.AccountID), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.cfg.Desk.IncomingMessage(ctx, p.AccountID, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: dbtest.Unique("c") + "@example.com", Name: "Carla Customer"}, Content: "Where is my parcel?", SourceID: dbtest.Unique("s")})
	if err != nil {
		t.Fatal(err)
	}
	thread := fmt.Sprintf("/conversations/%d", res.ConversationID)
	for _, path := range []string{"/conversations", "/conversations?view=unassigned&sort=waiting", thread} {
		wantStatus(t, b.get(path), 200) // the first request reads the feed's cursor key once per process
		before := db.RoundTrips()
		pg := wantStatus(t, b.get(path), 200)
		if got := db.RoundTrips() - before; got != 2 {
			t.Errorf("GET %s: %d round trips, want 2 (the session, then the page's batch)", path, got)
		}
		pg.has(t, "Carla Customer", "Where is my parcel?")
		if path == thread {
			pg.has(t, "No labels yet.", "Create labels", "Later today", "Send and resolve")
		}
	}
}
