package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// another starts one more customer's conversation in the queue's inbox.
func (q queue) another(t *testing.T, name, content string) int64 {
	t.Helper()
	res, err := q.c.cfg.Desk.IncomingMessage(context.Background(), q.acct, q.inbox, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: dbtest.Unique("c") + "@example.com", Name: name}, Content: content, SourceID: dbtest.Unique("s")})
	if err != nil {
		t.Fatal(err)
	}
	return res.ConversationID
}

// status reads a conversation's status as the database has it.
func (q queue) status(t *testing.T, conv int64) string {
	t.Helper()
	v, err := q.c.cfg.Desk.ConversationFor(context.Background(), q.acct, desk.Scope{}, conv, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	return v.Conversation.Status
}

// audits counts the conversation.update rows of a conversation with the
// queue's admin as actor.
func (q queue) audits(t *testing.T, conv int64) int {
	t.Helper()
	return q.count(t, `SELECT count(*) FROM audit_log WHERE action = 'conversation.update' AND actor_kind = 'user' AND actor_id = $1
		AND target->>'conversation_id' = $2`, q.userID, fmt.Sprint(conv))
}

// TestTriageListPage: the list shows each conversation's contact, last
// message with who wrote it, how long the customer has waited, assignee,
// inbox and status; the views carry counts (open by default: a resolved
// conversation is not listed until asked for); the elements the live
// script swaps keep their ids; a bad view or sort is an error on the page.
func TestTriageListPage(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	ctx := context.Background()
	answered := q.another(t, "Dan Done", "Where is my refund?")
	if _, err := q.c.cfg.Desk.PersonMessage(ctx, q.acct, desk.Scope{}, answered, "Refund sent today.", false, desk.Author{Kind: "user", UserID: q.userID, Name: "Ann Admin"}); err != nil {
		t.Fatal(err)
	}
	gone := q.another(t, "Rita Resolved", "Thanks, all good")
	resolved := "resolved"
	if _, err := q.c.cfg.Desk.ConversationChange(ctx, q.acct, desk.Scope{}, gone, desk.HumanConversationPatch{ConversationPatch: desk.ConversationPatch{Status: &resolved}},
		desk.Author{Kind: "user", UserID: q.userID}, time.Now()); err != nil {
		t.Fatal(err)
	}

	// An agent assigns Carla's conversation to the admin: the admin's bell
	// counts it on the list page, read in the list's own round trip.
	_, agentID := q.agent(t)
	if _, err := q.c.cfg.Desk.ConversationChange(ctx, q.acct, desk.Scope{}, q.conv, desk.HumanConversationPatch{Assignee: desk.OptionalID{Set: true, ID: q.userID}},
		desk.Author{Kind: "user", UserID: agentID, Name: "Agent Ann"}, time.Now()); err != nil {
		t.Fatal(err)
	}

	p := wantStatus(t, q.admin.get("/conversations"), http.StatusOK)
	if !strings.Contains(p.Body, `aria-label="1 unread"`) {
		t.Error("the list page's bell does not count the admin's unread notification")
	}
	for _, id := range []string{`id="conversation-list"`, `id="views"`} {
		if strings.Count(p.Body, id) != 1 {
			t.Errorf("the list page has %d of %s", strings.Count(p.Body, id), id)
		}
	}
	p.has(t, "Carla Customer", "Customer: My parcel never arrived", "Waiting under a minute", "Unassigned", "Support",
		"Dan Done", "Ann Admin: Refund sent today.", "Mine 1", "Unassigned 1", "All open 2", "Escalated 0", "Support 2")
	p.lacks(t, "Rita Resolved")
	if strings.Count(p.text(), "Waiting ") != 1 {
		t.Errorf("only Carla waits; the page says %q", p.text())
	}
	wantStatus(t, q.admin.get("/conversations?view=all"), http.StatusOK).has(t, "Rita Resolved", "Carla Customer")
	wantStatus(t, q.admin.get("/conversations?status=resolved"), http.StatusOK).has(t, "Rita Resolved")
	wantStatus(t, q.admin.get("/conversations?view=unassigned"), http.StatusOK).lacks(t, "Carla Customer")
	wantStatus(t, q.admin.get("/conversations?view=escalated"), http.StatusOK).has(t, "No conversations in this view")
	// Longest waiting first: Carla waits, Dan does not.
	sorted := wantStatus(t, q.admin.get("/conversations?sort=waiting"), http.StatusOK).Body
	if strings.Index(sorted, "Carla Customer") > strings.Index(sorted, "Dan Done") {
		t.Error("sort=waiting does not put the waiting customer first")
	}

	bad := wantStatus(t, q.admin.get("/conversations?view=everything"), http.StatusBadRequest)
	bad.has(t, "View must be one of mine, unassigned, open, escalated")
	bad = wantStatus(t, q.admin.get("/conversations?sort=newest"), http.StatusBadRequest)
	if bad.fieldError("sort") == "" {
		t.Errorf("a bad sort has no error beside the Sort field:\n%s", bad.text())
	}

	// The thread: #thread holds the messages and the status, the composer
	// stays outside it.
	th := wantStatus(t, q.admin.get(fmt.Sprintf("/conversations/%d", q.conv)), http.StatusOK).Body
	start := strings.Index(th, `<div id="thread"`)
	composer := strings.Index(th, `id="composer"`)
	if start < 0 || composer < 0 || strings.Count(th, `id="thread"`) != 1 {
		t.Fatalf("thread page lacks #thread or the composer")
	}
	inner := th[start:composer]
	if !strings.Contains(inner, "My parcel never arrived") || strings.Contains(inner, "<textarea") {
		t.Error("#thread must hold the messages and not the composer")
	}
	if depth := strings.Count(inner, "<div") - strings.Count(inner, "</div>"); depth != 0 {
		t.Errorf("the composer sits inside #thread (%d divs open before it)", depth)
	}
}

// TestBulkActions: ticked conversations are resolved, assigned, labelled
// or snoozed at once, each with its own audit row as a single change
// would have; a bad request (nothing ticked, no such action, a past
// snooze, another workspace's conversation) changes nothing it should not.
func TestBulkActions(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	second := q.another(t, "Bo Buyer", "Wrong size")
	ctx := context.Background()
	if _, err := q.c.cfg.Desk.LabelCreate(ctx, tenancy.For(q.acct), "shipping", "", ""); err != nil {
		t.Fatal(err)
	}
	ids := []string{fmt.Sprint(q.conv), fmt.Sprint(second)}
	back := "/conversations?view=open&sort=waiting"

	// Refused: nothing ticked, no action, a past snooze.
	for _, form := range []url.Values{
		{"action": {"resolve"}, "back": {back}},
		{"ids": ids, "action": {"explode"}, "back": {back}},
		{"ids": ids, "action": {"snooze"}, "preset": {"custom"}, "until": {"2001-01-01T00:00"}, "back": {back}},
		{"ids": ids, "action": {"snooze"}, "preset": {"someday"}, "back": {back}},
		{"ids": ids, "action": {"assign"}, "assignee": {"x"}, "back": {back}},
		{"ids": ids, "action": {"assign"}, "back": {back}},
		{"ids": {"1", "nope"}, "action": {"resolve"}, "back": {back}},
	} {
		wantRedirect(t, q.admin.post("/conversations/bulk", form), back)
		q.admin.get(back).has(t, "Nothing changed:")
	}
	if q.status(t, q.conv) != "open" || q.status(t, second) != "open" || q.audits(t, q.conv) != 0 {
		t.Fatal("a refused bulk action changed a conversation")
	}
	// A cross-site post is refused outright.
	if p := q.admin.post("/conversations/bulk", url.Values{"ids": ids, "action": {"resolve"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); p.Status != http.StatusForbidden {
		t.Fatalf("cross-site bulk post: %d", p.Status)
	}

	// Assigned, unassigned ("none"), assigned again.
	for _, who := range []string{fmt.Sprint(q.userID), "none", fmt.Sprint(q.userID)} {
		wantRedirect(t, q.admin.post("/conversations/bulk", url.Values{"ids": ids, "action": {"assign"}, "assignee": {who}, "back": {back}}), back)
	}
	wantRedirect(t, q.admin.post("/conversations/bulk", url.Values{"ids": ids, "action": {"label"}, "label": {"shipping"}, "back": {back}}), back)
	wantRedirect(t, q.admin.post("/conversations/bulk", url.Values{"ids": {fmt.Sprint(second)}, "action": {"snooze"}, "preset": {"tomorrow_morning"}, "back": {back}}), back)
	q.admin.get(back).has(t, "Snoozed 1 conversation.")
	// Another workspace's conversation is reported, not changed; ours is.
	o := newQueue(t)
	wantRedirect(t, q.admin.post("/conversations/bulk", url.Values{"ids": {fmt.Sprint(q.conv), fmt.Sprint(o.conv)}, "action": {"resolve"}, "back": {"https://evil.example/"}}), "/conversations")
	q.admin.get("/conversations").has(t, "Resolved 1 conversation.", fmt.Sprintf("Not changed: #%d (conversation %d not found)", o.conv, o.conv))
	if o.status(t, o.conv) != "open" {
		t.Fatal("the other workspace's conversation was resolved")
	}

	v, err := q.c.cfg.Desk.ConversationFor(ctx, q.acct, desk.Scope{}, second, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Conversation; c.Status != "snoozed" || c.Assignee == nil || c.Assignee.ID != q.userID || len(c.Labels) != 1 {
		t.Errorf("after bulk assign, label, snooze: %+v", c)
	}
	if q.status(t, q.conv) != "resolved" {
		t.Error("bulk resolve did not resolve")
	}
	// Audited like single actions: one row per conversation and action.
	if n := q.audits(t, q.conv); n != 5 {
		t.Errorf("%d audit rows for the first conversation, want 5 (assign, unassign, assign, label, resolve)", n)
	}
	if n := q.audits(t, second); n != 5 {
		t.Errorf("%d audit rows for the second, want 5 (assign, unassign, assign, label, snooze)", n)
	}
}

// TestOneClickActions: "Assign to me", "Resolve" and "Send and resolve"
// are one POST each, the same change (and audit row) as the controls.
func TestOneClickActions(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	path := fmt.Sprintf("/conversations/%d", q.conv)
	th := wantStatus(t, q.admin.get(path), http.StatusOK)
	th.has(t, "Assign to me", "Resolve", "Send and resolve")

	wantRedirect(t, q.admin.post(path+"/assign-me", nil), path)
	th = q.admin.get(path)
	th.has(t, "Assigned to you.")
	th.lacks(t, `action="`+path+`/assign-me"`)

	// Send and resolve: the reply goes out and the conversation is resolved.
	if p := q.admin.post(path+"/messages", url.Values{"kind": {"reply_resolve"}, "content": {"Found it, on its way."}}); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), path+"#m") {
		t.Fatalf("Send and resolve: %d to %q", p.Status, p.Header.Get("Location"))
	}
	q.admin.get(path).has(t, "Reply sent and conversation resolved.", "Found it, on its way.")
	if q.status(t, q.conv) != "resolved" {
		t.Fatal("Send and resolve left the conversation open")
	}
	if n := q.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND type = 'outgoing'`, q.conv); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	// Empty text: nothing sent, nothing resolved.
	second := q.another(t, "Bo Buyer", "Wrong size")
	p2 := fmt.Sprintf("/conversations/%d", second)
	wantStatus(t, q.admin.post(p2+"/messages", url.Values{"kind": {"reply_resolve"}, "content": {" "}}), http.StatusBadRequest)
	if q.status(t, second) != "open" {
		t.Fatal("an empty Send and resolve resolved the conversation")
	}
	wantRedirect(t, q.admin.post(p2+"/resolve", nil), p2)
	if q.status(t, second) != "resolved" || q.audits(t, second) != 1 {
		t.Error("Resolve did not resolve with one audit row")
	}
	// Someone else's: 404, nothing changed.
	o := newQueue(t)
	wantStatus(t, q.admin.post(fmt.Sprintf("/conversations/%d/resolve", o.conv), nil), http.StatusNotFound)
	wantStatus(t, q.admin.post(fmt.Sprintf("/conversations/%d/assign-me", o.conv), nil), http.StatusNotFound)
	if o.status(t, o.conv) != "open" {
		t.Fatal("another workspace's conversation changed")
	}
}

// TestCannedResponsesPage: Settings → Canned responses; admins save new
// and edited responses (a short code in use is an error beside the field,
// nothing written), agents read them and may not write; the composer's
// script reads them as JSON.
func TestCannedResponsesPage(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	p := wantStatus(t, q.admin.get("/settings/canned-responses"), http.StatusOK)
	p.has(t, "Canned responses", "No canned responses yet", "Short code", "Content", "Save")

	wantRedirect(t, q.admin.post("/settings/canned-responses", url.Values{"short_code": {"refund"}, "content": {"Your refund is on its way."}}), "/settings/canned-responses")
	q.admin.get("/settings/canned-responses").has(t, "Canned response /refund saved.")
	bad := wantStatus(t, q.admin.post("/settings/canned-responses", url.Values{"short_code": {"REFUND"}, "content": {"again"}}), http.StatusBadRequest)
	if e := bad.fieldError("short_code"); !strings.Contains(e, "already exists") {
		t.Errorf("a taken short code says %q beside the field", e)
	}
	for _, form := range []url.Values{
		{"short_code": {strings.Repeat("x", 10*1024)}, "content": {"x"}},
		{"short_code": {"two words"}, "content": {"x"}},
		{"short_code": {"ok"}, "content": {""}},
	} {
		wantStatus(t, q.admin.post("/settings/canned-responses", form), http.StatusBadRequest)
	}
	list, err := q.c.cfg.Desk.CannedList(context.Background(), tenancy.For(q.acct))
	if err != nil || len(list) != 1 {
		t.Fatalf("after refused saves: %v %v", list, err)
	}
	id := list[0].ID
	wantRedirect(t, q.admin.post(fmt.Sprintf("/settings/canned-responses/%d", id), url.Values{"short_code": {"refund"}, "content": {"Refunded."}}), "/settings/canned-responses")

	ag, _ := q.agent(t)
	ap := wantStatus(t, ag.get("/settings/canned-responses"), http.StatusOK)
	ap.has(t, "/refund", "Refunded.")
	ap.lacks(t, `action="/settings/canned-responses"`)
	wantStatus(t, ag.post("/settings/canned-responses", url.Values{"short_code": {"mine"}, "content": {"x"}}), http.StatusForbidden)
	wantStatus(t, ag.post(fmt.Sprintf("/settings/canned-responses/%d/delete", id), nil), http.StatusForbidden)
	js := wantStatus(t, ag.get("/canned-responses.json"), http.StatusOK)
	if !regexp.MustCompile(`"short_code":"refund","content":"Refunded."`).MatchString(js.Body) {
		t.Errorf("JSON: %s", js.Body)
	}

	wantRedirect(t, q.admin.post(fmt.Sprintf("/settings/canned-responses/%d/delete", id), nil), "/settings/canned-responses")
	q.admin.get("/settings/canned-responses").has(t, "No canned responses yet")
	if n := q.count(t, `SELECT count(*) FROM audit_log WHERE action LIKE 'canned_response.%' AND actor_id = $1`, q.userID); n != 3 {
		t.Errorf("%d canned response audit rows, want 3", n)
	}
}

// TestOneLineIsFieldsJoined: a preview on one line is the words of the
// message joined by one space, whatever white space (tabs, new lines,
// Unicode spaces) stood between them or around them.
func TestOneLineIsFieldsJoined(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", " ", "a", "a b", " a b", "a b ", "a  b", "a\tb", "a\nb", "a\r\n\r\nb", "a\u00a0b", "a\u2003b", "a \u0085b",
		"héllo wörld", "\xff \xfe", "Hello, my order has not arrived yet; can you check where it is?", "  lots   of\tspace \n"} {
		if got, want := oneLine(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", s, got, want)
		}
	}
}
