package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestMain: started as a sandbox child evaluating account rules, the test
// binary serves that and nothing else (policy.ServeSandboxIfChild).
func TestMain(m *testing.M) {
	policy.ServeSandboxIfChild()
	dbtest.Main(m)
}

var (
	appOnce sync.Once
	app     *server.App
	srvURL  string
)

// endpoint starts one server for the package (as deskwoot_app).
func endpoint(t testing.TB) string {
	t.Helper()
	appOnce.Do(func() {
		a, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1", AllowPrivateWebhooks: true,
			MetricsToken: benchMetricsToken})
		if err != nil {
			panic(err)
		}
		app = a
		a.Background(context.Background())
		srvURL = httptest.NewServer(a.Handler).URL + "/api/mcp"
	})
	return srvURL
}

// world is one tenant with two inboxes, a conversation in each, contacts
// and an article.
type world struct {
	dbtest.Tenant
	d                  *desk.Desk
	inbox1, inbox2     int64
	conv1, conv2       int64
	contact1, contact2 int64
	article            int64
}

func newWorld(t testing.TB) world {
	t.Helper()
	ctx := context.Background()
	w := world{Tenant: dbtest.NewTenant(t), d: &desk.Desk{DB: dbtest.App(t)}}
	acct := w.Account.ID
	if _, err := identity.MCPEnable(ctx, w.d.DB, tenancy.For(acct), true); err != nil {
		t.Fatal(err)
	}
	for i, dst := range []*int64{&w.inbox1, &w.inbox2} {
		ib, err := w.d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: fmt.Sprintf("Inbox %d", i+1), Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		*dst = ib.ID
	}
	for i, in := range []struct {
		inbox          int64
		conv, contact  *int64
		email, content string
	}{
		{w.inbox1, &w.conv1, &w.contact1, "ann@example.com", "My refund has not arrived"},
		{w.inbox2, &w.conv2, &w.contact2, "bob@example.com", "The app crashes on login"},
	} {
		res, err := w.d.IncomingMessage(ctx, acct, in.inbox, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: in.email, Name: strings.Split(in.email, "@")[0]}, Content: in.content, SourceID: fmt.Sprint("src-", i)})
		if err != nil {
			t.Fatal(err)
		}
		*in.conv, *in.contact = res.ConversationID, res.ContactID
	}
	a, err := w.d.ArticleCreate(ctx, tenancy.For(acct), "Refund policy", "Refunds are paid within 5 business days.", "published")
	if err != nil {
		t.Fatal(err)
	}
	w.article = a.ID
	return w
}

// noSuspend turns the anomaly suspend off in w, for a test whose tokens
// are refused again and again on purpose.
func (w world) noSuspend(t testing.TB) {
	t.Helper()
	off := 0
	if _, err := identity.MCPSwitchesSet(context.Background(), w.d.DB, tenancy.For(w.Account.ID),
		identity.MCPSwitchesChange{SuspendAfterDenials: &off, SuspendAfterInboxProbe: &off}); err != nil {
		t.Fatal(err)
	}
}

func (w world) token(t testing.TB, scopes []string, inboxes []int64, mod ...func(*identity.MCPTokenInput)) string {
	t.Helper()
	in := identity.MCPTokenInput{Name: "bot", Scopes: scopes, InboxIDs: inboxes, RateLimitPerMinute: 60000}
	for _, m := range mod {
		m(&in)
	}
	_, raw, err := identity.MCPTokenCreate(context.Background(), w.d.DB, tenancy.For(w.Account.ID), in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var allScopes = []string{"conversations:read", "conversations:reply", "conversations:note", "conversations:draft",
	"conversations:manage", "conversations:create", "contacts:read", "contacts:write", "events:read", "helpcenter:read"}

type rpcResult struct {
	Status int
	Body   map[string]any
	Header http.Header
	Raw    []byte // the answer's bytes, as sent
}

// rpc posts one JSON-RPC request (2025-11-25, stateless: no initialize needed).
func rpc(t *testing.T, url, token, method string, params any) rpcResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return rpcResult{Status: resp.StatusCode, Body: out, Header: resp.Header, Raw: raw}
}

// callTool returns the tool result (content text, isError, structured).
func callTool(t *testing.T, url, token, name string, args map[string]any) (text string, isError bool, structured map[string]any) {
	t.Helper()
	r := rpc(t, url, token, "tools/call", map[string]any{"name": name, "arguments": args})
	if r.Status != 200 {
		t.Fatalf("%s: HTTP %d %v", name, r.Status, r.Body)
	}
	res, ok := r.Body["result"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no result: %v", name, r.Body)
	}
	if content, _ := res["content"].([]any); len(content) > 0 {
		text, _ = content[0].(map[string]any)["text"].(string)
	}
	isError, _ = res["isError"].(bool)
	structured, _ = res["structuredContent"].(map[string]any)
	return text, isError, structured
}

func listTools(t *testing.T, url, token string) []string {
	t.Helper()
	r := rpc(t, url, token, "tools/list", map[string]any{})
	res, _ := r.Body["result"].(map[string]any)
	tools, _ := res["tools"].([]any)
	var names []string
	for _, x := range tools {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

// argsFor gives each tool valid arguments in w.
func argsFor(w world, tool string) map[string]any {
	switch tool {
	case "get_conversation":
		return map[string]any{"conversation_id": w.conv1}
	case "search_conversations", "search_contacts", "search_help_center":
		return map[string]any{"query": "refund"}
	case "get_contact":
		return map[string]any{"contact_id": w.contact1}
	case "get_article":
		return map[string]any{"article_id": w.article}
	case "reply_to_conversation", "add_private_note", "draft_reply":
		return map[string]any{"conversation_id": w.conv1, "content": "Thanks, we are on it.", "idempotency_key": dbtest.Unique("k")}
	case "update_conversation":
		return map[string]any{"conversation_id": w.conv1, "priority": "high"}
	case "assign_conversation":
		return map[string]any{"conversation_id": w.conv1, "assignee_id": w.User.ID}
	case "escalate_to_human":
		return map[string]any{"conversation_id": w.conv1, "reason": "needs a refund approval"}
	case "create_contact":
		return map[string]any{"name": "New", "email": dbtest.Unique("c") + "@example.com", "idempotency_key": dbtest.Unique("k")}
	case "update_contact":
		return map[string]any{"contact_id": w.contact1, "phone": "+1 555 0100"}
	case "add_contact_note":
		return map[string]any{"contact_id": w.contact1, "content": "prefers email", "idempotency_key": dbtest.Unique("k")}
	case "start_conversation":
		return map[string]any{"inbox_id": w.inbox1, "contact_id": w.contact1, "content": "Hello from support", "idempotency_key": dbtest.Unique("k")}
	}
	return map[string]any{}
}

func registered(t *testing.T, url, token string) []string {
	return listTools(t, url, token)
}

// TestScopeToolMatrix: for every registered tool and every single scope,
// the call is allowed iff the catalog says so, and tools/list shows exactly
// the allowed set.
func TestScopeToolMatrix(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	// Each token here is refused about 20 times on purpose: the anomaly
	// suspend (TestAnomalySuspend…) would pause it midway.
	w.noSuspend(t)
	engine, err := policy.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	catalog := engine.Catalog()
	tools := registered(t, url, w.token(t, allScopes, nil))
	if len(tools) < 21 {
		t.Fatalf("full token lists only %v", tools)
	}
	for _, scope := range allScopes {
		token := w.token(t, []string{scope}, nil)
		var want []string
		for _, name := range tools {
			if catalog[name].Scope == scope {
				want = append(want, name)
			}
		}
		if got := listTools(t, url, token); !slices.Equal(got, want) {
			t.Errorf("scope %s: tools/list = %v, want %v", scope, got, want)
		}
		for _, name := range tools {
			text, isErr, _ := callTool(t, url, token, name, argsFor(w, name))
			allowed := catalog[name].Scope == scope
			if allowed && isErr {
				t.Errorf("scope %s, tool %s: denied: %s", scope, name, text)
			}
			if !allowed && (!isErr || !strings.Contains(text, "token lacks scope "+catalog[name].Scope)) {
				t.Errorf("scope %s, tool %s: got isError=%v %q, want a denial naming scope %s", scope, name, isErr, text, catalog[name].Scope)
			}
		}
	}
}

// TestTenantsCannotReachEachOther: a token of A given B's ids gets
// not-found with no trace of B, in both directions.
func TestTenantsCannotReachEachOther(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	a, b := newWorld(t), newWorld(t)
	for _, dir := range []struct {
		name        string
		me, other   world
		otherSecret string
	}{{"A to B", a, b, "bob@example.com"}, {"B to A", b, a, "ann@example.com"}} {
		t.Run(dir.name, func(t *testing.T) {
			token := dir.me.token(t, allScopes, nil)
			for _, c := range []struct {
				tool string
				args map[string]any
				want string
			}{
				{"get_conversation", map[string]any{"conversation_id": dir.other.conv2}, fmt.Sprintf("conversation %d not found", dir.other.conv2)},
				{"get_contact", map[string]any{"contact_id": dir.other.contact2}, fmt.Sprintf("contact %d not found", dir.other.contact2)},
				{"list_conversations", map[string]any{"inbox_id": dir.other.inbox1}, fmt.Sprintf("inbox %d not found", dir.other.inbox1)},
				{"get_article", map[string]any{"article_id": dir.other.article}, fmt.Sprintf("article %d not found", dir.other.article)},
			} {
				text, isErr, _ := callTool(t, url, token, c.tool, c.args)
				if !isErr || text != c.want {
					t.Errorf("%s %v: got isError=%v %q, want %q", c.tool, c.args, isErr, text, c.want)
				}
			}
			// Searches see only their own tenant.
			text, _, sc := callTool(t, url, token, "search_contacts", map[string]any{"query": dir.otherSecret})
			if strings.Contains(text, dir.otherSecret) && len(sc["contacts"].([]any)) > 0 {
				for _, c := range sc["contacts"].([]any) {
					if int64(c.(map[string]any)["id"].(float64)) == dir.other.contact2 || int64(c.(map[string]any)["id"].(float64)) == dir.other.contact1 {
						t.Errorf("search_contacts found the other tenant's contact: %s", text)
					}
				}
			}
		})
	}
}

// boundaryRe unwraps customer text from its boundary.
var boundaryRe = regexp.MustCompile(`<untrusted-customer-text id="[0-9a-f]+">(.*)</untrusted-customer-text id="[0-9a-f]+">`)

// TestInboxRestriction: a token restricted to inbox 1 sees conversations and
// contacts there, and everything in inbox 2 reads exactly like not-found.
func TestInboxRestriction(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, []int64{w.inbox1})
	cases := []struct {
		tool     string
		args     map[string]any
		allowed  bool
		notFound string
	}{
		{"get_conversation", map[string]any{"conversation_id": w.conv1}, true, ""},
		{"get_conversation", map[string]any{"conversation_id": w.conv2}, false, fmt.Sprintf("conversation %d not found", w.conv2)},
		{"get_contact", map[string]any{"contact_id": w.contact1}, true, ""},
		{"get_contact", map[string]any{"contact_id": w.contact2}, false, fmt.Sprintf("contact %d not found", w.contact2)},
		{"list_conversations", map[string]any{"inbox_id": w.inbox1}, true, ""},
		{"list_conversations", map[string]any{"inbox_id": w.inbox2}, false, fmt.Sprintf("inbox %d not found", w.inbox2)},
	}
	for _, c := range cases {
		text, isErr, _ := callTool(t, url, token, c.tool, c.args)
		if c.allowed == isErr {
			t.Errorf("%s %v: isError=%v %q", c.tool, c.args, isErr, text)
		}
		if !c.allowed && text != c.notFound {
			t.Errorf("%s %v: %q, want exactly %q", c.tool, c.args, text, c.notFound)
		}
	}
	// Lists and searches show inbox 1 only.
	_, _, sc := callTool(t, url, token, "list_conversations", map[string]any{})
	convs := sc["conversations"].([]any)
	if len(convs) != 1 || int64(convs[0].(map[string]any)["id"].(float64)) != w.conv1 {
		t.Errorf("list_conversations: %v, want only %d", convs, w.conv1)
	}
	// The agent's list carries no message text: REST's and the console's
	// triage rows show the last message, which would reach the agent
	// outside the customer-text boundary (DESIGN §15).
	for _, k := range []string{"last_message", "waiting_since", "assignee"} {
		if _, ok := convs[0].(map[string]any)[k]; ok {
			t.Errorf("list_conversations rows carry %q: %v", k, convs[0])
		}
	}
	_, _, sc = callTool(t, url, token, "search_conversations", map[string]any{"query": "crashes"})
	if n := len(sc["conversations"].([]any)); n != 0 {
		t.Errorf("search found %d conversations outside the token's inboxes", n)
	}
	// "arrive" finds "arrived" in inbox 1, highlighted by offsets into
	// the text inside the customer-text boundary; the login of inbox 2
	// (a word of both) is not found.
	_, _, sc = callTool(t, url, token, "search_conversations", map[string]any{"query": "arrive or login"})
	convs = sc["conversations"].([]any)
	if len(convs) != 1 || int64(convs[0].(map[string]any)["id"].(float64)) != w.conv1 {
		t.Fatalf("search arrive or login: %v, want only %d", convs, w.conv1)
	}
	hs, _ := convs[0].(map[string]any)["highlights"].([]any)
	if len(hs) == 0 {
		t.Fatalf("no highlights: %v", convs[0])
	}
	h := hs[0].(map[string]any)
	text := boundaryRe.ReplaceAllString(h["text"].(string), "$1")
	m := h["matches"].([]any)[0].([]any)
	if r := []rune(text); h["field"] != "content" || len(m) != 2 || string(r[int(m[0].(float64)):int(m[1].(float64))]) != "arrived" {
		t.Errorf("highlight %v: want content with arrived marked", h)
	}
	_, _, sc = callTool(t, url, token, "list_inboxes", map[string]any{})
	if n := len(sc["inboxes"].([]any)); n != 1 {
		t.Errorf("list_inboxes shows %d inboxes, want 1", n)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	ctx := context.Background()
	token := w.token(t, allScopes, nil)
	if r := rpc(t, url, token, "tools/list", map[string]any{}); r.Status != 200 {
		t.Fatalf("valid token: HTTP %d", r.Status)
	}
	// Revocation takes effect on the next request.
	toks, _ := identity.MCPTokenList(ctx, w.d.DB, w.Account.ID)
	if err := identity.MCPTokenRevoke(ctx, w.d.DB, tenancy.For(w.Account.ID), toks[0].ID); err != nil {
		t.Fatal(err)
	}
	// An expired token (minted valid, then its expiry passes).
	soon := time.Now().Add(1500 * time.Millisecond)
	expiring := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.ExpiresAt = &soon })
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	for name, tok := range map[string]string{"missing": "", "garbage": "dw_mcp_nope", "revoked": token, "expired": expiring} {
		r := rpc(t, url, tok, "tools/list", map[string]any{})
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s token: HTTP %d, WWW-Authenticate %q", name, r.Status, r.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestGateClosedWhenMCPDisabled(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	if _, err := identity.MCPEnable(context.Background(), w.d.DB, tenancy.For(w.Account.ID), false); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"tools/list", "tools/call"} {
		r := rpc(t, url, token, method, map[string]any{"name": "list_inboxes"})
		e, _ := r.Body["error"].(map[string]any)
		if r.Status != http.StatusForbidden || e == nil || e["code"].(float64) != -32003 || !strings.Contains(e["message"].(string), "switched off") || r.Body["id"] != float64(1) {
			t.Errorf("%s with MCP off: HTTP %d %v", method, r.Status, r.Body)
		}
	}
	if _, err := identity.MCPEnable(context.Background(), w.d.DB, tenancy.For(w.Account.ID), true); err != nil {
		t.Fatal(err)
	}
	if r := rpc(t, url, token, "tools/list", map[string]any{}); r.Status != 200 {
		t.Errorf("after switching MCP back on: HTTP %d", r.Status)
	}
}

func TestUnknownToolIsProtocolErrorAndAudited(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	r := rpc(t, url, token, "tools/call", map[string]any{"name": "delete_conversation", "arguments": map[string]any{"conversation_id": w.conv1}})
	e, _ := r.Body["error"].(map[string]any)
	if e == nil || e["code"].(float64) != -32602 {
		t.Fatalf("unknown tool: %v", r.Body)
	}
	rows := auditRows(t, w.Account.ID)
	if len(rows) == 0 || rows[0].action != "delete_conversation" || rows[0].decision != "deny" {
		t.Fatalf("audit after unknown tool: %+v", rows)
	}
}

// TestStatelessProtocol2026 serves the stateless 2026-07-28 revision.
func TestStatelessProtocol2026(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": "get_conversation", "arguments": map[string]any{"conversation_id": w.conv1}, "_meta": meta}})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token,
		"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_conversation"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	res, _ := out["result"].(map[string]any)
	sc, _ := res["structuredContent"].(map[string]any)
	if resp.StatusCode != 200 || sc == nil || sc["conversation"].(map[string]any)["id"].(float64) != float64(w.conv1) {
		t.Fatalf("2026-07-28 tools/call: HTTP %d %v", resp.StatusCode, out)
	}
}
