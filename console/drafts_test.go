package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// pendingDraft makes a conversation with a customer message in a new api
// inbox and an agent's pending reply draft on it.
func pendingDraft(t *testing.T, c *Console, acct int64, customerText, draftText string) (desk.Draft, desk.Inbox) {
	t.Helper()
	ctx := context.Background()
	ib := newInbox(t, c, acct, dbtest.Unique("Widget"))
	in, err := c.cfg.Desk.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: dbtest.Unique("jane") + "@example.com", Name: "Jane Customer"}, Content: customerText})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := identity.MCPTokenCreate(ctx, c.cfg.DB, tenancy.For(acct), identity.MCPTokenInput{Name: "careful-bot", Scopes: []string{"conversations:reply"}, RequireApproval: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var d desk.Draft
	err = c.cfg.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		d, err = c.cfg.Desk.DraftCreate(ctx, tx, acct, desk.DraftInput{Kind: "reply", ConversationID: in.ConversationID, Content: draftText,
			Rationale: "the customer asked about refunds", TokenID: tok.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, ib
}

func draftStatus(t *testing.T, c *Console, acct, id int64) desk.Draft {
	t.Helper()
	ds, _, err := c.cfg.Desk.DraftList(context.Background(), tenancy.For(acct), desk.DraftFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("draft %d not found", id)
	return desk.Draft{}
}

func TestDraftsQueueApproveWithEdits(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	d, _ := pendingDraft(t, c, p.AccountID, "Where is my refund?", "Your refund is on its way.")

	pg := wantStatus(t, b.get("/drafts"), http.StatusOK)
	pg.has(t, "Where is my refund?", "the customer asked about refunds", "careful-bot", "Jane Customer", "Approve", "Reject", "Reply")
	if !strings.Contains(pg.Body, `<label for="reply-`+fmt.Sprint(d.ID)+`">Reply</label>`) || !strings.Contains(pg.Body, ">Your refund is on its way.</textarea>") {
		t.Fatalf("no Reply field with the draft's text:\n%s", pg.Body)
	}
	if !strings.Contains(pg.Body, `aria-label="1 pending">1</span>`) {
		t.Fatal("the navigation does not count the pending draft")
	}

	// An empty reply comes back with the error next to it; nothing is sent.
	bad := wantStatus(t, b.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {"   "}}), http.StatusBadRequest)
	if !strings.Contains(bad.Body, fmt.Sprintf(`id="reply-%d-error">`, d.ID)) {
		t.Fatalf("no error next to Reply:\n%s", bad.text())
	}
	if draftStatus(t, c, p.AccountID, d.ID).Status != "pending" {
		t.Fatal("a bad approval decided the draft")
	}

	edited := "Your refund of 20 EUR was sent today."
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {edited}}), "/drafts")
	got := draftStatus(t, c, p.AccountID, d.ID)
	if got.Status != "approved" || got.MessageID == nil {
		t.Fatalf("after Approve: %+v", got)
	}
	v, err := c.cfg.Desk.ConversationGet(context.Background(), tenancy.For(p.AccountID), *got.ConversationID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Messages[len(v.Messages)-1]
	if last.Content != edited || last.Type != "outgoing" || last.ApprovedBy == nil || *last.ApprovedBy != p.UserID {
		t.Fatalf("sent message %+v", last)
	}
	after := wantStatus(t, b.get("/drafts"), http.StatusOK)
	after.has(t, "Approved: the reply is on its way", "No drafts wait")
	// Deciding twice sends nothing more.
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {"again"}}), "/drafts")
	wantStatus(t, b.get("/drafts"), http.StatusOK).has(t, "already decided")
}

func TestDraftsReject(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	d, _ := pendingDraft(t, c, p.AccountID, "Hello?", "Sure thing.")
	long := strings.Repeat("x", 2001)
	bad := wantStatus(t, b.post(fmt.Sprintf("/drafts/%d/reject", d.ID), url.Values{"content": {"Sure thing, edited"}, "reason": {long}}), http.StatusBadRequest)
	if !strings.Contains(bad.Body, "at most 2000 characters") || !strings.Contains(bad.Body, ">Sure thing, edited</textarea>") {
		t.Fatalf("a too long reason: error or kept text missing:\n%s", bad.text())
	}
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/reject", d.ID), url.Values{"reason": {"wrong tone"}}), "/drafts")
	got := draftStatus(t, c, p.AccountID, d.ID)
	if got.Status != "rejected" || got.DecisionReason != "wrong tone" || got.MessageID != nil {
		t.Fatalf("after Reject: %+v", got)
	}
}

func TestDraftsFencedByInboxAndWorkspace(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	a, _ := signUp(t, srv)
	p, _ := accountOf(t, c, a)
	d, _ := pendingDraft(t, c, p.AccountID, "Secret customer text", "secret draft text")

	anon := newBrowser(t, srv)
	wantRedirect(t, anon.get("/drafts"), "/signin?next=%2Fdrafts")

	// An agent who is not a member of the inbox sees nothing and cannot decide.
	ag := newAgent(t, srv, a, p.AccountID)
	pg := wantStatus(t, ag.get("/drafts"), http.StatusOK)
	pg.lacks(t, "Secret customer text", "secret draft text")
	wantStatus(t, ag.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {"hi"}}), http.StatusNotFound)

	// Another workspace neither.
	other, _ := signUp(t, srv)
	wantStatus(t, other.get("/drafts"), http.StatusOK).lacks(t, "Secret customer text")
	wantStatus(t, other.post(fmt.Sprintf("/drafts/%d/reject", d.ID), nil), http.StatusNotFound)
	if draftStatus(t, c, p.AccountID, d.ID).Status != "pending" {
		t.Fatal("an outsider decided the draft")
	}
	// Cross-site approval is refused.
	wantStatus(t, a.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {"hi"}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden)
	if draftStatus(t, c, p.AccountID, d.ID).Status != "pending" {
		t.Fatal("a cross-site post decided the draft")
	}
}
