package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// counts is how many rows of each kind the tenant has.
func counts(t *testing.T, acct int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := dbtest.App(t).InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		for _, table := range []string{"messages", "drafts", "contacts", "contact_notes", "conversations", "idempotency_keys"} {
			var n int
			if err := tx.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return err
			}
			out[table] = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWriteToolsRejectBadInputAndWriteNothing: missing, wrong type, too
// long and unknown ids are tool errors, and no row changes.
func TestWriteToolsRejectBadInputAndWriteNothing(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	long := strings.Repeat("x", desk.MaxContent+1)
	cases := []struct {
		tool string
		args map[string]any
		want string
	}{
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "idempotency_key": "k1"}, "content is required"},
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "hi"}, "idempotency_key is required"},
		{"reply_to_conversation", map[string]any{"conversation_id": "abc", "content": "hi", "idempotency_key": "k2"}, "conversation_id must be a positive integer id"},
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": long, "idempotency_key": "k3"}, "content is at most"},
		{"reply_to_conversation", map[string]any{"conversation_id": 987654321, "content": "hi", "idempotency_key": "k4"}, "conversation 987654321 not found"},
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "hi", "idempotency_key": strings.Repeat("k", 201)}, "idempotency_key is at most 200"},
		{"add_private_note", map[string]any{"conversation_id": w.conv1, "content": 42, "idempotency_key": "k5"}, "content must be a string"},
		{"update_conversation", map[string]any{"conversation_id": w.conv1, "status": "closed"}, "status must be one of"},
		{"update_conversation", map[string]any{"conversation_id": w.conv1, "add_labels": []any{"no-such-label"}}, `label "no-such-label" does not exist`},
		{"update_conversation", map[string]any{"conversation_id": w.conv1, "snoozed_until": "2001-01-01T00:00:00Z"}, "snoozed_until must be in the future"},
		{"assign_conversation", map[string]any{"conversation_id": w.conv1, "assignee_id": 987654321}, "user 987654321 not found"},
		{"assign_conversation", map[string]any{"conversation_id": w.conv1}, "give assignee_id, team_id or both"},
		{"escalate_to_human", map[string]any{"conversation_id": w.conv1, "reason": "help", "team_id": 987654321}, "team 987654321 not found"},
		{"create_contact", map[string]any{"idempotency_key": "k6"}, "give at least one of"},
		{"create_contact", map[string]any{"email": "ann@example.com", "idempotency_key": "k7"}, "already exists"},
		{"update_contact", map[string]any{"contact_id": 987654321, "name": "x"}, "contact 987654321 not found"},
		{"add_contact_note", map[string]any{"contact_id": w.contact1, "content": "", "idempotency_key": "k8"}, "content must not be empty"},
		{"start_conversation", map[string]any{"inbox_id": 987654321, "contact_id": w.contact1, "content": "hi", "idempotency_key": "k9"}, "inbox 987654321 not found"},
		{"start_conversation", map[string]any{"inbox_id": w.inbox1, "contact_id": w.contact1, "content": "hi", "subject": strings.Repeat("s", 301), "idempotency_key": "k10"}, "subject is at most 300"},
	}
	before := counts(t, w.Account.ID)
	for _, c := range cases {
		text, isErr, _ := callTool(t, url, token, c.tool, c.args)
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s %v: isError=%v %q, want an error containing %q", c.tool, c.args, isErr, text, c.want)
		}
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Errorf("bad calls changed rows: before %v after %v", before, after)
	}
}

// TestWritesRespectInboxes: a token restricted to inbox 1 cannot write
// into inbox 2, and the refusal reads like not-found.
func TestWritesRespectInboxes(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, []int64{w.inbox1})
	before := counts(t, w.Account.ID)
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv2, "content": "hi", "idempotency_key": "a"}, fmt.Sprintf("conversation %d not found", w.conv2)},
		{"add_private_note", map[string]any{"conversation_id": w.conv2, "content": "hi", "idempotency_key": "b"}, fmt.Sprintf("conversation %d not found", w.conv2)},
		{"update_conversation", map[string]any{"conversation_id": w.conv2, "status": "resolved"}, fmt.Sprintf("conversation %d not found", w.conv2)},
		{"update_contact", map[string]any{"contact_id": w.contact2, "name": "x"}, fmt.Sprintf("contact %d not found", w.contact2)},
		{"start_conversation", map[string]any{"inbox_id": w.inbox2, "contact_id": w.contact1, "content": "hi", "idempotency_key": "c"}, fmt.Sprintf("inbox %d not found", w.inbox2)},
		{"create_contact", map[string]any{"name": "x", "inbox_id": w.inbox2, "idempotency_key": "d"}, fmt.Sprintf("inbox %d not found", w.inbox2)},
	} {
		text, isErr, _ := callTool(t, url, token, c.tool, c.args)
		if !isErr || text != c.want {
			t.Errorf("%s: isError=%v %q, want exactly %q", c.tool, isErr, text, c.want)
		}
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Errorf("refused writes changed rows: before %v after %v", before, after)
	}
	// Inside its inbox it writes; a contact it creates in inbox 1 is its own.
	if text, isErr, _ := callTool(t, url, token, "reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "hi", "idempotency_key": "e"}); isErr {
		t.Fatalf("reply in own inbox: %s", text)
	}
	_, isErr, sc := callTool(t, url, token, "create_contact", map[string]any{"name": "Zed", "email": "zed@example.com", "inbox_id": w.inbox1, "idempotency_key": "f"})
	if isErr {
		t.Fatal("create_contact in own inbox failed")
	}
	id := sc["contact"].(map[string]any)["id"]
	if text, isErr, _ := callTool(t, url, token, "get_contact", map[string]any{"contact_id": id}); isErr {
		t.Fatalf("reading the contact it created: %s", text)
	}
}

// TestIdempotentReplyUnderConcurrency: 50 concurrent calls with one key
// post one message; the same key with other content is refused.
func TestIdempotentReplyUnderConcurrency(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	before := counts(t, w.Account.ID)
	args := map[string]any{"conversation_id": w.conv1, "content": "Your refund is on its way.", "idempotency_key": "refund-1"}
	var wg sync.WaitGroup
	ids := make(chan float64, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text, isErr, sc := callTool(t, url, token, "reply_to_conversation", args)
			if isErr {
				t.Errorf("concurrent reply: %s", text)
				return
			}
			ids <- sc["message"].(map[string]any)["id"].(float64)
		}()
	}
	wg.Wait()
	close(ids)
	first := -1.0
	for id := range ids {
		if first < 0 {
			first = id
		}
		if id != first {
			t.Fatalf("replies returned different messages: %v and %v", first, id)
		}
	}
	after := counts(t, w.Account.ID)
	if after["messages"] != before["messages"]+1 {
		t.Fatalf("50 calls with one key wrote %d messages", after["messages"]-before["messages"])
	}
	other := map[string]any{"conversation_id": w.conv1, "content": "Something else", "idempotency_key": "refund-1"}
	if text, isErr, _ := callTool(t, url, token, "reply_to_conversation", other); !isErr || !strings.Contains(text, "already used with other arguments") {
		t.Fatalf("same key, other content: isError=%v %q", isErr, text)
	}
	if counts(t, w.Account.ID)["messages"] != after["messages"] {
		t.Fatal("the refused call wrote a message")
	}
}

// restCall sends a REST request as a user API token.
func restCall(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, strings.TrimSuffix(endpoint(t), "/api/mcp")+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestRequireApprovalDrafts: a require_approval token's reply becomes a
// pending draft; approval with an edit sends one message attributed to the
// agent and the approver; rejection sends nothing; a second decision is 409.
func TestRequireApprovalDrafts(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.RequireApproval = true; in.Name = "careful-bot" })
	before := counts(t, w.Account.ID)

	_, isErr, sc := callTool(t, url, token, "reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "Refund approved.", "idempotency_key": "r1"})
	if isErr || sc["pending_approval"] != true || sc["draft"] == nil || sc["message"] != nil {
		t.Fatalf("reply with require_approval: %v", sc)
	}
	draftID := int64(sc["draft"].(map[string]any)["id"].(float64))
	if c := counts(t, w.Account.ID); c["messages"] != before["messages"] || c["drafts"] != before["drafts"]+1 {
		t.Fatalf("a pending draft must not send anything: %v → %v", before, c)
	}
	status, body := restCall(t, "GET", "/api/v1/drafts?status=pending", w.APIToken, nil)
	if status != 200 || len(body["drafts"].([]any)) != 1 {
		t.Fatalf("pending drafts: %d %v", status, body)
	}

	status, body = restCall(t, "POST", fmt.Sprintf("/api/v1/drafts/%d/approve", draftID), w.APIToken, map[string]any{"content": "Refund approved — 3 days."})
	if status != 200 || body["message_id"] == nil {
		t.Fatalf("approve: %d %v", status, body)
	}
	v, err := w.d.ConversationGet(context.Background(), tenancy.For(w.Account.ID), w.conv1, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Messages[len(v.Messages)-1]
	if last.Type != "outgoing" || last.Content != "Refund approved — 3 days." || last.Sender.Kind != "agent" ||
		last.Sender.Name != "careful-bot" || last.ApprovedBy == nil || *last.ApprovedBy != w.User.ID || last.DeliveryStatus == nil {
		t.Fatalf("approved message: %+v", last)
	}
	if status, _ := restCall(t, "POST", fmt.Sprintf("/api/v1/drafts/%d/reject", draftID), w.APIToken, nil); status != http.StatusConflict {
		t.Fatalf("second decision: %d, want 409", status)
	}

	_, _, sc = callTool(t, url, token, "reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "Maybe not.", "idempotency_key": "r2"})
	second := int64(sc["draft"].(map[string]any)["id"].(float64))
	mid := counts(t, w.Account.ID)
	if status, body := restCall(t, "POST", fmt.Sprintf("/api/v1/drafts/%d/reject", second), w.APIToken, map[string]any{"reason": "tone"}); status != 200 {
		t.Fatalf("reject: %d %v", status, body)
	}
	if counts(t, w.Account.ID)["messages"] != mid["messages"] {
		t.Fatal("a rejected draft sent a message")
	}
	if status, _ := restCall(t, "POST", fmt.Sprintf("/api/v1/drafts/%d/approve", second), w.APIToken, nil); status != http.StatusConflict {
		t.Fatalf("approve after reject: %d, want 409", status)
	}
	// The token sees its drafts' outcomes.
	_, _, sc = callTool(t, url, token, "list_drafts", map[string]any{})
	got := map[string]bool{}
	for _, d := range sc["drafts"].([]any) {
		got[d.(map[string]any)["status"].(string)] = true
	}
	if !got["approved"] || !got["rejected"] {
		t.Fatalf("list_drafts: %v", sc)
	}
}

// TestEscalateToHuman leaves the conversation open, assigned to people,
// with the reason in a note.
func TestEscalateToHuman(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	ctx := context.Background()
	team, err := w.d.TeamCreate(ctx, tenancy.For(w.Account.ID), "Tier 2", "", []int64{w.User.ID})
	if err != nil {
		t.Fatal(err)
	}
	token := w.token(t, allScopes, nil)
	// The agent first takes the conversation and resolves it…
	acct, _ := identity.AccountGet(ctx, w.d.DB, w.Account.ID)
	callTool(t, url, token, "assign_conversation", map[string]any{"conversation_id": w.conv1, "assignee_id": *acct.ServiceUserID})
	callTool(t, url, token, "update_conversation", map[string]any{"conversation_id": w.conv1, "status": "resolved"})
	// …then hands it to people.
	text, isErr, sc := callTool(t, url, token, "escalate_to_human", map[string]any{"conversation_id": w.conv1, "reason": "customer asks for a manager", "team_id": team.ID})
	if isErr {
		t.Fatal(text)
	}
	conv := sc["conversation"].(map[string]any)
	if conv["status"] != "open" || conv["priority"] != "high" || conv["assignee"] != nil || conv["team"].(map[string]any)["id"].(float64) != float64(team.ID) {
		t.Fatalf("after escalation: %v", conv)
	}
	note := sc["note"].(map[string]any)
	if note["type"] != "note" || note["private"] != true || !strings.Contains(note["content"].(string), "customer asks for a manager") {
		t.Fatalf("escalation note: %v", note)
	}
}

// TestForbiddenKindsNeverListed: a full-agent token lists no tool of the
// forbidden kinds, and crafted calls to such names are refused.
func TestForbiddenKindsNeverListed(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	for _, name := range listTools(t, url, token) {
		for _, bad := range []string{"settings", "channel", "billing", "delete", "broadcast", "webhook", "export"} {
			if strings.Contains(name, bad) {
				t.Errorf("tools/list offers %s", name)
			}
		}
	}
	for _, name := range []string{"delete_conversation", "delete_contact", "update_settings", "export_conversations", "create_webhook", "send_broadcast", "update_billing"} {
		r := rpc(t, url, token, "tools/call", map[string]any{"name": name, "arguments": map[string]any{}})
		if e, _ := r.Body["error"].(map[string]any); e == nil {
			t.Errorf("%s was not refused: %v", name, r.Body)
		}
	}
}

// Limits count characters, not bytes: a 150-character Japanese name (450
// bytes) is within create_contact's 200 characters, and 201 characters are
// refused naming the field, writing nothing.
func TestContactNameLimitCountsCharacters(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	name := strings.Repeat("山田太郎花子", 25) // 150 characters
	text, isErr, sc := callTool(t, url, token, "create_contact", map[string]any{"name": name, "idempotency_key": dbtest.Unique("k")})
	if isErr {
		t.Fatalf("150-character Japanese name refused: %s", text)
	}
	if got, _ := sc["contact"].(map[string]any)["name"].(string); !strings.Contains(got, ">"+name+"</") { // inside its boundary
		t.Errorf("stored name %q, want the 150 characters sent", got)
	}
	before := counts(t, w.Account.ID)
	for tool, args := range map[string]map[string]any{
		"create_contact": {"name": name + strings.Repeat("語", 51), "idempotency_key": dbtest.Unique("k")},
		"update_contact": {"contact_id": w.contact1, "name": name + strings.Repeat("語", 51)},
	} {
		if text, isErr, _ := callTool(t, url, token, tool, args); !isErr || text != "name is at most 200 characters" {
			t.Errorf("%s with a 201-character name: isError=%v %q", tool, isErr, text)
		}
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Errorf("refused names wrote rows: %v -> %v", before, after)
	}
}

// update_contact: a field given as null is cleared, as an empty one is; a
// field not given stays as it is.
func TestUpdateContactNullClears(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	if text, isErr, _ := callTool(t, url, token, "update_contact", map[string]any{"contact_id": w.contact1, "phone": "+1 555 0100"}); isErr {
		t.Fatal(text)
	}
	text, isErr, sc := callTool(t, url, token, "update_contact", map[string]any{"contact_id": w.contact1, "phone": nil})
	if isErr {
		t.Fatal(text)
	}
	ct, _ := sc["contact"].(map[string]any)
	if ct["phone"] != nil && ct["phone"] != "" {
		t.Errorf("phone after null: %v", ct["phone"])
	}
	if email, _ := ct["email"].(string); !strings.Contains(email, "ann@example.com") {
		t.Errorf("email not given, but now %q", email)
	}
}
