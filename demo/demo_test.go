package demo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/demo"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ids := dbtest.Identities(t)
	d := &desk.Desk{DB: dbtest.App(t)}
	email := dbtest.Unique("admin") + "@demo.deskwoot.local"
	now := time.Now()

	w, err := demo.Seed(ctx, ids, d, demo.Options{AdminEmail: email, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if w.AccountID == 0 || w.AdminEmail != email || len(w.AdminPassword) < 8 ||
		w.AdminAPIToken == "" || w.AgentAPIToken == "" || w.MCPToken == "" {
		t.Fatalf("workspace is missing ids or secrets: %+v", w)
	}

	// The admin's API token and the MCP token authenticate.
	if p, err := identity.AuthenticateUser(ctx, ids.DB, w.AdminAPIToken); err != nil || p.AccountID != w.AccountID {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	mp, err := identity.AuthenticateMCP(ctx, ids.DB, w.MCPToken, now)
	if err != nil || mp.AccountID != w.AccountID {
		t.Fatalf("mcp token: %+v, %v", mp, err)
	}
	toks, err := identity.MCPTokenList(ctx, ids.DB, w.AccountID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("mcp tokens: %v, %v", toks, err)
	}
	if tok := toks[0]; tok.Name != "demo-agent" || tok.RateLimitPerMinute != 6000 || tok.InboxIDs != nil ||
		!slices.Equal(slices.Sorted(slices.Values(tok.Scopes)), slices.Sorted(slices.Values(demo.Scopes()))) {
		t.Fatalf("mcp token = %+v", tok)
	}
	acct, err := identity.AccountGet(ctx, ids.DB, w.AccountID)
	if err != nil || !acct.MCPEnabled || acct.ServiceUserID == nil || acct.Name != "Acme Support (demo)" {
		t.Fatalf("account = %+v, %v", acct, err)
	}

	// Two people plus the agent service account.
	users, err := identity.UserList(ctx, ids.DB, w.AccountID)
	if err != nil || len(users) != 3 {
		t.Fatalf("users = %+v, %v", users, err)
	}

	inboxes, err := d.InboxList(ctx, tenancy.For(w.AccountID), desk.Scope{}, true)
	if err != nil || len(inboxes) != 2 {
		t.Fatalf("inboxes = %+v, %v", inboxes, err)
	}
	channels := map[string]int64{}
	for _, ib := range inboxes {
		channels[ib.Channel] = ib.ID
	}
	if channels["website"] != w.ChatInboxID || channels["email"] != w.EmailInboxID {
		t.Fatalf("inboxes = %+v, workspace chat %d email %d", inboxes, w.ChatInboxID, w.EmailInboxID)
	}

	labels, err := d.LabelList(ctx, tenancy.For(w.AccountID))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range labels {
		names = append(names, l.Name)
	}
	if want := []string{"billing", "bug", "feature-request", "refund", "vip"}; !slices.Equal(names, want) {
		t.Fatalf("labels = %v, want %v", names, want)
	}

	teams, err := d.TeamList(ctx, tenancy.For(w.AccountID))
	if err != nil || len(teams) != 1 || teams[0].Name != "Tier 2" || !slices.Equal(teams[0].MemberIDs, []int64{w.AgentUserID}) {
		t.Fatalf("teams = %+v, %v", teams, err)
	}

	// The agent is a member of both inboxes, so the agent's login opens a
	// full queue.
	for _, ib := range []int64{w.ChatInboxID, w.EmailInboxID} {
		if ids, err := d.InboxMemberIDs(ctx, w.AccountID, ib); err != nil || !slices.Contains(ids, w.AgentUserID) {
			t.Fatalf("inbox %d members = %v, %v; want the agent %d", ib, ids, err, w.AgentUserID)
		}
	}

	convs, _, err := d.ConversationList(ctx, tenancy.For(w.AccountID), desk.Scope{}, desk.ConversationFilter{Limit: desk.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) < 10 || len(convs) != w.Counts.Conversations {
		t.Fatalf("%d conversations, workspace says %d, want at least 10", len(convs), w.Counts.Conversations)
	}
	// The queue looks worked: some resolved, some labelled, some with the team.
	statuses, labelled := map[string]int{}, 0
	for _, c := range convs {
		statuses[c.Status]++
		if len(c.Labels) > 0 {
			labelled++
		}
	}
	withTeam, _, err := d.ConversationList(ctx, tenancy.For(w.AccountID), desk.Scope{}, desk.ConversationFilter{Assignee: fmt.Sprint(w.AgentUserID), Limit: desk.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if statuses["resolved"] == 0 || statuses["open"] == 0 || statuses["pending"] == 0 || labelled < 6 || len(withTeam) == 0 {
		t.Errorf("queue state: statuses %v, %d labelled, %d assigned to the agent", statuses, labelled, len(withTeam))
	}
	contacts := map[int64]bool{}
	messages, replies, notes := 0, 0, 0
	inInbox := map[int64]int{}
	for _, c := range convs {
		inInbox[c.InboxID]++
		contacts[c.Contact.ID] = true
		v, err := d.ConversationGet(ctx, tenancy.For(w.AccountID), c.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(v.Messages); c.InboxID == w.ChatInboxID && (n < 2 || n > 5) {
			t.Errorf("conversation %d has %d messages, want 2 to 5", c.ID, n)
		}
		if v.Messages[0].Type != "incoming" || v.Messages[0].Sender.Kind != "contact" {
			t.Errorf("conversation %d starts with %+v, want the customer", c.ID, v.Messages[0])
		}
		for _, m := range v.Messages {
			messages++
			switch {
			case m.Type == "outgoing" && m.Sender.Kind == "user":
				replies++
			case m.Type == "note" && m.Private:
				notes++
			}
		}
	}
	if inInbox[w.ChatInboxID] < 10 || inInbox[w.EmailInboxID] < 2 {
		t.Errorf("conversations per inbox: %v, want ≥10 in chat and ≥2 in email", inInbox)
	}
	if len(contacts) != len(convs) || len(contacts) != w.Counts.Contacts {
		t.Errorf("%d distinct contacts over %d conversations, workspace says %d", len(contacts), len(convs), w.Counts.Contacts)
	}
	if messages != w.Counts.Messages || replies == 0 || notes == 0 {
		t.Errorf("%d messages (%d replies, %d notes), workspace says %d", messages, replies, notes, w.Counts.Messages)
	}

	arts, err := d.ArticleList(ctx, tenancy.For(w.AccountID), true)
	if err != nil || len(arts) < 3 || len(arts) != w.Counts.Articles {
		t.Fatalf("articles = %d, %v; workspace says %d", len(arts), err, w.Counts.Articles)
	}
	found, err := d.ArticleSearch(ctx, tenancy.For(w.AccountID), "refund", 0)
	if err != nil || len(found) == 0 || found[0].Title != "Refund policy" {
		t.Fatalf("search refund = %+v, %v", found, err)
	}

	// A second run with the same admin says so and writes nothing.
	_, err = demo.Seed(ctx, ids, d, demo.Options{AdminEmail: email})
	if !errors.Is(err, demo.ErrAlreadySeeded) {
		t.Fatalf("second seed: %v, want ErrAlreadySeeded", err)
	}
	again, _, err := d.ConversationList(ctx, tenancy.For(w.AccountID), desk.Scope{}, desk.ConversationFilter{Limit: desk.MaxLimit})
	if err != nil || len(again) != len(convs) {
		t.Fatalf("after second seed: %d conversations, %v; want %d", len(again), err, len(convs))
	}
}

func TestSeedRejectsBadEmail(t *testing.T) {
	t.Parallel()
	_, err := demo.Seed(context.Background(), dbtest.Identities(t), &desk.Desk{DB: dbtest.App(t)}, demo.Options{AdminEmail: "not-an-email"})
	if !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

// The seeded token must hold every scope the policy knows, no more.
func TestScopesMatchPolicy(t *testing.T) {
	t.Parallel()
	e, err := policy.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(demo.Scopes())), e.Scopes(); !slices.Equal(got, want) {
		t.Fatalf("demo scopes %v, policy scopes %v", got, want)
	}
}
