package api_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// count runs a counting query inside the tenant, as the app role (RLS on).
func count(t *testing.T, acct int64, sql string, args ...any) int {
	t.Helper()
	var n int
	err := dbtest.App(t).InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// audited lists the actions audited with the user as actor.
func audited(t *testing.T, token string, userID int64) map[string]int {
	t.Helper()
	got := map[string]int{}
	b := want(t, call(t, "GET", fmt.Sprintf("/api/v1/audit?actor=%d&limit=100", userID), token, nil), 200)
	for _, row := range list(t, b, "audit") {
		if row["actor_kind"] == "user" && id(t, row["actor_id"]) == userID {
			got[str(t, row["action"])]++
		}
	}
	return got
}

func getConversation(t *testing.T, token string, conv int64) obj {
	t.Helper()
	return want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), token, nil), 200)["conversation"].(obj)
}

func TestConversationPatch(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	path := fmt.Sprintf("/api/v1/conversations/%d", conv)
	want(t, call(t, "POST", "/api/v1/labels", a.Token, obj{"name": "billing"}), 201)
	want(t, call(t, "POST", "/api/v1/labels", a.Token, obj{"name": "vip"}), 201)
	team := id(t, want(t, call(t, "POST", "/api/v1/teams", a.Token, obj{"name": "Tier 2"}), 201)["id"])
	agentID, agent := createAgent(t, a.Token)

	c := want(t, call(t, "PATCH", path, a.Token, obj{"status": "pending", "priority": "high", "assignee_id": agentID,
		"team_id": team, "add_labels": []string{"billing", "vip"}}), 200)["conversation"].(obj)
	if c["status"] != "pending" || c["priority"] != "high" || id(t, c["assignee"].(obj)["id"]) != agentID ||
		id(t, c["team"].(obj)["id"]) != team || fmt.Sprint(c["labels"]) != "[billing vip]" {
		t.Fatalf("after patch: %v", c)
	}
	// null clears the assignee; labels come off; the team stays.
	c = want(t, call(t, "PATCH", path, a.Token, obj{"assignee_id": nil, "remove_labels": []string{"vip"}}), 200)["conversation"].(obj)
	if c["assignee"] != nil || c["team"] == nil || fmt.Sprint(c["labels"]) != "[billing]" {
		t.Fatalf("after clearing: %v", c)
	}
	until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	c = want(t, call(t, "PATCH", path, a.Token, obj{"status": "snoozed", "snoozed_until": until}), 200)["conversation"].(obj)
	if c["status"] != "snoozed" || c["snoozed_until"] == nil {
		t.Fatalf("after snoozing: %v", c)
	}
	c = want(t, call(t, "PATCH", path, a.Token, obj{"status": "open"}), 200)["conversation"].(obj)
	if c["status"] != "open" || c["snoozed_until"] != nil {
		t.Fatalf("after reopening: %v", c)
	}
	if n := count(t, a.AccountID, `SELECT count(*) FROM events WHERE type = 'conversation.updated' AND conversation_id = $1`, conv); n != 4 {
		t.Errorf("%d conversation.updated events, want 4", n)
	}

	// Bad input: 400 and nothing changed, also the valid parts of the request.
	o := signup(t)
	for _, body := range []any{
		obj{},
		obj{"status": "bogus", "priority": "low"},
		obj{"priority": "severe"},
		obj{"status": "snoozed", "priority": "low"},
		obj{"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00Z", "priority": "low"},
		obj{"snoozed_until": "tomorrow", "priority": "low"},
		obj{"add_labels": []string{"nope"}, "priority": "low"},
		obj{"assignee_id": 0, "priority": "low"},
		obj{"assignee_id": "7", "priority": "low"},
		obj{"team_id": -3, "priority": "low"},
		obj{"priority": "low", "subject": "x"},
		`{"priority": "low"`,
	} {
		wantErr(t, call(t, "PATCH", path, a.Token, body), 400, "bad_request")
	}
	// Another tenant's user or team, or one that does not exist: not found, nothing changed.
	oTeam := id(t, want(t, call(t, "POST", "/api/v1/teams", o.Token, obj{"name": "Theirs"}), 201)["id"])
	for _, body := range []obj{
		{"assignee_id": o.UserID, "priority": "low"},
		{"team_id": oTeam, "priority": "low"},
		{"assignee_id": 999999999999, "priority": "low"},
	} {
		wantErr(t, call(t, "PATCH", path, a.Token, body), 404, "not_found")
	}
	if c := getConversation(t, a.Token, conv); c["priority"] != "high" || c["assignee"] != nil || c["team"] == nil {
		t.Errorf("a refused patch changed the conversation: %v", c)
	}

	// Not found, and another tenant's conversation looks the same.
	wantErr(t, call(t, "PATCH", "/api/v1/conversations/999999999999", a.Token, obj{"priority": "low"}), 404, "not_found")
	oConv, _, _ := newConversation(t, o.Token, createInbox(t, o.Token))
	wantErr(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", oConv), a.Token, obj{"priority": "low"}), 404, "not_found")
	if c := getConversation(t, o.Token, oConv); c["priority"] != "none" {
		t.Errorf("the other tenant's conversation changed: %v", c)
	}

	// An agent changes conversations of its inboxes only.
	wantErr(t, call(t, "PATCH", path, agent, obj{"priority": "low"}), 404, "not_found")
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)
	c = want(t, call(t, "PATCH", path, agent, obj{"priority": "low", "assignee_id": agentID}), 200)["conversation"].(obj)
	if c["priority"] != "low" || id(t, c["assignee"].(obj)["id"]) != agentID {
		t.Errorf("agent's patch: %v", c)
	}

	// The list filters by text too (q), within the agent's inboxes.
	if got := conversationIDs(t, agent, "?q=late"); len(got) != 1 || got[0] != conv {
		t.Errorf("agent's search for late: %v", got)
	}
	if got := conversationIDs(t, a.Token, "?q=nowhere-to-be-found"); len(got) != 0 {
		t.Errorf("search for nothing: %v", got)
	}
	// A search answers with highlights: plain text and the matching words'
	// character offsets in it ("lat" is the start of a word being typed).
	hits := list(t, want(t, call(t, "GET", "/api/v1/conversations?q=lat", agent, nil), 200), "conversations")
	if len(hits) != 1 {
		t.Fatalf("search lat: %v", hits)
	}
	hs, _ := hits[0]["highlights"].([]any)
	if len(hs) == 0 {
		t.Fatalf("search lat has no highlights: %v", hits[0])
	}
	h := hs[0].(obj)
	m := h["matches"].([]any)[0].([]any)
	if r := []rune(h["text"].(string)); !strings.HasPrefix(strings.ToLower(string(r[int(m[0].(float64)):int(m[1].(float64))])), "lat") {
		t.Errorf("highlight %v does not mark the match", h)
	}
	// Search text that is no query is a 400 that says why, never a 500.
	for _, q := range []string{"-late", "%00", "%22%22", url.QueryEscape(strings.Repeat("word ", 40))} {
		wantErr(t, call(t, "GET", "/api/v1/conversations?q="+q, agent, nil), 400, "bad_request")
	}

	if got := audited(t, a.Token, a.UserID); got["conversation.update"] != 4 {
		t.Errorf("admin's conversation.update audit rows: %v, want 4", got)
	}
	if got := audited(t, a.Token, agentID); got["conversation.update"] != 1 {
		t.Errorf("agent's conversation.update audit rows: %v, want 1", got)
	}
}

func TestConversationDelete(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, contact := newConversation(t, a.Token, ib)
	keep, _, _ := newConversation(t, a.Token, ib)
	path := fmt.Sprintf("/api/v1/conversations/%d", conv)
	want(t, call(t, "POST", path+"/messages", a.Token, obj{"content": "We are on it"}), 201)
	want(t, call(t, "POST", path+"/messages", a.Token, obj{"content": "internal", "private": true}), 201)
	// A pending draft on it (as an agent's draft_reply leaves one).
	err := dbtest.App(t).InTenant(context.Background(), a.AccountID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO drafts (account_id, kind, conversation_id, inbox_id, content, token_id)
			VALUES ($1, 'reply', $2, $3, 'draft text', 1)`, a.AccountID, conv, ib)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Agents may not delete, not even in their inboxes.
	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)
	wantErr(t, call(t, "DELETE", path, agent, nil), 403, "forbidden")
	// Another tenant's admin: not found.
	o := signup(t)
	wantErr(t, call(t, "DELETE", path, o.Token, nil), 404, "not_found")
	getConversation(t, a.Token, conv)

	if r := call(t, "DELETE", path, a.Token, nil); r.Status != 204 || len(r.Raw) != 0 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	wantErr(t, call(t, "GET", path, a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "DELETE", path, a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "DELETE", "/api/v1/conversations/999999999999", a.Token, nil), 404, "not_found")
	for table, n := range map[string]int{
		"messages":      count(t, a.AccountID, `SELECT count(*) FROM messages WHERE conversation_id = $1`, conv),
		"drafts":        count(t, a.AccountID, `SELECT count(*) FROM drafts WHERE conversation_id = $1`, conv),
		"conversations": count(t, a.AccountID, `SELECT count(*) FROM conversations WHERE id = $1`, conv),
	} {
		if n != 0 {
			t.Errorf("%d %s rows of the deleted conversation remain", n, table)
		}
	}
	// The rest stays: the contact and the other conversation.
	getConversation(t, a.Token, keep)
	want(t, call(t, "GET", fmt.Sprintf("/api/v1/contacts/%d", contact), a.Token, nil), 200)
	if n := count(t, a.AccountID, `SELECT count(*) FROM events WHERE type = 'conversation.deleted' AND conversation_id = $1 AND inbox_id = $2`, conv, ib); n != 1 {
		t.Errorf("%d conversation.deleted events, want 1", n)
	}
	if got := audited(t, a.Token, a.UserID); got["conversation.delete"] != 1 {
		t.Errorf("conversation.delete audit rows: %v", got)
	}
	if got := audited(t, a.Token, agentID); got["conversation.delete"] != 0 {
		t.Errorf("the refused delete was audited as done: %v", got)
	}
}

func TestContacts(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	ib2 := createInbox(t, a.Token)
	var contacts []int64
	var emails []string
	for i := 0; i < 3; i++ {
		email := uniqueEmail()
		b := want(t, incoming(t, a.Token, ib, email, "hello", dbtest.Unique("src")), 201)
		contacts, emails = append(contacts, id(t, b["contact_id"])), append(emails, email)
	}
	other := want(t, incoming(t, a.Token, ib2, uniqueEmail(), "elsewhere", dbtest.Unique("src")), 201)
	otherContact := id(t, other["contact_id"])

	// List, newest first, paged.
	b := want(t, call(t, "GET", "/api/v1/contacts?limit=3", a.Token, nil), 200)
	page := list(t, b, "contacts")
	if len(page) != 3 || id(t, page[0]["id"]) != otherContact || b["next_cursor"] == nil {
		t.Fatalf("first page %s", b)
	}
	b = want(t, call(t, "GET", "/api/v1/contacts?limit=3&cursor="+url.QueryEscape(str(t, b["next_cursor"])), a.Token, nil), 200)
	if page := list(t, b, "contacts"); len(page) != 1 || id(t, page[0]["id"]) != contacts[0] || b["next_cursor"] != nil {
		t.Fatalf("second page %v", b)
	}
	// Search.
	b = want(t, call(t, "GET", "/api/v1/contacts?q="+url.QueryEscape(emails[1]), a.Token, nil), 200)
	if page := list(t, b, "contacts"); len(page) != 1 || id(t, page[0]["id"]) != contacts[1] {
		t.Fatalf("search %v", b)
	}
	for _, q := range []string{"?limit=101", "?limit=-1", "?cursor=nonsense", "?q=" + strings.Repeat("x", 501)} {
		wantErr(t, call(t, "GET", "/api/v1/contacts"+q, a.Token, nil), 400, "bad_request")
	}

	// Profile, edit, note.
	cpath := fmt.Sprintf("/api/v1/contacts/%d", contacts[0])
	c := want(t, call(t, "PATCH", cpath, a.Token, obj{"name": "Ada Lovelace", "phone": "+44 20 7946 0000",
		"custom_attributes": obj{"plan": "gold", "seats": 5}}), 200)["contact"].(obj)
	if c["name"] != "Ada Lovelace" || c["phone"] != "+44 20 7946 0000" || c["custom_attributes"].(obj)["plan"] != "gold" {
		t.Fatalf("after edit %v", c)
	}
	c = want(t, call(t, "PATCH", cpath, a.Token, obj{"custom_attributes": obj{"seats": nil}, "phone": ""}), 200)["contact"].(obj)
	if _, ok := c["custom_attributes"].(obj)["seats"]; ok || c["phone"] != nil || c["custom_attributes"].(obj)["plan"] != "gold" {
		t.Fatalf("after removing %v", c)
	}
	n := want(t, call(t, "POST", cpath+"/notes", a.Token, obj{"content": "Prefers email"}), 201)["note"].(obj)
	v := want(t, call(t, "GET", cpath, a.Token, nil), 200)
	if notes := list(t, v, "notes"); len(notes) != 1 || id(t, notes[0]["id"]) != id(t, n["id"]) || notes[0]["content"] != "Prefers email" {
		t.Errorf("profile notes %v", v["notes"])
	}
	if convs := list(t, v, "conversations"); len(convs) != 1 {
		t.Errorf("profile conversations %v", v["conversations"])
	}
	if v["contact"].(obj)["name"] != "Ada Lovelace" {
		t.Errorf("profile %v", v["contact"])
	}

	// Bad edits and notes: 400, nothing changed.
	for _, body := range []any{
		obj{},
		obj{"name": "Changed", "email": "not-an-email"},
		obj{"name": "Changed", "identifier": "x"},
		obj{"name": "   "},
		obj{"name": strings.Repeat("n", 201)},
		`{"name": 5}`,
	} {
		wantErr(t, call(t, "PATCH", cpath, a.Token, body), 400, "bad_request")
	}
	// A taken email is a conflict that says which email collided.
	if msg := wantErr(t, call(t, "PATCH", cpath, a.Token, obj{"name": "Changed", "email": emails[1]}), 409, "conflict"); !strings.Contains(msg, emails[1]) {
		t.Errorf("conflict says %q", msg)
	}
	wantErr(t, call(t, "POST", cpath+"/notes", a.Token, obj{"content": " "}), 400, "bad_request")
	wantErr(t, call(t, "POST", cpath+"/notes", a.Token, obj{"content": strings.Repeat("n", 10001)}), 400, "bad_request")
	v = want(t, call(t, "GET", cpath, a.Token, nil), 200)
	if v["contact"].(obj)["name"] != "Ada Lovelace" || len(list(t, v, "notes")) != 1 {
		t.Errorf("refused edits changed the contact: %v", v)
	}

	// Not found, and another tenant's contact looks the same.
	o := signup(t)
	for _, r := range []resp{
		call(t, "GET", "/api/v1/contacts/999999999999", a.Token, nil),
		call(t, "GET", cpath, o.Token, nil),
		call(t, "PATCH", cpath, o.Token, obj{"name": "Mallory"}),
		call(t, "POST", cpath+"/notes", o.Token, obj{"content": "mine now"}),
		call(t, "DELETE", cpath, o.Token, nil),
	} {
		wantErr(t, r, 404, "not_found")
	}
	if page := list(t, want(t, call(t, "GET", "/api/v1/contacts", o.Token, nil), 200), "contacts"); len(page) != 0 {
		t.Errorf("another tenant lists %v", page)
	}
	v = want(t, call(t, "GET", cpath, a.Token, nil), 200)
	if v["contact"].(obj)["name"] != "Ada Lovelace" || len(list(t, v, "notes")) != 1 {
		t.Errorf("another tenant changed the contact: %v", v)
	}

	// Agents: only contacts of their inboxes; no deleting.
	agentID, agent := createAgent(t, a.Token)
	if page := list(t, want(t, call(t, "GET", "/api/v1/contacts", agent, nil), 200), "contacts"); len(page) != 0 {
		t.Errorf("agent without inboxes lists %v", page)
	}
	wantErr(t, call(t, "GET", cpath, agent, nil), 404, "not_found")
	wantErr(t, call(t, "PATCH", cpath, agent, obj{"name": "Agent was here"}), 404, "not_found")
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib2), a.Token, obj{"user_id": agentID}), 200)
	if page := list(t, want(t, call(t, "GET", "/api/v1/contacts", agent, nil), 200), "contacts"); len(page) != 1 || id(t, page[0]["id"]) != otherContact {
		t.Errorf("agent of inbox 2 lists %v", page)
	}
	wantErr(t, call(t, "GET", cpath, agent, nil), 404, "not_found")
	opath := fmt.Sprintf("/api/v1/contacts/%d", otherContact)
	want(t, call(t, "PATCH", opath, agent, obj{"name": "Grace"}), 200)
	want(t, call(t, "POST", opath+"/notes", agent, obj{"content": "called back"}), 201)
	wantErr(t, call(t, "DELETE", opath, agent, nil), 403, "forbidden")
	want(t, call(t, "GET", opath, a.Token, nil), 200)

	got := audited(t, a.Token, a.UserID)
	if got["contact.update"] != 2 || got["contact.note"] != 1 {
		t.Errorf("admin's contact audit rows %v", got)
	}
	if got := audited(t, a.Token, agentID); got["contact.update"] != 1 || got["contact.note"] != 1 || got["contact.delete"] != 0 {
		t.Errorf("agent's contact audit rows %v", got)
	}
}

func TestContactDelete(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	ib2 := createInbox(t, a.Token)
	email := uniqueEmail()
	b := want(t, incoming(t, a.Token, ib, email, "first", dbtest.Unique("src")), 201)
	contact, conv1 := id(t, b["contact_id"]), id(t, b["conversation_id"])
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv1), a.Token, obj{"status": "resolved"}), 200)
	conv2 := id(t, want(t, incoming(t, a.Token, ib, email, "second", dbtest.Unique("src")), 201)["conversation_id"])
	if conv2 == conv1 {
		t.Fatal("a resolved conversation was continued")
	}
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/contacts/%d/notes", contact), a.Token, obj{"content": "VIP"}), 201)
	keepConv, _, keepContact := newConversation(t, a.Token, ib2)
	// An outbound draft addressed to the contact.
	err := dbtest.App(t).InTenant(context.Background(), a.AccountID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO drafts (account_id, kind, inbox_id, contact_id, content, token_id)
			VALUES ($1, 'start', $2, $3, 'hello there', 1)`, a.AccountID, ib, contact)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cpath := fmt.Sprintf("/api/v1/contacts/%d", contact)

	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)
	wantErr(t, call(t, "DELETE", cpath, agent, nil), 403, "forbidden")

	if r := call(t, "DELETE", cpath, a.Token, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	wantErr(t, call(t, "GET", cpath, a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "DELETE", cpath, a.Token, nil), 404, "not_found")
	for _, conv := range []int64{conv1, conv2} {
		wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 404, "not_found")
	}
	for q, n := range map[string]int{
		"contacts":        count(t, a.AccountID, `SELECT count(*) FROM contacts WHERE id = $1`, contact),
		"contact_notes":   count(t, a.AccountID, `SELECT count(*) FROM contact_notes WHERE contact_id = $1`, contact),
		"contact_inboxes": count(t, a.AccountID, `SELECT count(*) FROM contact_inboxes WHERE contact_id = $1`, contact),
		"conversations":   count(t, a.AccountID, `SELECT count(*) FROM conversations WHERE contact_id = $1`, contact),
		"messages":        count(t, a.AccountID, `SELECT count(*) FROM messages WHERE conversation_id = ANY($1)`, []int64{conv1, conv2}),
		"drafts":          count(t, a.AccountID, `SELECT count(*) FROM drafts WHERE contact_id = $1`, contact),
	} {
		if n != 0 {
			t.Errorf("%d %s rows of the deleted contact remain", n, q)
		}
	}
	getConversation(t, a.Token, keepConv)
	want(t, call(t, "GET", fmt.Sprintf("/api/v1/contacts/%d", keepContact), a.Token, nil), 200)
	if n := count(t, a.AccountID, `SELECT count(*) FROM events WHERE type = 'conversation.deleted' AND contact_id = $1`, contact); n != 2 {
		t.Errorf("%d conversation.deleted events, want 2", n)
	}
	if n := count(t, a.AccountID, `SELECT count(*) FROM events WHERE type = 'contact.deleted' AND contact_id = $1`, contact); n != 1 {
		t.Errorf("%d contact.deleted events, want 1", n)
	}
	if got := audited(t, a.Token, a.UserID); got["contact.delete"] != 1 {
		t.Errorf("contact.delete audit rows %v", got)
	}
	// The same email writing again is a new contact.
	b = want(t, incoming(t, a.Token, ib, email, "back again", dbtest.Unique("src")), 201)
	if id(t, b["contact_id"]) == contact {
		t.Error("the deleted contact came back")
	}
}

// TestHumanRoutesRefuseMCPTokens: an agent's MCP token never reaches what
// only people may do, whatever its scopes.
func TestHumanRoutesRefuseMCPTokens(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, contact := newConversation(t, a.Token, ib)
	want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	raw := str(t, want(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "bot", "preset": "full_agent"}), 201)["token"])
	cpath, vpath := fmt.Sprintf("/api/v1/contacts/%d", contact), fmt.Sprintf("/api/v1/conversations/%d", conv)
	for _, r := range [][3]any{
		{"PATCH", vpath, obj{"priority": "urgent"}},
		{"DELETE", vpath, nil},
		{"GET", "/api/v1/contacts", nil},
		{"GET", cpath, nil},
		{"PATCH", cpath, obj{"name": "Bot"}},
		{"POST", cpath + "/notes", obj{"content": "bot note"}},
		{"DELETE", cpath, nil},
	} {
		wantErr(t, call(t, r[0].(string), r[1].(string), raw, r[2]), 401, "unauthorized")
	}
	if c := getConversation(t, a.Token, conv); c["priority"] != "none" {
		t.Errorf("the MCP token changed the conversation: %v", c)
	}
	want(t, call(t, "GET", cpath, a.Token, nil), 200)
}

// TestSearchLanguageSetting: an admin chooses the workspace's search
// language; word forms follow it ("simple" matches words as written), and
// the change re-indexes what is already there.
func TestSearchLanguageSetting(t *testing.T) {
	t.Parallel()
	a := signup(t)
	_, agent := createAgent(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, createInbox(t, a.Token))
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), a.Token, obj{"content": "Your parcels were refunded."}), 201)
	if g := want(t, call(t, "GET", "/api/v1/settings/search", a.Token, nil), 200); g["language"] != "english" || len(g["languages"].([]any)) < 10 {
		t.Fatalf("search settings: %v", g)
	}
	if got := conversationIDs(t, a.Token, "?q=refund"); !slices.Equal(got, []int64{conv}) {
		t.Fatalf("english: refund found %v", got)
	}
	want(t, call(t, "PUT", "/api/v1/settings/search", a.Token, obj{"language": "simple"}), 200)
	if got := conversationIDs(t, a.Token, "?q=refund%20parcel"); len(got) != 0 {
		t.Errorf("simple: refund parcel found %v; forms should no longer match", got)
	}
	if got := conversationIDs(t, a.Token, "?q=refunded"); !slices.Equal(got, []int64{conv}) {
		t.Errorf("simple: refunded found %v", got)
	}
	want(t, call(t, "PUT", "/api/v1/settings/search", a.Token, obj{"language": "english"}), 200)
	if got := conversationIDs(t, a.Token, "?q=refund%20parcel"); !slices.Equal(got, []int64{conv}) {
		t.Errorf("english again: refund parcel found %v", got)
	}
	wantErr(t, call(t, "PUT", "/api/v1/settings/search", a.Token, obj{"language": "klingon"}), 400, "bad_request")
	wantErr(t, call(t, "PUT", "/api/v1/settings/search", agent, obj{"language": "simple"}), 403, "forbidden")
	if got := audited(t, a.Token, a.UserID); got["settings.search"] != 2 {
		t.Errorf("settings.search audit rows: %v, want 2", got)
	}
}

// TestContactShowsOnlyInboxesInScope: an agent sees, of a contact who wrote
// to an inbox of theirs and to another, only their own inbox among its
// inbox_ids, in the list, the profile and an edit's answer; an admin sees
// both (issue 18, item 11).
func TestContactShowsOnlyInboxesInScope(t *testing.T) {
	t.Parallel()
	a := signup(t)
	mine, other := createInbox(t, a.Token), createInbox(t, a.Token)
	email := uniqueEmail()
	contact := id(t, want(t, incoming(t, a.Token, mine, email, "hello", dbtest.Unique("src")), 201)["contact_id"])
	want(t, incoming(t, a.Token, other, email, "hello again", dbtest.Unique("src")), 201)
	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", mine), a.Token, obj{"user_id": agentID}), 200)
	inboxes := func(c obj) []int64 {
		t.Helper()
		var out []int64
		for _, v := range c["inbox_ids"].([]any) {
			out = append(out, id(t, v))
		}
		return out
	}
	path := fmt.Sprintf("/api/v1/contacts/%d", contact)
	if got := inboxes(want(t, call(t, "GET", path, a.Token, nil), 200)["contact"].(obj)); len(got) != 2 {
		t.Fatalf("admin sees inbox_ids %v, want both inboxes", got)
	}
	page := list(t, want(t, call(t, "GET", "/api/v1/contacts", agent, nil), 200), "contacts")
	if len(page) != 1 || id(t, page[0]["id"]) != contact {
		t.Fatalf("agent lists %v", page)
	}
	for what, c := range map[string]obj{
		"list":    page[0],
		"profile": want(t, call(t, "GET", path, agent, nil), 200)["contact"].(obj),
		"edit":    want(t, call(t, "PATCH", path, agent, obj{"name": "Grace"}), 200)["contact"].(obj),
	} {
		if got := inboxes(c); len(got) != 1 || got[0] != mine {
			t.Errorf("agent's %s shows inbox_ids %v, want only [%d]", what, got, mine)
		}
	}
}
