package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The test binary serves as the sandbox child that evaluates account rules.
func TestMain(m *testing.M) {
	ServeSandboxIfChild()
	os.Exit(m.Run())
}

// testAcct is a fresh account id: one account holds one sandbox child at a
// time, so tests running side by side use accounts of their own.
func testAcct() int64 { return testAccts.Add(1) }

var testAccts atomic.Int64

var (
	engineOnce sync.Once
	engine     *Engine
	engineErr  error
)

// testEngine builds the engine once for the package's tests.
func testEngine(t testing.TB) *Engine {
	t.Helper()
	engineOnce.Do(func() { engine, engineErr = New(context.Background()) })
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engine
}

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func activeEnterprise() Account {
	return Account{Plan: "enterprise", Status: "active", MCPEnabled: true}
}

func TestRegoPolicies(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), &out, true)
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 || passed == 0 {
		t.Fatalf("%d Rego tests passed, %d failed:\n%s", passed, failed, out.String())
	}
	if !strings.Contains(out.String(), "coverage authz.rego") {
		t.Errorf("no coverage line for authz.rego in:\n%s", out.String())
	}
	t.Logf("%d Rego tests passed\n%s", passed, out.String()[strings.Index(out.String(), "coverage"):])
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	cat := e.Catalog()
	if len(cat) != 24 {
		t.Errorf("catalog has %d tools, want the 22 of the design and the draft card's 2", len(cat))
	}
	if !cat["approve_draft"].AppOnly || !cat["reject_draft"].AppOnly || cat["draft_reply"].AppOnly {
		t.Error("AppOnly is wrong for approve_draft, reject_draft or draft_reply")
	}
	if got := e.Scopes(); len(got) != 10 || !slices.IsSorted(got) {
		t.Errorf("Scopes() = %v, want 10 sorted scopes", got)
	}
	for name, tool := range cat {
		if tool.Name != name || tool.Title == "" || !slices.Contains(e.Scopes(), tool.Scope) {
			t.Errorf("tool %s is malformed: %+v", name, tool)
		}
		if _, bad := e.ForbiddenKind(name); bad {
			t.Errorf("tool %s is of a forbidden kind", name)
		}
	}
	if !cat["reply_to_conversation"].DraftOnApproval || cat["add_private_note"].DraftOnApproval {
		t.Error("DraftOnApproval is wrong for reply_to_conversation or add_private_note")
	}
	if got := cat["start_conversation"]; got.Target != "contact" || got.InboxArg != "place" || got.Access != "write" {
		t.Errorf("start_conversation = %+v", got)
	}
	// The copy is the caller's.
	delete(cat, "get_article")
	if _, ok := e.Catalog()["get_article"]; !ok {
		t.Error("Catalog() exposes the engine's own map")
	}
	if label, ok := e.ForbiddenKind("delete_conversation"); !ok || label != "deleting conversations or contacts" {
		t.Errorf("ForbiddenKind(delete_conversation) = %q, %v", label, ok)
	}
}

func TestRevision(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(e.Revision()) {
		t.Fatalf("Revision() = %q, want hex sha256", e.Revision())
	}
	e2, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e2.Revision() != e.Revision() {
		t.Error("the revision of the same policy differs between engines")
	}
}

// TestScopeToolMatrix: every tool is allowed with its own scope alone and
// denied, with the exact reason, under every other single scope.
func TestScopeToolMatrix(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	for name, tool := range e.Catalog() {
		for _, scope := range e.Scopes() {
			in := Input{
				// The draft card's tools are a person's decision, carried
				// by a grant that may approve in the chat, whatever its
				// scopes (authz.rego); for every other tool the scope
				// decides.
				Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{scope}, ChatApproval: tool.AppOnly},
				Account:   activeEnterprise(),
				Tool:      name,
				Args:      map[string]any{},
				Target:    Target{Kind: tool.Target, ConversationID: 12, InboxID: 1, ContactID: 5, ContactInboxIDs: []int64{1}},
				Now:       testNow,
			}
			d, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			want := scope == tool.Scope || tool.AppOnly
			if d.Allow != want {
				t.Errorf("%s with scope %s: allow = %v, want %v (%v)", name, scope, d.Allow, want, d.Reasons)
				continue
			}
			if !want {
				wantReason := "token lacks scope " + tool.Scope + "; mint a token with that scope"
				if len(d.Reasons) != 1 || d.Reasons[0] != wantReason || d.NotFound {
					t.Errorf("%s with scope %s: reasons %q, want [%q]", name, scope, d.Reasons, wantReason)
				}
			}
		}
	}
}

func TestDecideInboxes(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	restricted := Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes(), InboxIDs: []int64{1, 2}}
	everywhere := Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes()}
	none := Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes(), InboxIDs: []int64{}}
	cases := []struct {
		name     string
		p        Principal
		tool     string
		args     map[string]any
		target   Target
		allow    bool
		notFound bool
		reason   string
	}{
		{"conversation inside", restricted, "get_conversation", nil, Target{Kind: "conversation", ConversationID: 12, InboxID: 2}, true, false, ""},
		{"conversation outside", restricted, "reply_to_conversation", nil, Target{Kind: "conversation", ConversationID: 12, InboxID: 3}, false, true, "conversation 12 not found"},
		{"conversation anywhere for all-inbox token", everywhere, "get_conversation", nil, Target{Kind: "conversation", ConversationID: 12, InboxID: 3}, true, false, ""},
		{"empty inbox list sees nothing", none, "get_conversation", nil, Target{Kind: "conversation", ConversationID: 12, InboxID: 1}, false, true, "conversation 12 not found"},
		{"contact linked", restricted, "get_contact", nil, Target{Kind: "contact", ContactID: 5, ContactInboxIDs: []int64{9, 1}}, true, false, ""},
		{"contact created by this token", restricted, "update_contact", nil, Target{Kind: "contact", ContactID: 5, ContactCreatedByTokenID: 7}, true, false, ""},
		{"contact created by another token", restricted, "update_contact", nil, Target{Kind: "contact", ContactID: 5, ContactCreatedByTokenID: 8}, false, true, "contact 5 not found"},
		{"contact outside", restricted, "add_contact_note", nil, Target{Kind: "contact", ContactID: 5, ContactInboxIDs: []int64{3}}, false, true, "contact 5 not found"},
		{"filter inside", restricted, "list_conversations", map[string]any{"inbox_id": 2}, Target{InboxID: 2}, true, false, ""},
		{"filter from JSON (float) inside", restricted, "search_conversations", map[string]any{"inbox_id": float64(2)}, Target{}, true, false, ""},
		{"filter outside", restricted, "list_conversations", map[string]any{"inbox_id": 7}, Target{InboxID: 7}, false, true, "inbox 7 not found"},
		{"no filter", restricted, "list_conversations", nil, Target{}, true, false, ""},
		{"create contact without inbox", restricted, "create_contact", map[string]any{"name": "Ada"}, Target{}, false, false, "this token is limited to some inboxes; create_contact needs args.inbox_id naming one of them"},
		{"create contact inside", restricted, "create_contact", map[string]any{"inbox_id": int64(1)}, Target{InboxID: 1}, true, false, ""},
		{"create contact outside", restricted, "create_contact", map[string]any{"inbox_id": 9}, Target{InboxID: 9}, false, true, "inbox 9 not found"},
		{"start inside", restricted, "start_conversation", map[string]any{"inbox_id": 1, "contact_id": 5}, Target{Kind: "contact", InboxID: 1, ContactID: 5, ContactInboxIDs: []int64{2}}, true, false, ""},
		{"start in outside inbox", restricted, "start_conversation", map[string]any{"inbox_id": 4, "contact_id": 5}, Target{Kind: "contact", InboxID: 4, ContactID: 5, ContactInboxIDs: []int64{2}}, false, true, "inbox 4 not found"},
		{"article for restricted token", none, "get_article", nil, Target{Kind: "article", ArticleID: 3}, true, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Decide(context.Background(), Input{Principal: c.p, Account: activeEnterprise(), Tool: c.tool, Args: c.args, Target: c.target, Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.allow || d.NotFound != c.notFound {
				t.Fatalf("decision %+v, want allow=%v not_found=%v", d, c.allow, c.notFound)
			}
			if c.reason != "" && (len(d.Reasons) != 1 || d.Reasons[0] != c.reason) {
				t.Fatalf("reasons %q, want [%q]", d.Reasons, c.reason)
			}
			if d.NotFound {
				for _, r := range d.Reasons {
					if strings.Contains(r, "inbox ") && !strings.HasPrefix(r, "inbox ") || strings.Contains(r, "token") || strings.Contains(r, "scope") {
						t.Errorf("not-found reason %q leaks why", r)
					}
				}
			}
		})
	}
}

func TestDraftOnly(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	for name, tool := range e.Catalog() {
		for _, approval := range []bool{false, true} {
			d, err := e.Decide(ctx, Input{
				Principal: Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes(), RequireApproval: approval, ChatApproval: tool.AppOnly},
				Account:   activeEnterprise(), Tool: name, Args: map[string]any{"inbox_id": 1},
				Target: Target{ConversationID: 1, InboxID: 1, ContactID: 1}, Now: testNow,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := approval && (name == "reply_to_conversation" || name == "start_conversation")
			if !d.Allow || d.DraftOnly != want {
				t.Errorf("%s approval=%v: %+v, want allowed with draft_only=%v", name, approval, d, want)
			}
		}
	}
}

func TestDecideGateAndNames(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	p := Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes()}
	ended := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		name   string
		acct   Account
		tool   string
		reason string
	}{
		{"trial over", Account{Plan: "business", Status: "trialing", TrialEndsAt: &ended, MCPEnabled: true}, "list_inboxes", "the Enterprise trial ended on 2026-12-03; upgrade to Enterprise to use MCP"},
		{"switched off", Account{Plan: "enterprise", Status: "active"}, "list_inboxes", "MCP is switched off for this account; an admin can switch it on with PUT /api/v1/settings/mcp"},
		{"unknown tool", activeEnterprise(), "frobnicate", "unknown tool frobnicate"},
		{"forbidden tool", activeEnterprise(), "export_contacts", "tool export_contacts is never available to MCP tokens (data export)"},
	}
	for _, c := range cases {
		now := testNow
		if c.acct.TrialEndsAt != nil {
			now = ended.Add(24 * time.Hour)
		}
		d, err := e.Decide(ctx, Input{Principal: p, Account: c.acct, Tool: c.tool, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow || len(d.Reasons) != 1 || d.Reasons[0] != c.reason {
			t.Errorf("%s: %+v, want denial %q", c.name, d, c.reason)
		}
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	signup := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	trialEnd := signup.Add(168 * time.Hour)
	grace := time.Date(2027, 1, 8, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return signup.Add(time.Duration(n-1)*24*time.Hour + time.Hour) }
	cases := []struct {
		name string
		acct Account
		now  time.Time
		code string
	}{
		{"trial day 1", Account{Plan: "starter", Status: "trialing", TrialEndsAt: &trialEnd, MCPEnabled: true}, day(1), "ok"},
		{"trial day 7", Account{Plan: "starter", Status: "trialing", TrialEndsAt: &trialEnd, MCPEnabled: true}, day(7), "ok"},
		{"trial day 8", Account{Plan: "starter", Status: "trialing", TrialEndsAt: &trialEnd, MCPEnabled: true}, day(8), "trial_ended"},
		{"active enterprise", activeEnterprise(), testNow, "ok"},
		{"active business", Account{Plan: "business", Status: "active", MCPEnabled: true}, testNow, "plan_without_mcp"},
		{"past due in grace", Account{Plan: "enterprise", Status: "past_due", GraceEndsAt: &grace, MCPEnabled: true}, grace.Add(-time.Minute), "ok"},
		{"past due after grace", Account{Plan: "enterprise", Status: "past_due", GraceEndsAt: &grace, MCPEnabled: true}, grace.Add(time.Minute), "grace_ended"},
		{"canceled", Account{Plan: "enterprise", Status: "canceled", MCPEnabled: true}, testNow, "canceled"},
		{"switched off", Account{Plan: "enterprise", Status: "active"}, testNow, "mcp_disabled"},
		{"no clock", activeEnterprise(), time.Time{}, "invalid_input"},
		{"empty account", Account{}, testNow, "invalid_input"},
	}
	for _, c := range cases {
		g, err := e.Gate(context.Background(), c.acct, c.now)
		if err != nil {
			t.Fatal(err)
		}
		if g.Code != c.code || g.Allow != (c.code == "ok") {
			t.Errorf("%s: %+v, want code %s", c.name, g, c.code)
		}
		if !g.Allow && g.Reason == "" {
			t.Errorf("%s: a shut gate without a reason", c.name)
		}
	}
}

func TestVisibleTools(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	got, err := e.VisibleTools(ctx, Principal{AccountID: 1, TokenID: 7, Scopes: []string{"helpcenter:read", "events:read"}, InboxIDs: []int64{}}, activeEnterprise(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"get_article", "poll_events", "search_help_center"}; !slices.Equal(got, want) {
		t.Errorf("VisibleTools = %v, want %v", got, want)
	}
	// A full token sees every tool but the draft card's two; a grant that
	// may approve in the chat sees those too.
	all, err := e.VisibleTools(ctx, Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes()}, activeEnterprise(), testNow)
	if err != nil || len(all) != len(e.Catalog())-2 || slices.Contains(all, "approve_draft") {
		t.Errorf("full agent sees %d tools (%v): %v, want %d without the card's", len(all), err, all, len(e.Catalog())-2)
	}
	all, err = e.VisibleTools(ctx, Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes(), ChatApproval: true}, activeEnterprise(), testNow)
	if err != nil || len(all) != len(e.Catalog()) {
		t.Errorf("a grant that approves in the chat sees %d tools (%v), want %d", len(all), err, len(e.Catalog()))
	}
	shut, err := e.VisibleTools(ctx, Principal{AccountID: 1, TokenID: 7, Scopes: e.Scopes()}, Account{Plan: "business", Status: "active", MCPEnabled: true}, testNow)
	if err != nil || len(shut) != 0 {
		t.Errorf("closed gate shows %v (%v), want none", shut, err)
	}
}

func TestExpandScopes(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	got, err := e.ExpandScopes("manage_contacts", []string{"events:read", "contacts:read"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"contacts:read", "contacts:write", "events:read"}; !slices.Equal(got, want) {
		t.Errorf("ExpandScopes = %v, want %v", got, want)
	}
	full, err := e.ExpandScopes("full_agent", nil)
	if err != nil || !slices.Equal(full, e.Scopes()) {
		t.Errorf("full_agent = %v (%v)", full, err)
	}
	reply, _ := e.ExpandScopes("reply", nil)
	if len(reply) != 7 {
		t.Errorf("reply = %v, want read_only plus reply, note and draft", reply)
	}
	if _, err := e.ExpandScopes("superuser", nil); err == nil || !strings.Contains(err.Error(), `"superuser"`) {
		t.Errorf("unknown preset error = %v", err)
	}
	if _, err := e.ExpandScopes("", []string{"settings:write"}); err == nil || !strings.Contains(err.Error(), `"settings:write"`) {
		t.Errorf("unknown scope error = %v", err)
	}
	if p := e.Presets(); len(p) != 4 {
		t.Errorf("Presets() = %v", p)
	}
}

// TestMalformedInputNeverAllows feeds raw documents through EvalJSON.
func TestMalformedInputNeverAllows(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	good := `{"principal":{"account_id":1,"token_id":7,"scopes":["conversations:read"],"inbox_ids":null,"require_approval":false},
		"account":{"plan":"enterprise","status":"active","mcp_enabled":true},"tool":"list_inboxes","args":{},"target":{},"now":"2026-11-30T12:00:00Z"}`
	res, err := e.EvalJSON(context.Background(), []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if !allowed(t, res) {
		t.Fatalf("the well-formed control input is denied: %v", res)
	}
	for name, doc := range map[string]string{
		"empty":              `{}`,
		"scopes string":      strings.Replace(good, `["conversations:read"]`, `"conversations:read"`, 1),
		"inbox_ids string":   strings.Replace(good, `"inbox_ids":null`, `"inbox_ids":"1"`, 1),
		"token_id missing":   strings.Replace(good, `"token_id":7,`, ``, 1),
		"token_id string":    strings.Replace(good, `"token_id":7`, `"token_id":"7"`, 1),
		"account missing":    strings.Replace(good, `"account":{"plan":"enterprise","status":"active","mcp_enabled":true},`, ``, 1),
		"mcp_enabled string": strings.Replace(good, `"mcp_enabled":true`, `"mcp_enabled":"true"`, 1),
		"approval missing":   strings.Replace(good, `,"require_approval":false`, ``, 1),
		"principal null":     strings.Replace(good, `"principal":{`, `"principal":null,"x":{`, 1),
		"now garbage":        strings.Replace(good, `2026-11-30T12:00:00Z`, `yesterday`, 1),
		"input is an array":  `[1,2,3]`,
		"input is a string":  `"allow"`,
	} {
		res, err := e.EvalJSON(context.Background(), []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if allowed(t, res) {
			t.Errorf("%s: allowed: %v", name, res)
		}
	}
	if _, err := e.EvalJSON(context.Background(), []byte(`{`)); err == nil {
		t.Error("EvalJSON accepted broken JSON")
	}
}

func allowed(t *testing.T, res any) bool {
	t.Helper()
	b, _ := json.Marshal(res)
	var out struct {
		Decision *Decision     `json:"decision"`
		Gate     *GateDecision `json:"gate"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Decision == nil || out.Gate == nil {
		t.Fatalf("EvalJSON result %s: %v", b, err)
	}
	if out.Decision.Allow && !out.Gate.Allow {
		t.Fatalf("the decision allows while the gate is shut: %s", b)
	}
	return out.Decision.Allow
}

func TestDecideIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				inbox := int64(1 + (i+j)%3)
				d, err := e.Decide(context.Background(), Input{
					Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}, InboxIDs: []int64{1, 2}},
					Account:   activeEnterprise(), Tool: "get_conversation", Target: Target{ConversationID: 9, InboxID: inbox}, Now: testNow,
				})
				if err != nil || d.Allow != (inbox != 3) {
					t.Errorf("inbox %d: %+v %v", inbox, d, err)
				}
			}
		})
	}
	wg.Wait()
}
