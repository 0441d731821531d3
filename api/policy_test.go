package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins/logs"

	"github.com/deskwoot/deskwoot/dbtest"
)

// mcpTool calls one MCP tool with a token and returns the result's text,
// isError and structured content.
func mcpTool(t *testing.T, token, name string, args obj) (string, bool, obj) {
	t.Helper()
	body, _ := json.Marshal(obj{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": obj{"name": name, "arguments": args}})
	req, _ := http.NewRequest("POST", base(t)+"/api/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out obj
	if err := json.Unmarshal(raw, &out); err != nil || res.StatusCode != 200 {
		t.Fatalf("%s: HTTP %d %s", name, res.StatusCode, raw)
	}
	r, ok := out["result"].(obj)
	if !ok {
		t.Fatalf("%s: no result in %s", name, raw)
	}
	var text string
	if c, _ := r["content"].([]any); len(c) > 0 {
		text, _ = c[0].(obj)["text"].(string)
	}
	isErr, _ := r["isError"].(bool)
	sc, _ := r["structuredContent"].(obj)
	return text, isErr, sc
}

// mcpWorkspace is an account with MCP on, two api inboxes each holding
// conversations whose customer text and contact fields carry marker, and a
// full-agent token.
type mcpWorkspace struct {
	tenant
	inboxX, inboxY int64
	convX, convY   []int64
	token          string
}

func newMCPWorkspace(t *testing.T, marker string) mcpWorkspace {
	t.Helper()
	w := mcpWorkspace{tenant: signup(t)}
	want(t, call(t, "PUT", "/api/v1/settings/mcp", w.Token, obj{"enabled": true}), 200)
	w.inboxX, w.inboxY = createInbox(t, w.Token), createInbox(t, w.Token)
	for i := 0; i < 2; i++ {
		for _, ib := range []int64{w.inboxX, w.inboxY} {
			b := want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", ib), w.Token, obj{
				"contact":   obj{"email": strings.ToLower(marker) + fmt.Sprintf("-%d-%d", i, ib) + "@example.com", "name": marker + " Customer"},
				"content":   "my order is late " + marker,
				"source_id": dbtest.Unique("src"),
			}), 201)
			if ib == w.inboxX {
				w.convX = append(w.convX, id(t, b["conversation_id"]))
			} else {
				w.convY = append(w.convY, id(t, b["conversation_id"]))
			}
		}
	}
	b := want(t, call(t, "POST", "/api/v1/mcp/tokens", w.Token, obj{"name": "bot", "preset": "full_agent", "rate_limit_per_minute": 60000}), 201)
	w.token = str(t, b["token"])
	return w
}

func (w mcpWorkspace) reply(t *testing.T, conv int64, content string) (string, bool, obj) {
	t.Helper()
	return mcpTool(t, w.token, "reply_to_conversation", obj{"conversation_id": conv, "content": content, "idempotency_key": dbtest.Unique("k")})
}

const denyRepliesInX = `package deskwoot.tenant

deny contains "no agent replies in the VIP inbox" if {
	input.tool == "reply_to_conversation"
	input.target.inbox_id == %d
}
`

const denyRepliesInXTests = `package deskwoot.tenant_test

import data.deskwoot.tenant

test_reply_in_vip_denied if {
	count(tenant.deny) == 1 with input as {"tool": "reply_to_conversation", "target": {"inbox_id": %d}}
}

test_reply_elsewhere_allowed if {
	count(tenant.deny) == 0 with input as {"tool": "reply_to_conversation", "target": {"inbox_id": %d}}
}
`

// auditRows lists the account's audit rows (newest first) for a tool or
// action.
func auditRows(t *testing.T, token, action string) []obj {
	t.Helper()
	b := want(t, call(t, "GET", "/api/v1/audit?limit=100&action="+action, token, nil), 200)
	return list(t, b, "audit")
}

func TestPolicyShow(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("SHOW"))
	if _, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{}); isErr {
		t.Fatal("list_inboxes failed")
	}
	b := want(t, call(t, "GET", "/api/v1/policy", w.Token, nil), 200)
	rows := auditRows(t, w.Token, "list_inboxes")
	if len(rows) != 1 || rows[0]["policy_rev"] != b["revision"] || b["revision"] == "" {
		t.Errorf("revision %v, audit rows %v", b["revision"], rows)
	}
	var names []string
	for _, f := range list(t, b, "files") {
		names = append(names, str(t, f["name"]))
		if f["name"] == "data.json" {
			if !strings.Contains(str(t, f["source"]), `"plans"`) {
				t.Errorf("data.json has no plans: %v", f["source"])
			}
			continue
		}
		if !strings.Contains(str(t, f["source"]), "package deskwoot.") {
			t.Errorf("file %v has no source", f["name"])
		}
	}
	if !slices.Contains(names, "authz.rego") || !slices.Contains(names, "authz_test.rego") || !slices.Contains(names, "catalog.rego") || !slices.Contains(names, "data.json") {
		t.Errorf("files %v", names)
	}
	tests := b["tests"].(obj)
	if tests["passed"].(float64) < 50 || tests["failed"].(float64) != 0 || len(list(t, tests, "coverage")) != 3 {
		t.Errorf("tests %v %v %v", tests["passed"], tests["failed"], tests["coverage"])
	}
	tools := list(t, b["catalog"].(obj), "tools")
	drafts, appOnly := 0, 0
	for _, tl := range tools {
		if tl["app_only"] == true {
			appOnly++
		}
		if tl["scope"] == "" || tl["target"] == "" || (tl["access"] != "read" && tl["access"] != "write") {
			t.Errorf("catalog entry %v", tl)
		}
		if tl["draft_on_approval"] == true {
			drafts++
		}
	}
	// 22 tools, and the two the draft card calls (approve_draft,
	// reject_draft: listed for an MCP Apps host, never for the model).
	if len(tools) != 24 || drafts != 2 || appOnly != 2 {
		t.Errorf("catalog has %d tools, %d drafting, %d app-only", len(tools), drafts, appOnly)
	}
	if b["tenant_rules"] != nil {
		t.Errorf("tenant_rules %v before any", b["tenant_rules"])
	}
	_, agent := createAgent(t, w.Token)
	wantErr(t, call(t, "GET", "/api/v1/policy", agent, nil), 403, "forbidden")
	wantErr(t, call(t, "GET", "/api/v1/audit/decisions", agent, nil), 403, "forbidden")
	wantErr(t, call(t, "POST", "/api/v1/policy/candidates", agent, obj{"rego": "x", "tests": "y"}), 403, "forbidden")
}

// TestTenantRulesEndToEnd: a candidate denying replies in inbox X flips
// exactly the recorded replies in X; its activation denies them with the
// rule's reason, for this account only; failing tests block activation;
// require_approval makes a reply a draft; activation, roll-back and
// removal are audited with the person as actor.
func TestTenantRulesEndToEnd(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("E2E"))
	other := newMCPWorkspace(t, dbtest.Unique("OTHER"))

	// Recorded decisions: replies in X and Y, and reads in X.
	for _, c := range slices.Concat(w.convX, w.convY) {
		if text, isErr, _ := w.reply(t, c, "on it"); isErr {
			t.Fatalf("reply in %d: %s", c, text)
		}
	}
	mcpTool(t, w.token, "get_conversation", obj{"conversation_id": w.convX[0]})
	var wantFlips []int64
	for _, r := range auditRows(t, w.Token, "reply_to_conversation") {
		if r["target"].(obj)["inbox_id"] == float64(w.inboxX) {
			wantFlips = append(wantFlips, id(t, r["id"]))
		}
	}
	if len(wantFlips) != 2 {
		t.Fatalf("recorded replies in X: %v", wantFlips)
	}

	// A module that does not compile, or defines something else: 400 naming the line.
	msg := wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": "package deskwoot.tenant\n\nallow := true\n", "tests": fmt.Sprintf(denyRepliesInXTests, w.inboxX, w.inboxY)}), 400, "bad_request")
	if !strings.Contains(msg, "rego line 3") || !strings.Contains(msg, "allow") {
		t.Errorf("400 message %q does not name line 3", msg)
	}
	wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\thttp.send({})\n}\n", "tests": "package deskwoot.tenant_test\n\ntest_x if true\n"}), 400, "bad_request")
	wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": fmt.Sprintf(denyRepliesInX, w.inboxX), "tests": fmt.Sprintf(denyRepliesInXTests, w.inboxX, w.inboxY), "replay_days": 0}), 400, "bad_request")

	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": fmt.Sprintf(denyRepliesInX, w.inboxX), "tests": fmt.Sprintf(denyRepliesInXTests, w.inboxX, w.inboxY)}), 201)
	tests, replay := c["tests"].(obj), settledReplay(t, w.Token, c)
	if tests["passed"] != float64(2) || tests["failed"] != float64(0) || len(list(t, tests, "results")) != 2 {
		t.Errorf("tests %v", tests)
	}
	if replay["decisions"].(float64) < 5 {
		t.Errorf("replayed %v decisions, want the 5 tool calls at least", replay["decisions"])
	}
	var flipped []int64
	for _, f := range list(t, replay, "flips") {
		flipped = append(flipped, id(t, f["audit_id"]))
		if f["tool"] != "reply_to_conversation" || f["before"] != "allow" || f["after"] != "deny" {
			t.Errorf("flip %v", f)
		}
	}
	slices.Sort(flipped)
	slices.Sort(wantFlips)
	if !slices.Equal(flipped, wantFlips) {
		t.Errorf("flips %v, want exactly the replies in X %v", flipped, wantFlips)
	}

	// Activation.
	a := want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, c["id"])), w.Token, nil), 200)
	if a["version"] != float64(1) {
		t.Errorf("activate answered %v", a)
	}
	text, isErr, _ := w.reply(t, w.convX[0], "again")
	if !isErr || !strings.Contains(text, "no agent replies in the VIP inbox") {
		t.Errorf("reply in X after activation: %q, isError %v", text, isErr)
	}
	if text, isErr, _ := w.reply(t, w.convY[0], "again"); isErr {
		t.Errorf("reply in Y after activation: %s", text)
	}
	// Another account is unaffected, even calling the same inbox id shape.
	if text, isErr, _ := other.reply(t, other.convX[0], "hi"); isErr {
		t.Errorf("other account's reply: %s", text)
	}
	denied := auditRows(t, w.Token, "reply_to_conversation")[1] // newest first: Y's reply, then X's denial
	x := want(t, call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, denied["id"])), w.Token, nil), 200)
	if x["decision"] != "deny" || x["tenant_rules_version"] != float64(1) || x["policy_revision"] != denied["policy_rev"] ||
		!strings.Contains(fmt.Sprint(x["rules"]), "deskwoot.tenant: denied by this account's policy rules: no agent replies in the VIP inbox") {
		t.Errorf("explanation of the denial: %v", x)
	}
	in := x["input"].(obj)
	if in["tool"] != "reply_to_conversation" || in["target"].(obj)["inbox_id"] != float64(w.inboxX) || in["principal"].(obj)["account_id"] != float64(w.AccountID) {
		t.Errorf("explained input %v", in)
	}
	if args := in["args"].(obj); args["content"].(obj)["redacted"] != "string" || args["content"].(obj)["bytes"] != float64(5) {
		t.Errorf("explained args %v", args)
	}
	wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, denied["id"])), other.Token, nil), 404, "not_found")

	// Failing tests block activation.
	bad := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{
		"rego":  "package deskwoot.tenant\n\nrequire_approval contains \"replies in Y need a human\" if {\n\tinput.tool == \"reply_to_conversation\"\n}\n",
		"tests": "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_wrong if {\n\tcount(tenant.require_approval) == 0 with input as {\"tool\": \"reply_to_conversation\"}\n}\n",
	}), 201)
	if bad["tests"].(obj)["failed"] != float64(1) {
		t.Errorf("failing candidate %v", bad["tests"])
	}
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, bad["id"])), w.Token, nil), 409, "conflict")

	// require_approval: a reply becomes a draft.
	draft := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{
		"rego":        fmt.Sprintf("package deskwoot.tenant\n\nrequire_approval contains \"replies in Y need a human\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == %d\n}\n", w.inboxY),
		"tests":       fmt.Sprintf("package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_y if {\n\tcount(tenant.require_approval) == 1 with input as {\"tool\": \"reply_to_conversation\", \"target\": {\"inbox_id\": %d}}\n}\n", w.inboxY),
		"replay_days": 1,
	}), 201)
	// Recorded: replies in Y allowed three times (they would become drafts),
	// and one reply in X denied by version 1 (this candidate replaces it).
	var toDraft, toAllow int
	for _, f := range list(t, draft["replay"].(obj), "flips") {
		switch {
		case f["before"] == "allow" && f["after"] == "draft":
			toDraft++
		case f["before"] == "deny" && f["after"] == "allow":
			toAllow++
		default:
			t.Errorf("unexpected flip %v", f)
		}
	}
	if toDraft != 3 || toAllow != 1 {
		t.Errorf("draft candidate: %d to draft, %d to allow; want 3 and 1: %v", toDraft, toAllow, draft["replay"])
	}
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, draft["id"])), w.Token, nil), 200)
	if _, isErr, sc := w.reply(t, w.convY[1], "needs approval"); isErr || sc["pending_approval"] != true {
		t.Errorf("reply in Y under version 2: %v", sc)
	}
	if _, isErr, _ := w.reply(t, w.convX[1], "allowed again"); isErr {
		t.Errorf("reply in X under version 2 was denied")
	}

	// Versions, roll-back and removal.
	vs := want(t, call(t, "GET", "/api/v1/policy/versions", w.Token, nil), 200)
	if vs["active_version"] != float64(2) || len(list(t, vs, "versions")) != 2 {
		t.Errorf("versions %v", vs)
	}
	want(t, call(t, "POST", "/api/v1/policy/versions/1/activate", w.Token, nil), 200)
	if text, isErr, _ := w.reply(t, w.convX[1], "rolled back"); !isErr || !strings.Contains(text, "VIP inbox") {
		t.Errorf("reply in X after roll-back to 1: %q", text)
	}
	wantErr(t, call(t, "POST", "/api/v1/policy/versions/9/activate", w.Token, nil), 404, "not_found")
	if p := want(t, call(t, "GET", "/api/v1/policy", w.Token, nil), 200); p["tenant_rules"].(obj)["version"] != float64(1) {
		t.Errorf("policy shows tenant rules %v", p["tenant_rules"])
	}
	want(t, call(t, "DELETE", "/api/v1/policy/tenant", w.Token, nil), 200)
	if text, isErr, _ := w.reply(t, w.convX[1], "no rules"); isErr {
		t.Errorf("reply in X after removal: %s", text)
	}
	for action, n := range map[string]int{"policy.candidate.create": 3, "policy.activate": 2, "policy.rollback": 1, "policy.tenant.remove": 1} {
		rows := auditRows(t, w.Token, action)
		if len(rows) != n {
			t.Errorf("%d %s rows, want %d", len(rows), action, n)
		}
		for _, r := range rows {
			if r["actor_kind"] != "user" || r["actor_id"] != float64(w.UserID) {
				t.Errorf("%s audited as %v %v, want the admin", action, r["actor_kind"], r["actor_id"])
			}
		}
	}
}

// TestSlowTenantRuleFailsClosedForItsAccountOnly: a rule that runs long is
// cut off; the account's calls are denied, saying why; another account's
// calls go on.
func TestSlowTenantRuleFailsClosedForItsAccountOnly(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("SLOW"))
	other := newMCPWorkspace(t, dbtest.Unique("CALM"))
	slow := "package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"\n\txs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]\n\tsome a in xs\n\tsome b in xs\n\tsome c in xs\n\tsome d in xs\n\tsome e in xs\n\tsome f in xs\n\ta + b + c + d + e + f < 0\n}\n"
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": slow,
		"tests": "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_other_tools if {\n\tcount(tenant.deny) == 0 with input as {\"tool\": \"get_article\"}\n}\n"}), 201)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, c["id"])), w.Token, nil), 200)
	text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{})
	if !isErr || !strings.Contains(text, "could not be evaluated") || !strings.Contains(text, "ran longer") {
		t.Errorf("list_inboxes under a slow rule: %q", text)
	}
	if text, isErr, _ := mcpTool(t, other.token, "list_inboxes", obj{}); isErr {
		t.Errorf("other account: %s", text)
	}
	rows := auditRows(t, w.Token, "list_inboxes")
	if len(rows) != 1 || rows[0]["decision"] != "deny" || !strings.Contains(fmt.Sprint(rows[0]["reasons"]), "ran longer") {
		t.Errorf("audit of the cut-off call %v", rows)
	}
	x := want(t, call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, rows[0]["id"])), w.Token, nil), 200)
	if !strings.Contains(fmt.Sprint(x["rules"]), "fail closed") || !strings.Contains(fmt.Sprint(x["error"]), "ran longer") {
		t.Errorf("explanation %v", x)
	}
}

// TestDecisionExportAndNoCustomerText: exported lines parse as OPA decision
// logs (OPA's own EventV1), page with the cursor, and neither they nor any
// explanation carry message text or contact fields.
func TestDecisionExportAndNoCustomerText(t *testing.T) {
	t.Parallel()
	marker := dbtest.Unique("MRK")
	w := newMCPWorkspace(t, marker)
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	w.reply(t, w.convX[0], "reply text "+marker)
	mcpTool(t, w.token, "get_conversation", obj{"conversation_id": w.convX[0]})
	mcpTool(t, w.token, "search_contacts", obj{"query": marker})
	mcpTool(t, w.token, "search_conversations", obj{"query": marker})
	_, _, sc := mcpTool(t, w.token, "create_contact", obj{"name": marker + " New", "email": strings.ToLower(marker) + "-new@example.com", "phone": "+1 555 " + marker, "inbox_id": w.inboxX, "idempotency_key": dbtest.Unique("k")})
	if sc == nil {
		t.Fatal("create_contact failed")
	}
	cid := id(t, sc["contact"].(obj)["id"])
	mcpTool(t, w.token, "update_contact", obj{"contact_id": cid, "name": marker + " Renamed", "custom_attributes": obj{"note": marker}})
	mcpTool(t, w.token, "add_contact_note", obj{"contact_id": cid, "content": "note " + marker, "idempotency_key": dbtest.Unique("k")})
	mcpTool(t, w.token, "add_private_note", obj{"conversation_id": w.convY[0], "content": "private " + marker, "idempotency_key": dbtest.Unique("k")})
	mcpTool(t, w.token, "start_conversation", obj{"inbox_id": w.inboxX, "contact_id": cid, "content": "hello " + marker, "idempotency_key": dbtest.Unique("k")})

	// Every explanation.
	rows := auditRows(t, w.Token, "")
	explained := 0
	for _, r := range rows {
		x := call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, r["id"])), w.Token, nil)
		want(t, x, 200)
		if bytes.Contains(bytes.ToLower(x.Raw), bytes.ToLower([]byte(marker))) {
			t.Errorf("explanation of %v carries customer text: %s", r["action"], x.Raw)
		}
		if x.Body["input"] != nil {
			explained++
		}
	}
	if explained < 9 {
		t.Errorf("%d explained rows, want the 9 tool calls", explained)
	}

	// The export, one line per page to walk the cursor.
	var lines [][]byte
	cursor := ""
	for pages := 0; pages < 50; pages++ {
		res, err := http.NewRequest("GET", base(t)+"/api/v1/audit/decisions?limit=4&since="+since+cursor, nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Header.Set("Authorization", "Bearer "+w.Token)
		resp, err := http.DefaultClient.Do(res)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
		resp.Body.Close()
		next := resp.Header.Get("X-Next-Cursor")
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(lines) != explained {
		t.Errorf("exported %d lines, want %d", len(lines), explained)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if bytes.Contains(bytes.ToLower(l), bytes.ToLower([]byte(marker))) {
			t.Errorf("exported line carries customer text: %s", l)
		}
		var ev logs.EventV1
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line does not parse as OPA's EventV1: %v\n%s", err, l)
		}
		if ev.DecisionID == "" || seen[ev.DecisionID] || ev.Input == nil || ev.Result == nil || ev.Timestamp.IsZero() ||
			(ev.Path != "deskwoot/authz/decision" && ev.Path != "deskwoot/gate/decision") ||
			ev.Labels["policy_revision"] == "" || ev.Bundles["deskwoot"].Revision != ev.Labels["policy_revision"] {
			t.Errorf("event %+v", ev)
		}
		seen[ev.DecisionID] = true
		if res, ok := (*ev.Result).(map[string]any); !ok || res["allow"] == nil {
			t.Errorf("result %v", ev.Result)
		}
	}
	wantErr(t, call(t, "GET", "/api/v1/audit/decisions?since=yesterday", w.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/audit/decisions?cursor=abc", w.Token, nil), 400, "bad_request")
}

// settledReplay is a candidate's replay once it no longer runs: a loaded
// machine can spend the submission's inline budget (2 s) on a few
// decisions, and the rest goes on in the background.
func settledReplay(t *testing.T, token string, c obj) obj {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		r := c["replay"].(obj)
		if r["status"] != "running" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay still runs after 2 minutes: %v", r)
		}
		c = want(t, call(t, "GET", fmt.Sprintf("/api/v1/policy/candidates/%d", id(t, c["id"])), token, nil), 200)
	}
}
