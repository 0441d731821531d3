package desk_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// sideWorld is a tenant with two inboxes whose conversations cover every
// view: open, pending, snoozed and resolved ones, assigned to the admin or
// to nobody, escalated or not; with notifications read and unread and
// drafts pending and decided, labels and a team.
type sideWorld struct {
	d            *desk.Desk
	acct, admin  int64
	inboxA, inbB int64
	conv         int64 // an open conversation of inbox A
}

func newSideWorld(t testing.TB, db *tenancy.DB) sideWorld {
	t.Helper()
	ctx := context.Background()
	ten := dbtest.NewTenant(t)
	w := sideWorld{d: &desk.Desk{DB: db}, acct: ten.Account.ID, admin: ten.User.ID}
	req := tenancy.For(w.acct)
	for _, ib := range []*int64{&w.inboxA, &w.inbB} {
		in, err := w.d.InboxCreate(ctx, req, desk.InboxInput{Name: dbtest.Unique("Inbox"), Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		*ib = in.ID
	}
	for _, name := range []string{"vip", "billing", "bug"} {
		if _, err := w.d.LabelCreate(ctx, req, name, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.d.TeamCreate(ctx, req, "Tier 1", "", []int64{w.admin}); err != nil {
		t.Fatal(err)
	}
	// inbox, status, assigned to the admin, escalated
	convs := []struct {
		inbox     int64
		status    string
		mine, esc bool
	}{
		{w.inboxA, "open", false, false},
		{w.inboxA, "open", true, false},
		{w.inboxA, "pending", false, true},
		{w.inboxA, "resolved", false, true},
		{w.inboxA, "open", false, true},
		{w.inboxA, "snoozed", true, true},
		{w.inbB, "open", true, false},
		{w.inbB, "open", false, false},
		{w.inbB, "resolved", true, false},
		{w.inbB, "open", false, false},
	}
	var ids []int64
	for i, c := range convs {
		res, err := w.d.IncomingMessage(ctx, w.acct, c.inbox, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: fmt.Sprintf("c%d-%s@example.com", i, dbtest.Unique("x"))}, Content: "Hello"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ConversationID)
	}
	w.conv = ids[0]
	err := db.InTenant(ctx, w.acct, func(tx pgx.Tx) error {
		for i, c := range convs {
			var assignee *int64
			if c.mine {
				assignee = &w.admin
			}
			if _, err := tx.Exec(ctx, `UPDATE conversations SET status = $2, assignee_id = $3, escalated = $4 WHERE id = $1`,
				ids[i], c.status, assignee, c.esc); err != nil {
				return err
			}
		}
		// Two unread in-app notifications, one read, one not in the app.
		if _, err := tx.Exec(ctx, `INSERT INTO notifications (account_id, user_id, kind, title, in_app, read_at)
			VALUES ($1, $2, 'assigned', 'a', true, NULL), ($1, $2, 'assigned', 'b', true, NULL),
				($1, $2, 'assigned', 'c', true, now()), ($1, $2, 'assigned', 'd', false, NULL)`, w.acct, w.admin); err != nil {
			return err
		}
		// Pending drafts: two in inbox A, one in B; one decided in A.
		_, err := tx.Exec(ctx, `INSERT INTO drafts (account_id, kind, conversation_id, inbox_id, content, status, token_id)
			VALUES ($1, 'reply', $2, $3, 'x', 'pending', 1), ($1, 'reply', $2, $3, 'y', 'pending', 1),
				($1, 'reply', $4, $5, 'z', 'pending', 1), ($1, 'reply', $2, $3, 'w', 'approved', 1)`,
			w.acct, ids[0], w.inboxA, ids[6], w.inbB)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestViewCountsMatchTheirViews: the counts the list reads beside its
// page are the views' own sizes, for an admin (every inbox) and for an
// agent's scope (one inbox), with the bell and the Drafts count.
func TestViewCountsMatchTheirViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newSideWorld(t, dbtest.App(t))
	cases := []struct {
		name  string
		sc    desk.Scope
		want  desk.ViewCounts
		draft int
	}{
		{"admin", desk.Scope{}, desk.ViewCounts{Mine: 2, Unassigned: 4, Open: 6, Escalated: 3,
			ByInbox: map[int64]int{w.inboxA: 3, w.inbB: 3}, Unread: 2}, 3},
		{"agent of inbox A", desk.Scope{InboxIDs: []int64{w.inboxA}}, desk.ViewCounts{Mine: 1, Unassigned: 2, Open: 3, Escalated: 3,
			ByInbox: map[int64]int{w.inboxA: 3}, Unread: 2}, 2},
		{"agent of no inbox", desk.Scope{InboxIDs: []int64{}}, desk.ViewCounts{ByInbox: map[int64]int{}, Unread: 2}, 0},
	}
	for _, c := range cases {
		var got desk.ViewCounts
		var k desk.Catalog
		if _, _, err := w.d.ConversationList(ctx, tenancy.For(w.acct), c.sc, desk.ConversationFilter{UserID: w.admin, View: "open",
			Triage: true, Counts: &got, Catalog: &k}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: counts %+v, want %+v", c.name, got, c.want)
		}
		if k.Drafts != c.draft {
			t.Errorf("%s: Drafts %d, want %d", c.name, k.Drafts, c.draft)
		}
		// Each count is its view's size.
		views := map[string]int{"mine": got.Mine, "unassigned": got.Unassigned, "open": got.Open, "escalated": got.Escalated}
		for _, view := range []string{"mine", "unassigned", "open", "escalated"} {
			rows, _, err := w.d.ConversationList(ctx, tenancy.For(w.acct), c.sc, desk.ConversationFilter{UserID: w.admin, View: view, Triage: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != views[view] {
				t.Errorf("%s: view %s lists %d, its count says %d", c.name, view, len(rows), views[view])
			}
		}
		for ib, n := range got.ByInbox {
			rows, _, err := w.d.ConversationList(ctx, tenancy.For(w.acct), c.sc, desk.ConversationFilter{UserID: w.admin, View: "open", InboxID: ib, Triage: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != n {
				t.Errorf("%s: inbox %d lists %d open, its count says %d", c.name, ib, len(rows), n)
			}
		}
		if n, err := w.d.DraftCount(ctx, w.acct, c.sc); err != nil || n != c.draft {
			t.Errorf("%s: DraftCount %d, %v; the page's count %d", c.name, n, err, c.draft)
		}
	}
}

// TestCatalogIsItsLists: the catalog read beside a page holds what each
// list reads on its own, in the same order, on the list page, the thread
// page and alone; and an agent's catalog holds only their inboxes.
func TestCatalogIsItsLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newSideWorld(t, dbtest.App(t))
	req := tenancy.For(w.acct)
	for _, sc := range []desk.Scope{{}, {InboxIDs: []int64{w.inbB}}} {
		inboxes, err := w.d.InboxList(ctx, req, sc, false)
		if err != nil {
			t.Fatal(err)
		}
		labels, err := w.d.LabelList(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		people, teams, err := w.d.People(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var listed desk.Catalog
		if _, _, err := w.d.ConversationList(ctx, req, sc, desk.ConversationFilter{UserID: w.admin, Triage: true, Catalog: &listed}); err != nil {
			t.Fatal(err)
		}
		alone, err := w.d.CatalogGet(ctx, w.acct, sc)
		if err != nil {
			t.Fatal(err)
		}
		conv := w.conv
		if sc.InboxIDs != nil {
			conv = 0 // the thread of inbox B's first conversation below
			rows, _, err := w.d.ConversationList(ctx, req, sc, desk.ConversationFilter{Limit: 1})
			if err != nil || len(rows) != 1 {
				t.Fatal(err, len(rows))
			}
			conv = rows[0].ID
		}
		_, side, err := w.d.Thread(ctx, w.acct, sc, w.admin, conv, "", 20)
		if err != nil {
			t.Fatal(err)
		}
		if side.Unread != 2 {
			t.Errorf("thread's bell %d, want 2", side.Unread)
		}
		for name, k := range map[string]desk.Catalog{"list": listed, "alone": alone, "thread": side.Catalog} {
			if len(k.Inboxes) != len(inboxes) || (sc.InboxIDs != nil && len(k.Inboxes) != 1) {
				t.Fatalf("%s: %d inboxes, the list has %d", name, len(k.Inboxes), len(inboxes))
			}
			for i, ib := range inboxes {
				got := k.Inboxes[i]
				if got.ID != ib.ID || got.Name != ib.Name || got.Channel != ib.Channel || !got.CreatedAt.Equal(ib.CreatedAt) {
					t.Errorf("%s: inbox %d is %+v, the list's %+v", name, i, got, ib)
				}
			}
			if !reflect.DeepEqual(k.Labels, labels) || len(labels) != 3 || labels[0].Name != "billing" {
				t.Errorf("%s: labels %+v, the list's %+v", name, k.Labels, labels)
			}
			if !reflect.DeepEqual(k.People, people) || len(people) == 0 {
				t.Errorf("%s: people %+v, the list's %+v", name, k.People, people)
			}
			if !reflect.DeepEqual(k.Teams, teams) || len(teams) != 1 || !reflect.DeepEqual(teams[0].MemberIDs, []int64{w.admin}) {
				t.Errorf("%s: teams %+v, the list's %+v", name, k.Teams, teams)
			}
		}
	}
}
