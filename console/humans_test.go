package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// queue is a signed-up workspace with an inbox and one customer's
// conversation, for the pages that work the queue.
type queue struct {
	c       *Console
	srv     *httptest.Server
	admin   *browser
	acct    int64
	userID  int64
	inbox   int64
	conv    int64
	contact int64
	email   string
}

func newQueue(t *testing.T) queue {
	t.Helper()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	q := queue{c: c, srv: srv, admin: b, acct: p.AccountID, userID: p.UserID, email: dbtest.Unique("cust") + "@example.com"}
	ctx := context.Background()
	ib, err := c.cfg.Desk.InboxCreate(ctx, tenancy.For(q.acct), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	q.inbox = ib.ID
	res, err := c.cfg.Desk.IncomingMessage(ctx, q.acct, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: q.email, Name: "Carla Customer"}, Content: "My parcel never arrived", SourceID: dbtest.Unique("s")})
	if err != nil {
		t.Fatal(err)
	}
	q.conv, q.contact = res.ConversationID, res.ContactID
	return q
}

// agent adds a person with the agent role and signs them in.
func (q queue) agent(t *testing.T) (*browser, int64) {
	t.Helper()
	email := dbtest.Unique("agent") + "@example.com"
	u, _, err := dbtest.Identities(t).UserCreate(context.Background(), tenancy.For(q.acct), email, "Agent Ann", "agent password 1", "agent")
	if err != nil {
		t.Fatal(err)
	}
	ag := newBrowser(t, q.srv)
	wantRedirect(t, ag.post("/signin", url.Values{"email": {email}, "password": {"agent password 1"}}), "/")
	return ag, u.ID
}

func (q queue) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	err := dbtest.App(t).InTenant(context.Background(), q.acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueuePagesNeedSignIn(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	b := newBrowser(t, q.srv)
	for _, path := range []string{"/conversations", fmt.Sprintf("/conversations/%d", q.conv), "/contacts",
		fmt.Sprintf("/contacts/%d", q.contact), "/help-center", "/settings/inboxes", "/settings/team", "/settings/labels",
		fmt.Sprintf("/conversations/%d/delete", q.conv)} {
		p := b.get(path)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin?next=") {
			t.Errorf("GET %s signed out: %d to %q", path, p.Status, p.Header.Get("Location"))
		}
	}
	// A signed-out post changes nothing.
	p := b.post(fmt.Sprintf("/conversations/%d/messages", q.conv), url.Values{"content": {"hi"}, "kind": {"reply"}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
		t.Errorf("signed-out post: %d %s", p.Status, p.Header.Get("Location"))
	}
	if n := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, q.conv); n != 1 {
		t.Errorf("%d messages after a signed-out post", n)
	}
}

func TestConversationPages(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	b := q.admin
	ctx := context.Background()
	if _, err := q.c.cfg.Desk.LabelCreate(ctx, tenancy.For(q.acct), "shipping", "", ""); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/conversations/%d", q.conv)

	list := wantStatus(t, b.get("/conversations"), http.StatusOK)
	list.has(t, "Carla Customer", "Support", "open", "Inbox", "Status", "Assignee", "Label", "Search")
	wantStatus(t, b.get("/conversations?status=resolved"), http.StatusOK).has(t, "No conversation matches")
	wantStatus(t, b.get("/conversations?q=parcel"), http.StatusOK).has(t, "Carla Customer")
	wantStatus(t, b.get("/conversations?q=nothinglikethis"), http.StatusOK).has(t, "No conversation matches")
	// A search shows where it matched, the words in bold: "arrive" finds
	// "arrived"; customer text is escaped around the marks.
	if _, err := q.c.cfg.Desk.IncomingMessage(ctx, q.acct, q.inbox, desk.IncomingInput{Contact: desk.IncomingContact{
		Email: dbtest.Unique("zed") + "@example.com", Name: `Zed <3 & "Co"`}, Content: "Zed here", SourceID: dbtest.Unique("s")}); err != nil {
		t.Fatal(err)
	}
	hits := wantStatus(t, b.get("/conversations?q=arrive"), http.StatusOK)
	hits.has(t, "Carla Customer", "My parcel never arrived")
	if !strings.Contains(hits.Body, "<mark>arrived</mark>") {
		t.Errorf("the search does not mark the matching word:\n%s", hits.Body)
	}
	zed := wantStatus(t, b.get("/conversations?q=zed"), http.StatusOK)
	if !strings.Contains(zed.Body, "<mark>Zed</mark> &lt;3 &amp; &#34;Co&#34;") {
		t.Errorf("the contact's name is not marked and escaped:\n%s", zed.Body)
	}
	wantStatus(t, b.get("/conversations?q=-parcel"), http.StatusBadRequest).has(t, "Query needs a word")
	bad := wantStatus(t, b.get("/conversations?status=bogus"), http.StatusBadRequest)
	if bad.fieldError("status") == "" {
		t.Errorf("a bad status filter has no error beside it:\n%s", bad.text())
	}

	th := wantStatus(t, b.get(path), http.StatusOK)
	th.has(t, "Customer", "My parcel never arrived", "Send reply", "Add private note", "Status", "Priority", "Assignee", "Team", "Labels", "Delete conversation")
	if !strings.Contains(th.Body, `class="msg msg-incoming"`) {
		t.Error("the incoming message lacks its style")
	}

	// Reply and note: told apart by words and style.
	wantRedirect(t, b.post(path+"/messages", url.Values{"content": {"Sorry! A new one is on its way."}, "kind": {"reply"}}), path+"#m"+lastMessage(t, q))
	wantRedirect(t, b.post(path+"/messages", url.Values{"content": {"Checked with the courier."}, "kind": {"note"}}), path+"#m"+lastMessage(t, q))
	// An agent's reply shows its token's name.
	if _, err := q.c.cfg.Desk.MessageCreate(ctx, q.acct, q.conv, "Tracking number is 123.", false,
		desk.Author{Kind: "agent", Name: "triage-bot", TokenID: 42}); err != nil {
		t.Fatal(err)
	}
	th = wantStatus(t, b.get(path), http.StatusOK)
	th.has(t, "Reply", "Sorry! A new one is on its way.", "Delivery: pending", "Private note", "Checked with the courier.",
		"Reply · AI agent", "triage-bot", "(MCP token)", "Private note added.")
	for _, class := range []string{`class="msg msg-outgoing"`, `class="msg msg-note"`} {
		if !strings.Contains(th.Body, class) {
			t.Errorf("thread lacks %s", class)
		}
	}

	// Bad composer input: the form comes back with the error beside the field.
	p := wantStatus(t, b.post(path+"/messages", url.Values{"content": {"   "}, "kind": {"reply"}}), http.StatusBadRequest)
	if p.fieldError("content") == "" {
		t.Errorf("empty reply has no error beside the field:\n%s", p.text())
	}
	n := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, q.conv)

	// Controls: a snooze without a time is refused with nothing changed.
	p = wantStatus(t, b.post(path, url.Values{"status": {"snoozed"}, "priority": {"high"}, "assignee": {""}, "team": {""}}), http.StatusBadRequest)
	if p.fieldError("snoozed_until") == "" {
		t.Errorf("snooze without a time has no error beside the field:\n%s", p.text())
	}
	if !strings.Contains(p.Body, `<option value="high" selected>`) {
		t.Error("the refused form lost the chosen priority")
	}
	conv := func() desk.Conversation {
		v, err := q.c.cfg.Desk.ConversationGet(ctx, tenancy.For(q.acct), q.conv, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		return v.Conversation
	}
	if c := conv(); c.Status != "open" || c.Priority != "none" {
		t.Fatalf("a refused change changed the conversation: %+v", c)
	}
	// Another workspace's person is not a choice.
	p = wantStatus(t, b.post(path, url.Values{"status": {"open"}, "priority": {"none"}, "assignee": {"999999999999"}, "team": {""}}), http.StatusBadRequest)
	if p.fieldError("assignee") == "" {
		t.Errorf("an unknown assignee has no error beside the field:\n%s", p.text())
	}
	until := time.Now().Add(72 * time.Hour).UTC().Format("2006-01-02T15:04")
	wantRedirect(t, b.post(path, url.Values{"status": {"snoozed"}, "snoozed_until": {until}, "priority": {"high"},
		"assignee": {fmt.Sprint(q.userID)}, "team": {""}, "labels": {"shipping"}}), path)
	if c := conv(); c.Status != "snoozed" || c.Priority != "high" || c.Assignee == nil || c.Assignee.ID != q.userID ||
		strings.Join(c.Labels, ",") != "shipping" || c.SnoozedUntil == nil {
		t.Fatalf("after the controls: %+v", c)
	}
	wantStatus(t, b.get("/conversations?label=shipping&assignee=me&status=snoozed"), http.StatusOK).has(t, "Carla Customer")
	// Unticking the label removes it; clearing the assignee unassigns.
	wantRedirect(t, b.post(path, url.Values{"status": {"open"}, "priority": {"high"}, "assignee": {""}, "team": {""}}), path)
	if c := conv(); c.Status != "open" || c.Assignee != nil || len(c.Labels) != 0 {
		t.Fatalf("after clearing: %+v", c)
	}

	// Delete: the box must be ticked.
	del := wantStatus(t, b.get(path+"/delete"), http.StatusOK)
	del.has(t, "Delete conversation", "cannot be undone")
	p = wantStatus(t, b.post(path+"/delete", url.Values{}), http.StatusBadRequest)
	if p.fieldError("confirm") == "" {
		t.Errorf("delete without the box has no error beside it:\n%s", p.text())
	}
	if got := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, q.conv); got != n {
		t.Fatalf("refused delete: %d messages, want %d", got, n)
	}
	wantRedirect(t, b.post(path+"/delete", url.Values{"confirm": {"yes"}}), "/conversations")
	wantStatus(t, b.get(path), http.StatusNotFound)
	if got := q.count(t, `SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action IN ('conversation.update', 'conversation.delete', 'message.reply', 'message.note')`, q.userID); got != 5 {
		t.Errorf("%d audit rows for the person's actions, want 5 (2 updates, delete, reply, note)", got)
	}
}

// lastMessage is the newest message id of the queue's conversation, as text.
func lastMessage(t *testing.T, q queue) string {
	t.Helper()
	return fmt.Sprint(q.count(t, `SELECT max(id) FROM messages WHERE conversation_id = $1`, q.conv))
}

func TestQueuePagesAcrossRolesAndWorkspaces(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	path := fmt.Sprintf("/conversations/%d", q.conv)
	ag, agentID := q.agent(t)

	// Not a member of the inbox: the conversation and contact are not found.
	wantStatus(t, ag.get("/conversations"), http.StatusOK).lacks(t, "Carla Customer")
	wantStatus(t, ag.get(path), http.StatusNotFound)
	wantStatus(t, ag.get(fmt.Sprintf("/contacts/%d", q.contact)), http.StatusNotFound)
	wantStatus(t, ag.post(path+"/messages", url.Values{"content": {"sneaky"}, "kind": {"reply"}}), http.StatusNotFound)
	// Admin pages and deleting stay with admins.
	for _, p := range []string{"/settings/inboxes", "/settings/team", "/settings/labels", path + "/delete", fmt.Sprintf("/contacts/%d/delete", q.contact)} {
		wantStatus(t, ag.get(p), http.StatusForbidden).has(t, "Only workspace admins")
	}
	wantStatus(t, ag.post(path+"/delete", url.Values{"confirm": {"yes"}}), http.StatusForbidden)
	wantStatus(t, ag.post("/settings/labels", url.Values{"name": {"agentlabel"}}), http.StatusForbidden)
	wantStatus(t, ag.post("/help-center", url.Values{"title": {"Agent article"}}), http.StatusForbidden)

	// A member works the conversation but sees no delete control.
	if err := q.c.cfg.Desk.InboxMemberAdd(context.Background(), tenancy.For(q.acct), q.inbox, agentID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, ag.get("/conversations"), http.StatusOK).has(t, "Carla Customer")
	wantStatus(t, ag.get(path), http.StatusOK).lacks(t, "/delete")
	wantRedirect(t, ag.post(path+"/messages", url.Values{"content": {"Agent here"}, "kind": {"reply"}}), path+"#m"+lastMessage(t, q))
	wantStatus(t, ag.get(fmt.Sprintf("/contacts/%d", q.contact)), http.StatusOK).lacks(t, "Delete contact")

	// Another workspace sees none of it.
	o, _ := signUp(t, q.srv)
	wantStatus(t, o.get(path), http.StatusNotFound)
	wantStatus(t, o.get(fmt.Sprintf("/contacts/%d", q.contact)), http.StatusNotFound)
	wantStatus(t, o.get("/conversations"), http.StatusOK).lacks(t, "Carla Customer")
	wantStatus(t, o.post(path, url.Values{"status": {"resolved"}, "priority": {"none"}}), http.StatusNotFound)
	wantStatus(t, o.post(path+"/delete", url.Values{"confirm": {"yes"}}), http.StatusNotFound)
	wantStatus(t, q.admin.get(path), http.StatusOK)

	// Cross-site posts are refused before anything is written.
	n := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, q.conv)
	for _, p := range []string{path + "/messages", path, path + "/delete", fmt.Sprintf("/contacts/%d", q.contact), "/settings/labels", "/settings/inboxes"} {
		wantStatus(t, q.admin.post(p, url.Values{"content": {"forged"}, "kind": {"reply"}, "confirm": {"yes"}, "name": {"forged"}, "channel": {"api"}},
			"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden)
	}
	if got := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, q.conv); got != n {
		t.Errorf("a cross-site post wrote a message")
	}
	if got := q.count(t, `SELECT count(*) FROM labels WHERE name = 'forged'`); got != 0 {
		t.Errorf("a cross-site post created a label")
	}
}

func TestContactPages(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	b := q.admin
	cpath := fmt.Sprintf("/contacts/%d", q.contact)

	wantStatus(t, b.get("/contacts"), http.StatusOK).has(t, "Carla Customer", q.email, "Search contacts")
	wantStatus(t, b.get("/contacts?q=carla"), http.StatusOK).has(t, "Carla Customer")
	wantStatus(t, b.get("/contacts?q=zzzz"), http.StatusOK).has(t, "No contact matches")
	prof := wantStatus(t, b.get(cpath), http.StatusOK)
	prof.has(t, "Carla Customer", "Details", "Conversations", "Notes", "Edit contact", "Custom attributes", "Delete contact")
	if prof.fieldValue("email") != q.email {
		t.Errorf("edit form email %q", prof.fieldValue("email"))
	}

	// Bad edit: error beside the field, the typed values kept, nothing saved.
	p := wantStatus(t, b.post(cpath, url.Values{"name": {"Carla C."}, "email": {"not-an-email"}, "phone": {""}, "attributes": {""}}), http.StatusBadRequest)
	if p.fieldError("email") == "" || p.fieldValue("name") != "Carla C." || p.fieldValue("email") != "not-an-email" {
		t.Errorf("bad edit: error %q, name %q, email %q", p.fieldError("email"), p.fieldValue("name"), p.fieldValue("email"))
	}
	p = wantStatus(t, b.post(cpath, url.Values{"name": {"Carla"}, "email": {q.email}, "attributes": {"just words"}}), http.StatusBadRequest)
	if p.fieldError("attributes") == "" {
		t.Errorf("bad attributes have no error beside them:\n%s", p.text())
	}
	v, err := q.c.cfg.Desk.ContactView(context.Background(), q.acct, desk.Scope{}, q.contact)
	if err != nil || v.Contact.Name != "Carla Customer" {
		t.Fatalf("refused edits changed the contact: %+v %v", v.Contact, err)
	}

	wantRedirect(t, b.post(cpath, url.Values{"name": {"Carla Cruz"}, "email": {q.email}, "phone": {"+1 555 0100"}, "attributes": {"plan = gold\nseats = 3"}}), cpath)
	prof = wantStatus(t, b.get(cpath), http.StatusOK)
	prof.has(t, "Carla Cruz", "+1 555 0100", "plan", "gold", "seats", "Contact saved.")
	wantRedirect(t, b.post(cpath, url.Values{"name": {"Carla Cruz"}, "email": {q.email}, "phone": {"+1 555 0100"}, "attributes": {"plan = gold"}}), cpath)
	v, _ = q.c.cfg.Desk.ContactView(context.Background(), q.acct, desk.Scope{}, q.contact)
	if _, ok := v.Contact.CustomAttributes["seats"]; ok || v.Contact.CustomAttributes["plan"] != "gold" {
		t.Errorf("attributes after removing a line: %v", v.Contact.CustomAttributes)
	}

	// Notes.
	p = wantStatus(t, b.post(cpath+"/notes", url.Values{"note": {" "}}), http.StatusBadRequest)
	if p.fieldError("note") == "" || p.fieldValue("name") != "Carla Cruz" {
		t.Errorf("empty note: error %q, edit form name %q", p.fieldError("note"), p.fieldValue("name"))
	}
	wantRedirect(t, b.post(cpath+"/notes", url.Values{"note": {"Prefers phone calls"}}), cpath)
	wantStatus(t, b.get(cpath), http.StatusOK).has(t, "Prefers phone calls")

	// Delete with its confirm step.
	wantStatus(t, b.get(cpath+"/delete"), http.StatusOK).has(t, "Delete contact", "conversations 1", "cannot be undone")
	p = wantStatus(t, b.post(cpath+"/delete", url.Values{}), http.StatusBadRequest)
	if p.fieldError("confirm") == "" {
		t.Errorf("delete without the box has no error beside it")
	}
	wantStatus(t, b.get(cpath), http.StatusOK)
	wantRedirect(t, b.post(cpath+"/delete", url.Values{"confirm": {"yes"}}), "/contacts")
	wantStatus(t, b.get(cpath), http.StatusNotFound)
	wantStatus(t, b.get(fmt.Sprintf("/conversations/%d", q.conv)), http.StatusNotFound)
	if got := q.count(t, `SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action IN ('contact.update', 'contact.note', 'contact.delete')`, q.userID); got != 4 {
		t.Errorf("%d contact audit rows, want 4", got)
	}
}

func TestSettingsPages(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	b := q.admin

	// Inboxes: create with a write-only secret.
	wantStatus(t, b.get("/settings/inboxes"), http.StatusOK).has(t, "Support", "New inbox", "Webhook URL", "Webhook secret", "SMTP host", "Create inbox")
	p := wantStatus(t, b.post("/settings/inboxes", url.Values{"name": {"Hooks"}, "channel": {"api"}, "api.webhook_url": {"ftp://nope"}, "api.webhook_secret": {"s3cret-value"}}), http.StatusBadRequest)
	if p.fieldError("api-webhook_url") == "" || p.fieldValue("name") != "Hooks" || strings.Contains(p.Body, "s3cret-value") {
		t.Errorf("bad webhook URL: error %q, name %q, secret echoed %v", p.fieldError("api-webhook_url"), p.fieldValue("name"), strings.Contains(p.Body, "s3cret-value"))
	}
	if got := q.count(t, `SELECT count(*) FROM inboxes WHERE name = 'Hooks'`); got != 0 {
		t.Fatal("a refused inbox was created")
	}
	p = b.post("/settings/inboxes", url.Values{"name": {"Hooks"}, "channel": {"api"}, "api.webhook_url": {"https://example.com/hook"}, "api.webhook_secret": {"s3cret-value"}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/settings/inboxes/") {
		t.Fatalf("create inbox: %d %s\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	ipath := p.Header.Get("Location")
	ip := wantStatus(t, b.get(ipath), http.StatusOK)
	ip.has(t, "Webhook secret (set)", "Members", "Add member")
	if ip.fieldValue("api.webhook_url") != "https://example.com/hook" {
		t.Errorf("webhook URL shown as %q", ip.fieldValue("api.webhook_url"))
	}
	ip.lacks(t, "s3cret-value", "********")
	// Saving with an empty secret keeps it; ticking remove clears it.
	wantRedirect(t, b.post(ipath, url.Values{"name": {"Hooks 2"}, "api.webhook_url": {"https://example.com/hook2"}, "api.webhook_secret": {""}}), ipath)
	wantStatus(t, b.get(ipath), http.StatusOK).has(t, "Webhook secret (set)", "Hooks 2")
	wantRedirect(t, b.post(ipath, url.Values{"name": {"Hooks 2"}, "api.webhook_url": {"https://example.com/hook2"}, "api.webhook_secret.clear": {"true"}}), ipath)
	wantStatus(t, b.get(ipath), http.StatusOK).has(t, "Webhook secret (not set)")
	// Email inbox with a bad port.
	p = wantStatus(t, b.post("/settings/inboxes", url.Values{"name": {"Mail"}, "channel": {"email"}, "email.smtp_port": {"lots"}, "email.from_address": {"help@example.com"}}), http.StatusBadRequest)
	if p.fieldError("email-smtp_port") == "" {
		t.Errorf("bad port has no error beside it:\n%s", p.text())
	}
	p = b.post("/settings/inboxes", url.Values{"name": {"Mail"}, "channel": {"email"}, "email.smtp_host": {"smtp.example.com"}, "email.smtp_port": {"587"},
		"email.smtp_password": {"mail-pass-xyz"}, "email.smtp_starttls": {"true"}, "email.from_address": {"help@example.com"}})
	wantStatus(t, p, http.StatusSeeOther)
	mp := wantStatus(t, b.get(p.Header.Get("Location")), http.StatusOK)
	mp.has(t, "SMTP password (set)")
	if mp.fieldValue("email.smtp_host") != "smtp.example.com" || mp.fieldValue("email.smtp_port") != "587" {
		t.Errorf("smtp host %q port %q", mp.fieldValue("email.smtp_host"), mp.fieldValue("email.smtp_port"))
	}
	mp.lacks(t, "mail-pass-xyz")
	// The receiving address is Deskwoot's, shown read-only with how to
	// forward to it, and rotates; no form field claims one.
	addr := mp.fieldValue("receiving_address")
	if !regexp.MustCompile(`^[0-9a-f]{32}@in\.deskwoot\.test$`).MatchString(addr) {
		t.Errorf("receiving address field %q", addr)
	}
	mp.has(t, "Receiving address", "forward every message that arrives at help@example.com", "Rotate address")
	mp.lacks(t, "Inbound address")
	wantRedirect(t, b.post(p.Header.Get("Location")+"/inbound_address/rotate", url.Values{}), p.Header.Get("Location"))
	rp := wantStatus(t, b.get(p.Header.Get("Location")), http.StatusOK)
	if next := rp.fieldValue("receiving_address"); next == "" || next == addr {
		t.Errorf("after rotation the address is %q (was %q)", next, addr)
	}
	rp.has(t, addr, "still receives until")

	// Team: invite a person by email with a role; bad input keeps the fields.
	p = wantStatus(t, b.post("/settings/team/invitations", url.Values{"invite_email": {"bo@example"}, "role": {"agent"}}), http.StatusBadRequest)
	if p.fieldError("invite_email") == "" || p.fieldValue("invite_email") != "bo@example" {
		t.Errorf("bad invite: %q value %q", p.fieldError("invite_email"), p.fieldValue("invite_email"))
	}
	bo := dbtest.Unique("bo") + "@example.com"
	// Without a relay the link is shown once, in the answer to the post.
	p = wantStatus(t, b.post("/settings/team/invitations", url.Values{"invite_email": {bo}, "role": {"agent"}}), http.StatusCreated)
	p.has(t, "Email is off on this server", "Invitation link")
	link := p.fieldValue("invite_link")
	if !strings.HasPrefix(link, "http://127.0.0.1/invite/dw_inv_") {
		t.Fatalf("invitation link %q", link)
	}
	tp := wantStatus(t, b.get("/settings/team"), http.StatusOK)
	tp.has(t, bo, "Pending invitations", "Send invitation", "New team")
	tp.lacks(t, link)
	// The invited person opens the link, chooses a name and a password, and is signed in.
	nb := newBrowser(t, q.srv)
	path := strings.TrimPrefix(link, "http://127.0.0.1")
	wantStatus(t, nb.get(path), http.StatusOK).has(t, "Name", "Password", "Join")
	wantRedirect(t, nb.post(path, url.Values{"name": {"Bo Agent"}, "password": {"bo password 1"}}), "/")
	wantStatus(t, nb.get("/conversations"), http.StatusOK).has(t, "Bo Agent")
	wantStatus(t, nb.get(path), http.StatusNotFound).has(t, "not valid")
	wantStatus(t, b.get("/settings/team"), http.StatusOK).has(t, "Bo Agent", "No pending invitations")
	// The same email again is a member already.
	p = wantStatus(t, b.post("/settings/team/invitations", url.Values{"invite_email": {bo}, "role": {"agent"}}), http.StatusBadRequest)
	if p.fieldError("invite_email") == "" {
		t.Errorf("a member's email has no error beside it:\n%s", p.text())
	}
	// Teams.
	wantStatus(t, b.post("/settings/team/teams", url.Values{"team_name": {""}}), http.StatusBadRequest)
	wantRedirect(t, b.post("/settings/team/teams", url.Values{"team_name": {"Tier 2"}, "member": {fmt.Sprint(q.userID)}}), "/settings/team")
	p = wantStatus(t, b.post("/settings/team/teams", url.Values{"team_name": {"tier 2"}}), http.StatusBadRequest)
	if p.fieldError("team_name") == "" {
		t.Errorf("a duplicate team has no error beside it")
	}
	wantStatus(t, b.get("/settings/team"), http.StatusOK).has(t, "Tier 2")

	// Labels.
	p = wantStatus(t, b.post("/settings/labels", url.Values{"name": {"Not A Slug"}}), http.StatusBadRequest)
	if p.fieldError("name") == "" || p.fieldValue("name") != "Not A Slug" {
		t.Errorf("bad label: error %q value %q", p.fieldError("name"), p.fieldValue("name"))
	}
	wantRedirect(t, b.post("/settings/labels", url.Values{"name": {"refund"}, "description": {"Money back"}}), "/settings/labels")
	wantStatus(t, b.post("/settings/labels", url.Values{"name": {"refund"}}), http.StatusBadRequest)
	wantStatus(t, b.get("/settings/labels"), http.StatusOK).has(t, "refund", "Money back")

	// Help center: draft, then publish; agents see only published.
	p = wantStatus(t, b.post("/help-center", url.Values{"title": {""}, "body": {"kept body"}}), http.StatusBadRequest)
	if p.fieldError("title") == "" || !strings.Contains(p.Body, "kept body") {
		t.Errorf("article without a title: %q", p.fieldError("title"))
	}
	wantRedirect(t, b.post("/help-center", url.Values{"title": {"Returns policy"}, "body": {"30 days."}, "status": {"draft"}}), "/help-center")
	ag, _ := q.agent(t)
	wantStatus(t, ag.get("/help-center"), http.StatusOK).lacks(t, "Returns policy")
	id := q.count(t, `SELECT id FROM articles WHERE title = 'Returns policy'`)
	wantStatus(t, ag.get(fmt.Sprintf("/help-center/%d", id)), http.StatusNotFound)
	wantRedirect(t, b.post(fmt.Sprintf("/help-center/%d/status", id), url.Values{"status": {"published"}}), "/help-center")
	wantStatus(t, ag.get("/help-center"), http.StatusOK).has(t, "Returns policy")
	wantStatus(t, ag.get(fmt.Sprintf("/help-center/%d", id)), http.StatusOK).has(t, "30 days.")
	wantStatus(t, b.post(fmt.Sprintf("/help-center/%d/status", id), url.Values{"status": {"gone"}}), http.StatusBadRequest)

	got := q.count(t, `SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action IN ('inbox.create', 'inbox.update', 'invitation.create', 'team.create', 'label.create', 'article.create', 'article.update')`, q.userID)
	if got != 9 {
		t.Errorf("%d settings audit rows, want 9", got)
	}
}
