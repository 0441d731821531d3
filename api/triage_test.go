package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// triageRows lists GET /api/v1/conversations with query q, by id.
func triageRows(t *testing.T, token, q string) ([]int64, map[int64]obj) {
	t.Helper()
	b := want(t, call(t, "GET", "/api/v1/conversations"+q, token, nil), 200)
	var ids []int64
	rows := map[int64]obj{}
	for _, c := range list(t, b, "conversations") {
		cid := id(t, c["id"])
		ids = append(ids, cid)
		rows[cid] = c
	}
	return ids, rows
}

// TestTriageListFields: each row of the REST list carries its assignee,
// its last message between the customer and the desk (who wrote it, cut
// to a preview; notes are not one), and since when the customer waits
// (null once a reply they see was sent).
func TestTriageListFields(t *testing.T) {
	t.Parallel()
	a := signup(t)
	want(t, call(t, "PATCH", "/api/v1/profile", a.Token, obj{"name": "Ann Admin"}), 200)
	ib := createInbox(t, a.Token)

	waiting, _, _ := newConversation(t, a.Token, ib)
	answered, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", answered), a.Token, obj{"content": "We are on it."}), 201)
	noted, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", noted), a.Token, obj{"content": "internal only", "private": true}), 201)
	long := strings.Repeat("é", 500)
	lengthy := id(t, want(t, incoming(t, a.Token, ib, uniqueEmail(), long, "long-1"), 201)["conversation_id"])
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", answered), a.Token, obj{"assignee_id": a.UserID}), 200)

	_, rows := triageRows(t, a.Token, "")
	for _, c := range rows {
		for _, k := range []string{"assignee", "escalated", "last_message", "waiting_since"} {
			if _, ok := c[k]; !ok {
				t.Fatalf("row lacks %q: %v", k, c)
			}
		}
	}
	w := rows[waiting]
	lm := w["last_message"].(obj)
	if lm["content"] != "my order is late" || lm["sender_kind"] != "contact" || lm["sender_name"] != "Customer" || lm["created_at"] == nil {
		t.Errorf("waiting row's last message: %v", lm)
	}
	since, err := time.Parse(time.RFC3339Nano, str(t, w["waiting_since"]))
	if err != nil || time.Since(since) > time.Minute || w["assignee"] != nil {
		t.Errorf("waiting row: waiting_since %v, assignee %v", w["waiting_since"], w["assignee"])
	}
	ans := rows[answered]
	if lm := ans["last_message"].(obj); lm["content"] != "We are on it." || lm["sender_kind"] != "user" || lm["sender_name"] != "Ann Admin" {
		t.Errorf("answered row's last message: %v", lm)
	}
	if ans["waiting_since"] != nil || ans["assignee"].(obj)["name"] != "Ann Admin" || id(t, ans["assignee"].(obj)["id"]) != a.UserID {
		t.Errorf("answered row: waiting_since %v, assignee %v", ans["waiting_since"], ans["assignee"])
	}
	// A private note is neither the last message nor an answer.
	if n := rows[noted]; n["last_message"].(obj)["content"] != "my order is late" || n["waiting_since"] == nil {
		t.Errorf("noted row: %v", n)
	}
	if c := str(t, rows[lengthy]["last_message"].(obj)["content"]); c != strings.Repeat("é", 200) {
		t.Errorf("a long last message is cut to %d characters, want 200", len([]rune(c)))
	}

	// A search's rows carry the same fields beside their highlights.
	_, found := triageRows(t, a.Token, "?q=late")
	if f, ok := found[waiting]; !ok || f["last_message"] == nil || f["last_message"].(obj)["content"] != "my order is late" || f["waiting_since"] == nil || f["highlights"] == nil {
		t.Errorf("a search's row: %v", f)
	}
	if f, ok := found[answered]; !ok || f["waiting_since"] != nil || f["assignee"] == nil {
		t.Errorf("a search's answered row: %v", f)
	}

	// The customer writes again: still waiting since the first unanswered message.
	first := rows[waiting]["waiting_since"]
	cust := want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", waiting), a.Token, nil), 200)["conversation"].(obj)["contact"].(obj)
	email := str(t, cust["email"])
	want(t, incoming(t, a.Token, ib, email, "hello?", "again-2"), 201)
	_, rows = triageRows(t, a.Token, "")
	if rows[waiting]["waiting_since"] != first || rows[waiting]["last_message"].(obj)["content"] != "hello?" {
		t.Errorf("after a second customer message: waiting_since %v (was %v), last %v", rows[waiting]["waiting_since"], first, rows[waiting]["last_message"])
	}
}

// TestTriageViewsAndSorts: view=mine|unassigned|open|escalated select
// what their names say (escalated: an agent escalated it and no person
// took it since), sort=waiting puts the longest waiting first and
// sort=priority the most urgent, cursors page each sort without repeats,
// and bad parameters are a 400 that names them.
func TestTriageViewsAndSorts(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)

	oldest, _, _ := newConversation(t, a.Token, ib)
	mine, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", mine), a.Token, obj{"assignee_id": agentID, "priority": "urgent"}), 200)
	resolved, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", resolved), a.Token, obj{"status": "resolved"}), 200)
	answered, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", answered), a.Token, obj{"content": "Done."}), 201)
	escalated, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	bot := str(t, want(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "bot", "preset": "full_agent"}), 201)["token"])
	if _, isErr, _ := mcpTool(t, bot, "escalate_to_human", obj{"conversation_id": escalated, "reason": "angry customer"}); isErr {
		t.Fatal("escalate_to_human failed")
	}
	all := []int64{oldest, mine, resolved, answered, escalated}

	views := map[string][]int64{
		"":           all,
		"open":       {oldest, mine, answered, escalated},
		"unassigned": {oldest, answered, escalated},
		"escalated":  {escalated},
	}
	for view, wantIDs := range views {
		got, _ := triageRows(t, a.Token, "?view="+view)
		slices.Sort(got)
		w := slices.Clone(wantIDs)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("view=%q: %v, want %v", view, got, w)
		}
	}
	if got, _ := triageRows(t, agent, "?view=mine"); !slices.Equal(got, []int64{mine}) {
		t.Errorf("the agent's view=mine: %v, want [%d]", got, mine)
	}
	if got, _ := triageRows(t, a.Token, "?view=mine"); len(got) != 0 {
		t.Errorf("the admin's view=mine: %v, want none", got)
	}
	// A person takes the escalated one: it leaves the view.
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", escalated), a.Token, obj{"assignee_id": a.UserID}), 200)
	if got, _ := triageRows(t, a.Token, "?view=escalated"); len(got) != 0 {
		t.Errorf("after a person took it, view=escalated: %v", got)
	}

	// Waiting: the longest first, then those not waiting (resolved still
	// waits: nobody answered it), newest activity first.
	got, _ := triageRows(t, a.Token, "?sort=waiting")
	if want := []int64{oldest, mine, resolved, escalated, answered}; !slices.Equal(got, want) {
		t.Errorf("sort=waiting: %v, want %v", got, want)
	}
	got, _ = triageRows(t, a.Token, "?sort=priority&view=open")
	if got[0] != mine || got[1] != escalated { // urgent, then high (escalation raised it)
		t.Errorf("sort=priority: %v, want %d then %d first", got, mine, escalated)
	}
	got, _ = triageRows(t, a.Token, "?sort=last_activity")
	if got[0] != escalated || got[len(got)-1] != oldest {
		t.Errorf("sort=last_activity: %v", got)
	}
	// Every sort pages through all rows once.
	for _, sort := range []string{"last_activity", "waiting", "priority"} {
		var seen []int64
		cursor := ""
		for pages := 0; pages < 10; pages++ {
			q := "?limit=2&sort=" + sort
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			b := want(t, call(t, "GET", "/api/v1/conversations"+q, a.Token, nil), 200)
			for _, c := range list(t, b, "conversations") {
				seen = append(seen, id(t, c["id"]))
			}
			if b["next_cursor"] == nil {
				break
			}
			cursor = str(t, b["next_cursor"])
		}
		full, _ := triageRows(t, a.Token, "?sort="+sort)
		if !slices.Equal(seen, full) {
			t.Errorf("sort=%s paged %v, whole %v", sort, seen, full)
		}
	}

	// Bad parameters: 400 naming them.
	for q, name := range map[string]string{
		"?view=everything":                       "view",
		"?sort=oldest":                           "sort",
		"?sort=waiting&q=order":                  "sort",
		"?sort=waiting&cursor=bogus":             "cursor",
		"?view=" + strings.Repeat("x", 600):      "view",
		"?sort=priority&cursor=dDE6d2FpdGluZzoy": "cursor", // a waiting cursor given to priority
	} {
		if msg := wantErr(t, call(t, "GET", "/api/v1/conversations"+q, a.Token, nil), 400, "bad_request"); !strings.Contains(msg, name) {
			t.Errorf("%s: %q does not name %s", q, msg, name)
		}
	}
}

// TestCannedResponses: admins create, edit and delete canned responses,
// every person lists them; a short code in use (in any case) is a 409 in
// words, an agent's write a 403, bad input a 400, and none of those
// writes anything. Each write is audited with the admin as actor.
func TestCannedResponses(t *testing.T) {
	t.Parallel()
	a := signup(t)
	_, agent := createAgent(t, a.Token)
	rows := func() []obj {
		return list(t, want(t, call(t, "GET", "/api/v1/canned_responses", agent, nil), 200), "canned_responses")
	}

	c := want(t, call(t, "POST", "/api/v1/canned_responses", a.Token, obj{"short_code": "refund", "content": "Your refund is on its way."}), 201)
	cid := id(t, c["id"])
	if c["short_code"] != "refund" || c["content"] != "Your refund is on its way." {
		t.Fatalf("created %v", c)
	}
	want(t, call(t, "POST", "/api/v1/canned_responses", a.Token, obj{"short_code": "thanks", "content": "Thank you!"}), 201)
	if rs := rows(); len(rs) != 2 || rs[0]["short_code"] != "refund" || rs[1]["short_code"] != "thanks" {
		t.Fatalf("the agent lists %v", rs)
	}

	// 409 in words, in any case; nothing written.
	msg := wantErr(t, call(t, "POST", "/api/v1/canned_responses", a.Token, obj{"short_code": "Refund", "content": "other"}), 409, "conflict")
	if !strings.Contains(msg, `short code "Refund" already exists`) {
		t.Errorf("409 says %q", msg)
	}
	wantErr(t, call(t, "PATCH", fmt.Sprintf("/api/v1/canned_responses/%d", cid), a.Token, obj{"short_code": "thanks"}), 409, "conflict")

	// Agents read but do not write.
	wantErr(t, call(t, "POST", "/api/v1/canned_responses", agent, obj{"short_code": "mine", "content": "x"}), 403, "forbidden")
	wantErr(t, call(t, "PATCH", fmt.Sprintf("/api/v1/canned_responses/%d", cid), agent, obj{"content": "x"}), 403, "forbidden")
	wantErr(t, call(t, "DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", cid), agent, nil), 403, "forbidden")

	// Bad input: 400, nothing written.
	for _, body := range []any{
		obj{"short_code": strings.Repeat("a", 10*1024), "content": "x"},
		obj{"short_code": "ok", "content": strings.Repeat("a", 10001)},
		obj{"short_code": "two words", "content": "x"},
		obj{"short_code": "/slash", "content": "x"},
		obj{"short_code": "", "content": "x"},
		obj{"short_code": "blank"},
		obj{"short_code": "blank", "content": "   "},
		obj{"content": "x"},
		obj{"short_code": "x", "content": "x", "extra": 1},
		`{"short_code": "x"`,
	} {
		wantErr(t, call(t, "POST", "/api/v1/canned_responses", a.Token, body), 400, "bad_request")
	}
	for _, body := range []any{obj{}, obj{"short_code": "has space"}, obj{"content": ""}} {
		wantErr(t, call(t, "PATCH", fmt.Sprintf("/api/v1/canned_responses/%d", cid), a.Token, body), 400, "bad_request")
	}
	if rs := rows(); len(rs) != 2 || rs[0]["content"] != "Your refund is on its way." {
		t.Fatalf("refused writes changed the list: %v", rs)
	}

	// Edit, then delete; another workspace sees none of it.
	e := want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/canned_responses/%d", cid), a.Token, obj{"content": "Refunded."}), 200)
	if e["short_code"] != "refund" || e["content"] != "Refunded." {
		t.Errorf("edited %v", e)
	}
	o := signup(t)
	if rs := list(t, want(t, call(t, "GET", "/api/v1/canned_responses", o.Token, nil), 200), "canned_responses"); len(rs) != 0 {
		t.Errorf("another workspace lists %v", rs)
	}
	wantErr(t, call(t, "PATCH", fmt.Sprintf("/api/v1/canned_responses/%d", cid), o.Token, obj{"content": "mine"}), 404, "not_found")
	wantErr(t, call(t, "DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", cid), o.Token, nil), 404, "not_found")
	want(t, call(t, "DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", cid), a.Token, nil), 204)
	wantErr(t, call(t, "DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", cid), a.Token, nil), 404, "not_found")
	if rs := rows(); len(rs) != 1 || rs[0]["short_code"] != "thanks" {
		t.Errorf("after delete: %v", rs)
	}
	got := audited(t, a.Token, a.UserID)
	if got["canned_response.create"] != 2 || got["canned_response.update"] != 1 || got["canned_response.delete"] != 1 {
		t.Errorf("audited %v", got)
	}
}
